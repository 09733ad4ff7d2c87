"""Web search as a hosted tool: the catalogue decides which tools a model gets, the
conversation's setting decides the tool choice, and both reach the relay as sent."""

import asyncio
import io
import re
import uuid

import pytest

from conversations.generation import build_payload
from conversations.models import AIModel, Conversation, Reply
from tests.chat_helpers import latest_reply, logged_in, send
from tests.conftest import wait_for_reply
from tests.review_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db(transaction=True)


def searching_model(**fields) -> AIModel:
    defaults = {"web_search": True, "web_search_context_size": "low"}
    return AIModel.objects.update_or_create(model_id="gpt-5.5", defaults={**defaults, **fields})[0]


def payload_for(alice, web_search: str, **conversation_fields) -> dict:
    conversation = Conversation.objects.create(
        owner=alice, model="gpt-5.5", web_search=web_search, **conversation_fields
    )
    reply = conversation.add_turn("What is in the news today?")
    return build_payload(Reply.objects.get(pk=reply.pk), conversation)


@pytest.mark.parametrize(
    ("setting", "choice"),
    [("auto", "auto"), ("always", {"type": "web_search"})],
)
def test_the_setting_becomes_the_tool_choice(alice, setting, choice):
    searching_model(web_search_domains=["example.org", "docs.example.net"])
    payload = payload_for(alice, setting)
    assert payload["tools"] == [
        {
            "type": "web_search",
            "search_context_size": "low",
            "filters": {"allowed_domains": ["example.org", "docs.example.net"]},
        }
    ]
    assert payload["tool_choice"] == choice


def test_off_is_the_tool_choice_none(alice):
    searching_model(image_generation=True)
    payload = payload_for(alice, "off")
    assert [tool["type"] for tool in payload["tools"]] == ["web_search", "image_generation"]
    assert payload["tool_choice"] == "none"


def test_a_model_without_web_search_gets_no_tool_whatever_the_setting(alice):
    AIModel.objects.update_or_create(model_id="gpt-5.5", defaults={"web_search": False})
    assert "tools" not in payload_for(alice, "always")


def test_function_tools_stored_on_a_conversation_are_never_sent(alice):
    searching_model()
    function = {"type": "function", "name": "run_shell", "parameters": {}}
    payload = payload_for(alice, "auto", tools=[function], tool_choice="required")
    assert payload["tools"] == [{"type": "web_search", "search_context_size": "low"}]
    assert payload["tool_choice"] == "auto"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("setting", "choice"),
    [("auto", "auto"), ("always", {"type": "web_search"}), ("off", "none")],
)
async def test_the_tool_choice_reaches_the_relay(alice, fake_upstream, setting, choice):
    await AIModel.objects.aupdate_or_create(model_id="gpt-5.5", defaults={"web_search": True})
    client = await logged_in(alice)

    await send(client, "Hello", web_search=setting)

    reply = await wait_for_reply((await latest_reply(alice)).pk)
    assert reply.status == Reply.Status.COMPLETED
    sent = fake_upstream.requests[0]["json"]
    assert sent.get("tool_choice") == choice
    assert [tool["type"] for tool in sent["tools"]] == ["web_search"]
    assert reply.request_params.get("tool_choice") == choice


# --- Showing citations ----------------------------------------------------------------------

HOSTILE = [
    "javascript:alert(document.cookie)",
    "JaVaScRiPt:alert(1)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "/admin/",
    "//evil.test/path",
    "https://example.com@evil.test/login",
    "https://user:pass@evil.test/",
    "https://xn--exmple-cua.com/account",
    "https://exämple.com/account",
    "https://evil.test\\@example.com/",
    "https://exa mple.com/",
]


def cite(url, title="A page", start=0, end=4):
    return {"url": url, "title": title, "start_index": start, "end_index": end}


@pytest.mark.parametrize("url", HOSTILE)
def test_a_hostile_source_is_shown_as_text_never_as_a_link(url):
    html = str(render_to_string_sources([cite(url, title='<img src=x onerror="alert(1)">')]))
    assert "<a " not in html
    assert "<img" not in html and "&lt;img" in html
    assert "javascript:" not in html.lower() and "data:text" not in html


def render_to_string_sources(found):
    from django.template.loader import render_to_string

    from conversations.citations import sources

    return render_to_string(
        "conversations/_reply_sources.html", {"reply_id": "r1", "sources": sources(found)[0]}
    )


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://example.com@evil.test/login", "evil.test"),
        ("https://exämple.com/account", "xn--exmple-cua.com"),
        ("https://xn--exmple-cua.com/account", "xn--exmple-cua.com"),
        ("https://News.Example.org/a", "news.example.org"),
    ],
)
def test_the_real_host_is_shown_in_its_ascii_form(url, host):
    from conversations.citations import sources

    assert sources([cite(url)])[0][0].host == host


def test_a_plain_https_source_is_a_link_that_opens_apart():
    html = render_to_string_sources([cite("https://news.example.org/a?b=1&c=2", "Example News")])
    assert (
        '<a href="https://news.example.org/a?b=1&amp;c=2" target="_blank" '
        'rel="noopener noreferrer nofollow">Example News</a>'
    ) in html
    assert '<span class="source-host">news.example.org</span>' in html


def test_marks_are_numbered_per_page_and_link_to_the_sources():
    from conversations.citations import render_cited_text

    text = "Alpha is true. Beta is too. Alpha again."
    citations = [
        cite("https://a.example.org/", "A", 0, 14),
        cite("https://b.example.org/", "B", 15, 27),
        cite("https://a.example.org/", "A", 28, 40),
    ]
    html = str(render_cited_text(text, citations, "r1"))
    assert html.count('href="#r1-source-1"') == 0  # (ids are the reply's: reply-<id>-source-n)
    assert html.count('href="#reply-r1-source-1"') == 2
    assert html.count('href="#reply-r1-source-2"') == 1
    assert html.index("Alpha is true.") < html.index("[1]") < html.index("Beta")


def test_marks_never_land_inside_markup_and_the_text_cannot_forge_them():
    from conversations.citations import render_cited_text

    text = '[link](https://example.org "a title") and \ue0009\ue001 forged'
    html = str(render_cited_text(text, [cite("https://a.example.org/", "A", 0, 30)], "r1"))
    assert "source-9" not in html
    assert "\ue000" not in html and "\ue001" not in html
    assert 'title="a title"' in html  # the link's title untouched by the mark inside it
    # The mark inside the link's title is moved after the link.
    assert re.search(r"a title\"[^>]*>link</a>.*\[1\]</a> and", html)


@pytest.mark.parametrize(
    ("text", "end", "shown"),
    [
        # Inside a link's address (a relay counting emoji as two): after the link.
        ("See [the page](https://example.org/a/b) now.", 30, r"the page</a>.*\[1\]</a> now"),
        # Inside a code span: after it, the code unchanged.
        ("Run `pip install x` now.", 10, r"<code>pip install x</code><a class=\"cite\""),
        # Inside a fenced block: at the end of the line above it.
        ("Intro\n```python\nprint(1)\n```\nAfter.", 20, r"Intro<a class=\"cite\""),
        # Inside an autolink: after it.
        ("Go <https://example.org/x> now.", 12, r"example.org/x</a><a class=\"cite\""),
        # After an empty fenced block: where it was, the block not taking the rest along.
        ("```\n```\nafter text here\n", 20, r"after text h<a class=\"cite\""),
        # Inside a link whose text has code: after the whole link.
        ("[a `b` c](http://x) d", 5, r"c</a> .*\[1\]</a> d"),
        # A backtick in a fenced block does not pair with one after it.
        ("~~~\nx ` y\n~~~\nthen `code here` done", 21, r"<code>code here</code><a class"),
        # Inside the second of two adjacent blocks: no line above to take it, so no mark.
        ("```\na\n```\n```\nb\n```", 12, None),
    ],
)
def test_a_mark_that_would_fall_inside_a_link_or_code_moves_out_of_it(text, end, shown):
    from conversations.citations import render_cited_text
    from conversations.rendering import render_markdown

    html = str(render_cited_text(text, [cite("https://a.example.org/", "A", 0, end)], "r1"))
    assert shown is None or re.search(shown, html, re.S), html
    # Everything else renders as without the citation.
    assert re.sub(r'<a class="cite"[^>]*>\[1\]</a>', "", html) == str(render_markdown(text))


def test_backticks_and_fences_a_relay_never_closes_still_render():
    from conversations.citations import render_cited_text

    text = "x `` y ``` " * 2000 + "\n```\n" + "`" * 5000
    html = str(render_cited_text(text, [cite("https://a.example.org/", "A", 0, 7)], "r1"))
    assert html.count('class="cite"') == 1


def test_a_reply_without_citations_renders_as_before():
    from conversations.citations import render_cited_text
    from conversations.rendering import render_markdown

    assert render_cited_text("**Hi** [x](https://e.org)", [], "r1") == render_markdown(
        "**Hi** [x](https://e.org)"
    )


# --- A searched reply, from the send to the page, the exports and the transcript ----------


async def searched_reply(alice, message="What is in the news today?", **behaviour) -> Reply:
    await AIModel.objects.aupdate_or_create(model_id="gpt-5.5", defaults={"web_search": True})
    client = await logged_in(alice)
    await send(client, message, web_search="auto")
    return await wait_for_reply((await latest_reply(alice)).pk)


@pytest.mark.asyncio
async def test_a_searched_reply_is_stored_with_its_citations_and_shown_with_them(
    alice, fake_upstream
):
    reply = await searched_reply(alice)

    assert reply.status == Reply.Status.COMPLETED
    assert [c["url"] for c in reply.citations] == [
        "https://news.example.org/2026/12/markets-open-higher",
        "https://www.example.com/guides/weather-this-week",
        "https://reference.example.net/wiki/Topic",
    ]
    assert all(c["title"] and c["end_index"] > c["start_index"] for c in reply.citations)
    client = await logged_in(alice)
    page = (await client.get(f"/c/{reply.conversation_id}/")).text
    assert f'href="#reply-{reply.pk}-source-3"' in page and ">[3]</a>" in page
    assert f'id="reply-{reply.pk}-source-1"' in page
    assert "Sources" in page and ">news.example.org</span>" in page
    assert 'href="https://www.example.com/guides/weather-this-week" target="_blank"' in page


@pytest.mark.asyncio
async def test_hostile_sources_are_inert_on_the_page_and_in_the_exports(alice, fake_upstream):
    fake_upstream.queue({"behaviour": "web_search", "hostile": True, "sources": 5})
    reply = await searched_reply(alice, "Look this up")
    assert len(reply.citations) == 5
    client = await logged_in(alice)

    page = (await client.get(f"/c/{reply.conversation_id}/")).text
    sources = page[page.index(f'id="reply-{reply.pk}-sources"') :]
    sources = sources[: sources.index("</section>")]
    assert "<a " not in sources
    assert "javascript:" not in page.lower() and "data:text/html" not in page
    assert ">evil.test</span>" in sources and ">xn--exmple-cua.com</span>" in sources

    markdown = (await client.get(f"/c/{reply.conversation_id}/export.md")).text
    assert "Sources:" in markdown and "](" not in markdown.split("Sources:")[1]
    assert "javascript:" not in markdown.split("Sources:")[1]
    exported = (await client.get(f"/c/{reply.conversation_id}/export.json")).json()
    assert exported["replies"][0]["citations"] == reply.citations  # (the record, as it came)


@pytest.mark.asyncio
async def test_the_markdown_export_links_safe_sources(alice, fake_upstream):
    reply = await searched_reply(alice)
    client = await logged_in(alice)
    markdown = (await client.get(f"/c/{reply.conversation_id}/export.md")).text
    assert (
        "1. [Markets open higher — Example News]"
        "(<https://news.example.org/2026/12/markets-open-higher>) (news.example.org)"
    ) in markdown.replace("\\", "")


def test_the_admins_transcript_shows_the_sources(alice, fake_upstream, reviewer_client):
    reply = asyncio.run(searched_reply(alice))
    page = reviewer_client.get(f"/admin/conversations/conversation/{reply.conversation_id}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert f'href="#reply-{reply.pk}-source-1"' in html
    assert ">reference.example.net</span>" in html


@pytest.mark.asyncio
async def test_a_relay_refusing_the_tool_gives_a_sentence_and_keeps_its_message(
    alice, fake_upstream
):
    fake_upstream.queue({"behaviour": "tool_refused"})
    reply = await searched_reply(alice)
    assert reply.status == Reply.Status.FAILED
    assert reply.error_code == "web_search_unavailable"
    assert reply.error_message.startswith("Web search is not available for this model.")
    assert "Tool 'web_search' is not supported" in reply.error_detail
    client = await logged_in(alice)
    page = (await client.get(f"/c/{reply.conversation_id}/")).text
    assert "Web search is not available for this model." in page
    assert "is not supported" not in page


@pytest.mark.asyncio
async def test_a_relay_refusing_image_generation_says_so_not_web_search(alice, fake_upstream):
    await AIModel.objects.aupdate_or_create(
        model_id="gpt-5.5", defaults={"web_search": True, "image_generation": True}
    )
    fake_upstream.queue(
        {"behaviour": "tool_refused", "message": "image_generation is not enabled for this key"}
    )
    client = await logged_in(alice)
    await send(client, "Draw me a lighthouse", web_search="auto")
    reply = await wait_for_reply((await latest_reply(alice)).pk)
    assert reply.error_code == "image_generation_unavailable"
    assert reply.error_message.startswith("Image generation is not available for this model.")


@pytest.mark.parametrize(
    ("offered", "message", "code"),
    [
        ({"web_search"}, "Unsupported tool type", "web_search_unavailable"),
        ({"image_generation"}, "invalid tool_choice", "image_generation_unavailable"),
        ({"web_search", "image_generation"}, "web_search: not supported", "web_search_unavailable"),
        # A request that offered no tool: an error naming one is not a tool refusal.
        (set(), "Tool 'web_search' is not supported", None),
        # Naming a tool the request did not offer is no refusal of the one it did.
        ({"web_search"}, "image_generation is not enabled", None),
        ({"web_search"}, "Invalid image data in input", None),
    ],
)
def test_which_tool_a_relay_refused(offered, message, code):
    from conversations.failures import refused_tool

    assert refused_tool("invalid_request_error", message, offered) == code


@pytest.mark.asyncio
async def test_an_unknown_tool_is_mentioned_under_the_reply(alice, fake_upstream):
    fake_upstream.queue({"behaviour": "unknown_item"})
    reply = await searched_reply(alice, "Hello")
    assert reply.used_unknown_tool
    client = await logged_in(alice)
    page = (await client.get(f"/c/{reply.conversation_id}/")).text
    assert "The model used a tool this site doesn't show." in page


@pytest.mark.asyncio
async def test_a_generated_image_that_is_no_image_is_left_out_and_the_reply_stands(
    alice, fake_upstream, caplog
):
    from conversations.models import Attachment

    fake_upstream.queue({"behaviour": "image", "not_an_image": True})
    client = await logged_in(alice)
    await send(client, "Please draw a lighthouse")
    reply = await wait_for_reply((await latest_reply(alice)).pk)
    assert reply.status == Reply.Status.COMPLETED
    assert reply.text == "Here is the image you asked for."
    assert not await Attachment.objects.filter(reply=reply).aexists()
    assert "could not be read" in caplog.text


@pytest.mark.asyncio
async def test_a_generated_image_is_stored_with_its_reply_and_served_by_the_site(
    alice, bob, fake_upstream
):
    from PIL import Image

    from conversations.models import Attachment

    await AIModel.objects.aupdate_or_create(model_id="gpt-5.5", defaults={"image_generation": True})
    client = await logged_in(alice)
    await send(client, "Please draw a lighthouse")
    reply = await wait_for_reply((await latest_reply(alice)).pk)

    assert reply.status == Reply.Status.COMPLETED
    images = [a async for a in Attachment.objects.filter(reply=reply)]
    assert len(images) == 1
    image = images[0]
    assert (image.origin, image.kind) == ("generated", "image")
    assert image.owner_id == alice.pk and (image.width, image.height) == (64, 64)
    with image.file.open("rb") as stored, Image.open(stored) as decoded:
        assert f"image/{decoded.format.lower()}" == image.content_type
        assert decoded.size == (64, 64)
    assert image.name.startswith("image-1.")
    # The image's data is kept once, as the file, not again in the stored output.
    item = next(i for i in reply.output_items if i["type"] == "image_generation_call")
    assert "result" not in item
    assert not reply.used_unknown_tool

    # Shown from the site itself, to its owner only.
    page = (await client.get(f"/c/{reply.conversation_id}/")).text
    assert f'<img src="/files/{image.pk}/"' in page
    served = await client.get(f"/files/{image.pk}/")
    assert served.status_code == 200 and served["Content-Type"] == image.content_type
    assert served["X-Content-Type-Options"] == "nosniff"
    with Image.open(io.BytesIO(b"".join([chunk async for chunk in served]))) as shown:
        assert shown.size == (64, 64)
    other = await logged_in(bob)
    assert (await other.get(f"/files/{image.pk}/")).status_code == 404

    # The image is the reply's, not a file the person attached: the turn shows none, its text
    # stays required when edited, and the Markdown export does not list it as attached.
    assert await asyncio.to_thread(reply.uploaded_files) == []
    edit = await client.post(
        f"/r/{reply.pk}/edit/", {"message": "", "client_token": str(uuid.uuid4())}
    )
    assert edit.status_code == 400
    export = (await client.get(f"/c/{reply.conversation_id}/export.md")).text
    assert "image-1." not in export


# --- Live, through the server's own ASGI handler --------------------------------------------


def test_the_stream_shows_the_search_with_its_query_then_the_sources(
    asgi_server, browser_session, fake_upstream
):
    from tests.conftest import wait_for_reply_sync
    from tests.test_streaming import read_events
    from tests.test_streaming import send as send_sync

    fake_upstream.queue(
        {"behaviour": "web_search", "query": "tram strike Lyon", "search_ms": 600, "delay_ms": 20}
    )
    reply = send_sync(browser_session, "Is there a tram strike in Lyon?")
    with browser_session.stream("GET", f"/r/{reply.pk}/stream/") as response:
        messages = read_events(response)

    activity = f'hx-target="#reply-{reply.pk}-activity"'
    searching = next(i for i, m in enumerate(messages) if "Searching the web…" in m)
    assert activity in messages[searching]
    assert '<q class="search-query">tram strike Lyon</q>' in messages[searching]
    # Cleared when the text resumed, before the text's own message.
    cleared = next(
        i
        for i, m in enumerate(messages)
        if i > searching and f'{activity} hx-swap="innerHTML"></hx-partial>' in m
    )
    sourced = next(i for i, m in enumerate(messages) if f'id="reply-{reply.pk}-source-1"' in m)
    assert searching < cleared <= sourced
    assert f'href="#reply-{reply.pk}-source-1"' in messages[-1]  # the finished reply's marks
    assert wait_for_reply_sync(reply.pk).status == Reply.Status.COMPLETED


def test_in_demo_mode_every_model_searches_and_draws(alice, settings):
    settings.DEMO_MODE = True
    payload = payload_for(alice, "auto")
    assert payload["tools"] == [{"type": "web_search"}, {"type": "image_generation"}]
    settings.DEMO_MODE = False
    AIModel.objects.update_or_create(model_id="gpt-5.5", defaults={"web_search": False})
    assert "tools" not in payload_for(alice, "auto")


@pytest.mark.asyncio
async def test_a_reply_cut_after_its_citations_keeps_them(alice, fake_upstream):
    fake_upstream.queue({"behaviour": "cut", "search": True, "after_tokens": 10_000})
    reply = await searched_reply(alice, "Hello")
    assert reply.status == Reply.Status.INTERRUPTED
    assert len(reply.citations) == 3 and reply.text
    client = await logged_in(alice)
    page = (await client.get(f"/c/{reply.conversation_id}/")).text
    assert f'id="reply-{reply.pk}-source-3"' in page


def test_an_administrator_turns_web_search_on_with_its_options(administrator_client):
    model = AIModel.objects.get_or_create(model_id="gpt-5.5")[0]
    url = f"/admin/conversations/aimodel/{model.pk}/change/"
    form = {
        "model_id": "gpt-5.5",
        "display_name": "",
        "enabled": "on",
        "sort_order": "0",
        "currency": "USD",
        "web_search": "on",
        "web_search_context_size": "high",
        "image_generation": "",
    }
    page = administrator_client.get(url)
    assert page.status_code == 200 and "Hosted tools" in page.content.decode()

    refused = administrator_client.post(
        url, {**form, "web_search_domains": "example.org\nnot a/domain"}
    )
    assert refused.status_code == 200 and "is not a domain name" in refused.content.decode()

    saved = administrator_client.post(
        url, {**form, "web_search_domains": "Example.org\ndocs.example.net, example.org"}
    )
    assert saved.status_code == 302
    model.refresh_from_db()
    assert model.web_search and model.web_search_context_size == "high"
    assert model.web_search_domains == ["example.org", "docs.example.net"]
    assert model.hosted_tools() == [
        {
            "type": "web_search",
            "search_context_size": "high",
            "filters": {"allowed_domains": ["example.org", "docs.example.net"]},
        }
    ]


def test_the_stream_of_a_reply_with_an_image_ends_with_it(
    asgi_server, browser_session, fake_upstream
):
    """The finished reply is rendered on the event loop from what the task stored: its image
    is there without a query."""
    from conversations.models import Attachment
    from tests.conftest import wait_for_reply_sync
    from tests.test_streaming import read_events
    from tests.test_streaming import send as send_sync

    fake_upstream.queue({"behaviour": "image", "delay_ms": 10})
    reply = send_sync(browser_session, "Draw a lighthouse")
    with browser_session.stream("GET", f"/r/{reply.pk}/stream/") as response:
        messages = read_events(response)

    assert wait_for_reply_sync(reply.pk).status == Reply.Status.COMPLETED
    image = Attachment.objects.get(reply_id=reply.pk)
    final = messages[-1]
    assert 'aria-busy="false"' in final and 'class="generated-image"' in final
    assert "Here is the image you asked for." in final
    assert image.origin == "generated"


def test_citations_that_come_after_the_last_text_are_written_with_the_next_flush(alice):
    from conversations.live import LiveReply

    conversation = Conversation.objects.create(owner=alice, model="gpt-5.5")
    reply = conversation.add_turn("news?")
    live = LiveReply(reply.pk, conversation.pk, alice.pk)
    live.add_text("All done.")
    assert "citations" not in live.flush_fields(now=0.0)
    live.add_citations([cite("https://news.example.org/a", "A page")])
    assert live.flush_due(now=0.0)
    assert live.flush_fields(now=0.0)["citations"][0]["url"] == "https://news.example.org/a"
    assert not live.flush_due(now=0.0)


def test_a_source_that_may_not_be_a_link_is_shown_by_its_address():
    from conversations.citations import sources

    found = sources([cite("javascript:alert(1)", title="")])[0]
    assert found[0].href is None and found[0].label == "javascript:alert(1)"
