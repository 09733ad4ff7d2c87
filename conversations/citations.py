"""The sources a reply cites (url_citation annotations stored in Reply.citations): numbered
once per page, shown as marks in the text ([1] linking to the Sources list under the reply)
and as that list (title and host of each page). Only an http(s) URL with a plain host becomes
a link; any other (javascript:, data:, relative, credentials before the host as in
https://example.com@evil.test, an internationalised or punycode host) is shown as text, with
the real host in its ASCII (punycode) form, so a look-alike cannot pass for another site."""

import bisect
import math
import re
from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import urlsplit

from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext

from conversations.rendering import render_markdown

# Marks are placed in the text as these private-use characters around the number, rendered
# with the markdown, then turned into links in the HTML's text (never inside a tag).
_OPEN, _CLOSE = "\ue000", "\ue001"
_MARK = re.compile(f"{_OPEN}(\\d+){_CLOSE}")
_TAG = re.compile(r'(<(?:[^>"]|"[^"]*")*>)')  # a tag, its quoted attribute values whole
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
MAX_SHOWN_URL = 80


@dataclass(frozen=True)
class Source:
    number: int
    title: str
    host: str  # the real host, in ASCII (punycode) form; "" when there is none
    href: str | None  # None: shown as text, never a link
    url: str = ""  # as the relay gave it

    @property
    def label(self) -> str:
        return self.title or self.host or _shortened(self.url)


def _shortened(text: str) -> str:
    return text if len(text) <= MAX_SHOWN_URL else text[: MAX_SHOWN_URL - 1] + "…"


def _ascii_host(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host.encode("ascii", "backslashreplace").decode("ascii")


def link_of(url: str) -> tuple[str | None, str]:
    """(the URL if it may be a link else None, the host to show)."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        hostname = parts.hostname or ""
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        return None, ""
    host = _ascii_host(hostname.lower())
    if parts.scheme.lower() not in ("http", "https") or not hostname:
        return None, host
    if _UNSAFE_CHARS.search(url) or parts.username is not None or parts.password is not None:
        return None, host
    if not hostname.isascii() or any(label.startswith("xn--") for label in host.split(".")):
        return None, host
    return url, host


def sources(citations: list[dict[str, Any]]) -> tuple[list[Source], dict[str, int]]:
    """The cited pages, numbered in order of first citation, and each URL's number."""
    numbers: dict[str, int] = {}
    found: list[Source] = []
    for citation in citations or []:
        if not isinstance(citation, dict) or not isinstance(citation.get("url"), str):
            continue
        url = citation["url"]
        if url in numbers:
            continue
        numbers[url] = len(found) + 1
        href, host = link_of(url)
        title = citation.get("title") if isinstance(citation.get("title"), str) else ""
        found.append(Source(numbers[url], title, host, href, url))
    return found, numbers


def render_cited_text(text: str, citations: list[dict[str, Any]], reply_id) -> SafeString:
    """The reply's markdown, rendered safely (rendering.py), with a numbered mark where each
    citation ends, moved out of any link or code it would fall inside (_outside)."""
    if not citations:
        return render_markdown(text)
    _found, numbers = sources(citations)
    text = text.replace(_OPEN, "\ufffd").replace(_CLOSE, "\ufffd")  # (same length)
    at: dict[int, set[int]] = {}
    closed = _closed_spans(text)
    for citation in citations:
        if not isinstance(citation, dict):
            continue
        end, number = citation.get("end_index"), numbers.get(citation.get("url"))
        if not isinstance(end, int) or number is None:
            continue
        position = _outside(min(max(end, 0), len(text)), closed)
        if position is not None:
            at.setdefault(position, set()).add(number)
    pieces, last = [], 0
    for position in sorted(at):
        pieces += [text[last:position], *(f"{_OPEN}{n}{_CLOSE}" for n in sorted(at[position]))]
        last = position
    pieces.append(text[last:])
    return mark_safe(_links_for_marks(str(render_markdown("".join(pieces))), reply_id))  # noqa: S308


# Where a mark would change the markdown: a fenced code block (_FENCE), and between fences a
# code span (_code_spans), an inline link (its text and its destination) and an autolink.
# Approximate, as a relay's offsets are.
_FENCE = re.compile(
    r"^ {0,3}(`{3,}+|~{3,}+)[^\n]*+\n(?:(?:.*?\n)?? {0,3}\1[`~]*+[ \t]*+(?:\n|$)|.*)", re.M | re.S
)
_INLINE = [
    re.compile(r"!?\[[^\[\]\n]*\]\([^()\n]*(?:\([^()\n]*\)[^()\n]*)*\)"),
    re.compile(r"<[A-Za-z][A-Za-z0-9+.-]{1,31}:[^<>\s]*>"),
]


def _closed_spans(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, is_fenced_block) of the places in the markdown no mark may go into, in
    order and none overlapping: the fenced blocks, and between them the inline ones, those that
    overlap (a link whose text has code) merged into one."""
    fences = [match.span() for match in _FENCE.finditer(text)]
    spans = [(start, end, True) for start, end in fences]
    edges = [0, *(edge for fence in fences for edge in fence), len(text)]
    for begin, finish in zip(edges[::2], edges[1::2], strict=True):
        between = text[begin:finish]
        found = _code_spans(between)
        found += [match.span() for pattern in _INLINE for match in pattern.finditer(between)]
        spans += [(begin + start, begin + end, False) for start, end in _merged(found)]
    return sorted(spans)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _code_spans(text: str) -> list[tuple[int, int]]:
    """Code spans: a run of backticks up to the next run of the same length (in one pass, so
    a text full of unmatched backticks costs no more than any other)."""
    runs = [match.span() for match in re.finditer("`+", text)]
    following: list[int | None] = [None] * len(runs)
    last_of_length: dict[int, int] = {}
    for index in range(len(runs) - 1, -1, -1):
        length = runs[index][1] - runs[index][0]
        following[index] = last_of_length.get(length)
        last_of_length[length] = index
    spans, index = [], 0
    while index < len(runs):
        closing = following[index]
        if closing is None:
            index += 1
            continue
        spans.append((runs[index][0], runs[closing][1]))
        index = closing + 1
    return spans


def _outside(position: int, spans: list[tuple[int, int, bool]]) -> int | None:
    """The position moved out of the span it falls inside: after a link or code span; before
    a fenced block, at the end of the line above it (a fence starts a line), or None (no mark)
    when there is no such line outside every span."""
    at = _span_at(position, spans)
    if at is None:
        return position
    start, end, fenced = spans[at]
    if not fenced:
        return end
    if start == 0 or _span_at(start - 1, spans) is not None:
        return None
    return start - 1


def _span_at(position: int, spans: list[tuple[int, int, bool]]) -> int | None:
    """The index of the span a mark at `position` would fall inside (a fenced block from its
    first character, another span strictly inside)."""
    at = bisect.bisect(spans, (position, math.inf, True)) - 1
    if at < 0:
        return None
    start, end, fenced = spans[at]
    if (start <= position if fenced else start < position) and position < end:
        return at
    return None


def _links_for_marks(html: str, reply_id) -> str:
    """Turns the marks in the HTML's text into links to the sources; marks that ended up in a
    tag (a link's title) are dropped. The HTML is the sanitiser's output: attribute values are
    double-quoted with their quotes escaped, and a "<" in text is escaped, so a "<" always
    opens a tag (_TAG)."""
    label = gettext("Source %(number)s")
    pieces = _TAG.split(html)  # text, tag, text, ..., text
    for index, piece in enumerate(pieces):
        if index % 2:
            pieces[index] = _MARK.sub("", piece)
        elif _OPEN in piece:
            pieces[index] = _replace_marks(piece, reply_id, label)
    return "".join(pieces).replace(_OPEN, "").replace(_CLOSE, "")


def _replace_marks(text: str, reply_id, label: str) -> str:
    def link(match: re.Match) -> str:
        number = match[1]
        name = escape(label % {"number": number})
        return (
            f'<a class="cite" href="#reply-{reply_id}-source-{number}" aria-label="{name}">'
            f"[{number}]</a>"
        )

    return _MARK.sub(link, text)
