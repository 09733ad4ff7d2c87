"""Hosted tools in the fake upstream: web search (events, then a text citing made-up pages with
url_citation annotations), image generation (an image_generation_call item with a small PNG),
an output item of a type no client knows, and a relay that refuses the tool.

When it searches: the request offers the web_search tool and its tool_choice is not "none", and
either the tool_choice names the tool or the message asks for something current ("news",
"today", "latest", "search", "current"); or the behaviour `web_search` asks for it (tests).
Behaviour parameters: `query` (the search query), `hostile=true` (cite javascript:, data:,
relative, credential-prefixed and punycode look-alike URLs), `sources=N` (how many pages);
`search=true` adds the search to another behaviour (e.g. `cut`: a reply cut after its
citations).
It draws an image when the message asks ("draw", "generate an image", "make an image") and the
request offers the image_generation tool, or with the behaviour `image` (`not_an_image=true`:
its `result` is a PDF, as a broken relay might send). `unknown_item` adds an
item of a type no client knows; `tool_refused` answers 400 as a relay without the tool does."""

import base64
import io
import re
from dataclasses import dataclass, field
from typing import Any

from conversations.fake_upstream.behaviours import Behaviour
from conversations.fake_upstream.delivery import Plan, json_plan
from conversations.fake_upstream.text import split_pieces

SEARCH_WORDS = re.compile(r"(?i)\b(news|today|latest|current|search)\b")
DRAW_WORDS = re.compile(r"(?i)\b(draw|sketch|generate an image|make an image|picture of)\b")
_DIRECTIVE = re.compile(r"\[\[fake:[^\]]*\]\]")

PAGES = (
    ("https://news.example.org/2026/12/markets-open-higher", "Markets open higher — Example News"),
    ("https://www.example.com/guides/weather-this-week", "The weather this week"),
    ("https://reference.example.net/wiki/Topic", "Topic — Example Reference"),
    ("https://blog.example.org/posts/what-changed", "What changed, and why"),
)
HOSTILE_PAGES = (
    ("javascript:alert(document.domain)", "Click me"),
    ("data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "Data page"),
    ("https://example.com@evil.test/login", "Example login"),
    ("https://xn--exmple-cua.com/account", "Exämple account"),
    ("/admin/", "Relative admin"),
)


@dataclass
class ToolPlan:
    """What the tools add to one answer."""

    query: str | None = None  # a web search, with its query
    citations: list[dict[str, Any]] = field(default_factory=list)
    image: str | None = None  # base64 PNG
    unknown_item: bool = False
    search_seconds: float = 0.3  # how long the search lasts (`search_ms`)

    @property
    def search_id(self) -> str:
        return "ws_fake0001"


def refusal_plan(behaviour: Behaviour) -> Plan | None:
    """A relay that does not offer the tool: 400 naming it, as new-api relays answer."""
    if behaviour.name != "tool_refused":
        return None
    message = behaviour.string("message", "Tool 'web_search' is not supported by this model.")
    code = behaviour.string("code", "unsupported_tool")
    body = {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": "tools",
            "code": code,
        }
    }
    return json_plan(behaviour.integer("status", 400), body)


def _offered(request: dict, kind: str) -> bool:
    tools = request.get("tools")
    return isinstance(tools, list) and any(
        isinstance(tool, dict) and tool.get("type") == kind for tool in tools
    )


def _wants_search(request: dict, behaviour: Behaviour, text: str) -> bool:
    if behaviour.name == "web_search" or behaviour.flag("search"):
        return True
    choice = request.get("tool_choice")
    if not _offered(request, "web_search") or choice == "none":
        return False
    forced = isinstance(choice, dict) and choice.get("type") == "web_search"
    return forced or bool(SEARCH_WORDS.search(text))


def plan(turn) -> ToolPlan | None:
    """The tools' part of a turn, or None; a search also rewrites the turn's text (with its
    citations' places) and pieces."""
    request, behaviour = turn.request, turn.behaviour
    if behaviour.name not in ("ok", "web_search", "image", "unknown_item") and not behaviour.flag(
        "search"
    ):
        return None
    from conversations.fake_upstream.behaviours import last_user_text

    text = _DIRECTIVE.sub("", last_user_text(request.get("input"))).strip()
    tools = ToolPlan(
        unknown_item=behaviour.name == "unknown_item",
        search_seconds=max(0.0, behaviour.number("search_ms", 300)) / 1000,
    )
    if _wants_search(request, behaviour, text):
        tools.query = behaviour.string("query") or (" ".join(text.split())[:80] or "news")
        pages = HOSTILE_PAGES if behaviour.flag("hostile") else PAGES
        count = max(1, min(behaviour.integer("sources", 3), len(pages)))
        turn.text, tools.citations = _cited_text(tools.query, pages[:count])
        turn.pieces = split_pieces(turn.text)
    if behaviour.name == "image" or (
        _offered(request, "image_generation") and DRAW_WORDS.search(text)
    ):
        tools.image = not_an_image() if behaviour.flag("not_an_image") else small_png()
        if behaviour.name == "image" or not tools.query:
            turn.text = "Here is the image you asked for."
            turn.pieces = split_pieces(turn.text)
    if tools.query is None and tools.image is None and not tools.unknown_item:
        return None
    return tools


def _cited_text(query: str, pages) -> tuple[str, list[dict[str, Any]]]:
    """A short answer citing each page once, with each citation's place in it."""
    text = f"Here is what I found about “{query}”."
    citations = []
    for number, (url, title) in enumerate(pages, 1):
        sentence = f" Finding number {number} comes from {title}."
        start = len(text) + 1
        text += sentence
        citations.append(
            {
                "type": "url_citation",
                "url": url,
                "title": title,
                "start_index": start,
                "end_index": len(text),
            }
        )
    return text, citations


def not_an_image() -> str:
    """A one-page PDF, base64-encoded: a file the site would take as an attachment, but no
    image."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    return base64.b64encode(out.getvalue()).decode()


def small_png() -> str:
    """A 64 by 64 PNG (a gradient), base64-encoded, as image_generation_call's `result`."""
    from PIL import Image

    image = Image.new("RGB", (64, 64))
    image.putdata([(x * 4, y * 4, 160) for y in range(64) for x in range(64)])
    out = io.BytesIO()
    image.save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode("ascii")


# --- In the event stream ---------------------------------------------------------------------


def emit_before_answer(script, tools: ToolPlan | None) -> None:
    """The tools' items, before the message: the search (in progress, searching, completed),
    the image, the unknown item."""
    if tools is None:
        return
    if tools.query is not None:
        ids = {"item_id": tools.search_id, "output_index": 0}
        added = {"id": tools.search_id, "type": "web_search_call", "status": "in_progress"}
        script.event("response.output_item.added", output_index=0, item=added)
        script.event("response.web_search_call.in_progress", **ids)
        script.event("response.web_search_call.searching", **ids)
        searching = {**added, "action": {"type": "search", "query": tools.query}}
        script.event("response.output_item.added", output_index=0, item=searching)
        script.wait(tools.search_seconds, droppable=False)
        script.event("response.web_search_call.completed", **ids)
        script.event("response.output_item.done", output_index=0, item=search_item(tools))
    if tools.image is not None:
        ids = {"item_id": "ig_fake0001", "output_index": 0}
        added = {"id": "ig_fake0001", "type": "image_generation_call", "status": "in_progress"}
        script.event("response.output_item.added", output_index=0, item=added)
        script.event("response.image_generation_call.in_progress", **ids)
        script.event("response.image_generation_call.generating", **ids)
        script.event(
            "response.image_generation_call.partial_image",
            **ids,
            partial_image_index=0,
            partial_image_b64=tools.image,
        )
        script.event("response.image_generation_call.completed", **ids)
        script.event("response.output_item.done", output_index=0, item=image_item(tools))
    if tools.unknown_item:
        item = unknown_item()
        script.event("response.output_item.added", output_index=0, item=item)
        script.event("response.output_item.done", output_index=0, item=item)


def emit_annotations(script, turn, tools: ToolPlan | None, index: int) -> None:
    if tools is None:
        return
    for number, citation in enumerate(tools.citations):
        script.event(
            "response.output_text.annotation.added",
            item_id=turn.message_id,
            output_index=index,
            content_index=0,
            annotation_index=number,
            annotation=citation,
        )


def search_item(tools: ToolPlan) -> dict:
    sources = [{"type": "url", "url": citation["url"]} for citation in tools.citations]
    return {
        "id": tools.search_id,
        "type": "web_search_call",
        "status": "completed",
        "action": {"type": "search", "query": tools.query, "sources": sources},
    }


def image_item(tools: ToolPlan) -> dict:
    return {
        "id": "ig_fake0001",
        "type": "image_generation_call",
        "status": "completed",
        "output_format": "png",
        "result": tools.image,
    }


def unknown_item() -> dict:
    return {"id": "hx_fake0001", "type": "hologram_call", "status": "completed"}


def decorate_output(tools: ToolPlan | None, output: list) -> list:
    """The final response's output with the tools' items before the message and the citations
    on its text."""
    if tools is None:
        return output
    items = []
    if tools.query is not None:
        items.append(search_item(tools))
    if tools.image is not None:
        items.append(image_item(tools))
    if tools.unknown_item:
        items.append(unknown_item())
    for item in output:
        if item.get("type") == "message" and tools.citations:
            item = annotate(tools, item)
        items.append(item)
    return items


def annotate(tools: ToolPlan | None, message: dict) -> dict:
    if tools is None or not tools.citations:
        return message
    content = [
        {**part, "annotations": list(tools.citations)}
        if part.get("type") == "output_text"
        else part
        for part in message.get("content") or []
    ]
    return {**message, "content": content}
