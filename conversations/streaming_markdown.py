"""A reply's markdown while it is still being written, rendered so that no one ever sees its
syntax: the finished blocks once, and the block still being written again with each update,
with what it has not closed yet completed or held back.

A text is split into *settled* blocks and the *open* block (the last one) by the block parse
of rendering's own parser. A block is settled once a later block has begun on a complete line,
or once it is finished for sure (`_finished`: a heading, a closed code fence, a paragraph and a
blank line): nothing written after that can change it, so its HTML is made once, kept, and only
ever followed by more (the viewers append it). The open block (with the unfinished last line) is
rendered again at each update, after `complete()`: a last line that is only the start of a
block marker ("#", "-", "1.", "``", "|") is held back, as is a table row without its end and a
table's header row until its delimiter row arrives; an unclosed code fence stays a code block
that grows; an open `**`, `*`, `_`, `~~` or `` ` `` is closed, and an unfinished link shows only
its text. Everything goes through rendering.render_markdown (its parser and its sanitiser).
"""

import re

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from conversations.rendering import block_tokens, render_markdown

# An open block longer than this is costly to render again (a code block is highlighted), so
# viewers get it again less often (views/stream.py); a shorter one with every update.
SMALL_OPEN_BLOCK = 2000

# List items and block quotes that a line opens before its own content.
_CONTAINERS = r"[ \t]*(?:(?:>|[-+*]|\d{1,9}[.)])(?:[ \t]+|$))*"
# An unfinished last line that is only the start of a block marker: shown, it would be the
# marker itself ("#", "-", "1.", "``") or turn the line above into a heading ("Title\n-").
_HELD_LINE = re.compile(
    _CONTAINERS
    + r"(?:"
    + r"#{1,6}[ \t]*"  # a heading's marker
    + r"|\d{1,9}[.)]?"  # an ordered list item's number
    + r"|`{1,2}|~{1,2}|(?:`{3,}|~{3,}).*"  # a code fence, or its first line
    + r"|\|.*"  # a table row
    + r"|[-=_*+ \t]+"  # a rule, a setext underline, a bullet, an opening "**"
    + r"|:[-:| \t]*|:?-+:?[ \t]*\|[-:| \t]*"  # a delimiter row without its first pipe
    + r")?$"
)
# A table's delimiter row as it is being written ("|--", ":--- | -").
_DELIMITER_START = re.compile(r"[ \t]*[|:-][-:| \t]*")
_FENCE_LINE = re.compile(r"[ \t]*(`{3,}|~{3,})[ \t]*$")
_FENCE_START = re.compile(r"[ \t]*(?:`+|~+)[ \t]*")
_CONTAINER_PREFIX = re.compile(_CONTAINERS)
_ENTITY_START = re.compile(r"&#?[A-Za-z0-9]{0,31}$")
_AUTOLINK_START = re.compile(r"<[A-Za-z][A-Za-z0-9.+-]{0,31}(?::[^\s<>]*)?$|<[^\s<>@]*@[^\s<>]*$")
_AUTOLINK = re.compile(r"<[A-Za-z][A-Za-z0-9.+-]{1,31}:[^\s<>]*>")
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_BACKTICK_RUNS: dict[int, re.Pattern] = {}
_SPECIAL = re.compile(r"[\\`*_~\[\]!<]")


class StreamingMarkdown:
    """The rendering of one growing text: `settled` (HTML chunks, only ever appended to) and
    the open block's HTML (`tail_html`). Feed it the whole text so far with `update`; the text
    only grows. Shared by every viewer of a reply, so each piece is rendered once however many
    watch."""

    def __init__(self) -> None:
        self.settled: list[str] = []
        self._seen = 0  # characters of the text taken in
        self._open = ""  # the open block's normalised text, up to the end
        self._carriage_return = False  # a "\r" at the end: a line end, maybe "\r\n"
        self._lines = 0  # complete lines of _open already parsed for settling
        self._blocks: list = []  # the block tokens of _open's complete lines
        self._env: dict = {}  # what settled chunks share: highlight budget, link references
        # For the text seen so far: (its length, the open block completed, its HTML).
        self._tail: tuple[int, str, SafeString] | None = None

    @property
    def seen(self) -> int:
        return self._seen

    @property
    def open_size(self) -> int:
        return len(self._open)

    def update(self, text: str) -> None:
        """Takes in what `text` adds to the text seen so far, and settles the blocks it ends."""
        if len(text) <= self._seen:
            return
        added = text[self._seen :]
        self._seen = len(text)
        if self._carriage_return:
            added = "\r" + added
        self._carriage_return = added.endswith("\r")
        if self._carriage_return:
            added = added[:-1]
        added = added.replace("\r\n", "\n").replace("\r", "\n").replace("\0", "\ufffd")
        self._open += added
        if "\n" in added:
            self._settle()

    def _settle(self) -> None:
        complete = self._open[: self._open.rfind("\n") + 1]
        blocks = block_tokens(complete)
        self._lines = complete.count("\n")
        tops = [i for i, t in enumerate(blocks) if t.level == 0 and t.nesting >= 0 and t.map]
        if tops and _finished(blocks[tops[-1]], complete, self._lines):
            first, blocks = blocks[tops[-1]].map[1], []
        elif len(tops) >= 2:
            # Everything before the last block's first line: nothing to come can change it.
            first, blocks = blocks[tops[-1]].map[0], blocks[tops[-1] :]
        else:
            first = 0
        if first:
            cut = _line_offset(self._open, first)
            html = render_markdown(self._open[:cut], self._env)
            if html:
                self.settled.append(html)
            self._open = self._open[cut:]
            self._lines -= first
            for token in blocks:
                if token.map:
                    token.map = [token.map[0] - first, token.map[1] - first]
        self._blocks = blocks

    def settled_html(self) -> SafeString:
        return mark_safe("".join(self.settled))  # noqa: S308 (each chunk from render_markdown)

    def tail_html(self) -> SafeString:
        """The open block, completed (`complete`) and rendered; the same object as long as the
        completed text stays the same."""
        if self._tail is not None and self._tail[0] == self._seen:
            return self._tail[2]
        source = complete(self._open, self._blocks, self._lines)
        if self._tail is None or self._tail[1] != source:
            env = {key: _copy(value) for key, value in self._env.items()}
            html = render_markdown(source, env) if source else mark_safe("")
        else:
            html = self._tail[2]
        self._tail = (self._seen, source, html)
        return html


def render_streaming(text: str) -> tuple[SafeString, SafeString]:
    """(settled HTML, open block HTML) of a text being written, rendered from scratch."""
    streaming = StreamingMarkdown()
    streaming.update(text)
    return streaming.settled_html(), streaming.tail_html()


def tail_element(reply_id, html: str) -> SafeString:
    """The element that holds the open block, last in the reply's body: its children are laid
    out as the body's own (`display: contents`), so nothing moves when they settle."""
    return format_html('<div id="reply-{}-tail" class="live-tail">{}</div>', reply_id, html)


def complete(text: str, blocks: list, lines: int) -> str:
    """The open block's text as it may be shown now: its unfinished syntax held back or closed.

    `blocks` are the block tokens of its first `lines` (complete) lines."""
    complete_part = text[: _line_offset(text, lines)]
    partial = text[len(complete_part) :]
    last = lines - 1
    inner = _innermost(blocks, last)
    if inner is not None and inner.type == "fence" and not _closed(inner, complete_part):
        # A code block that grows: its lines are shown as code, except a closing fence's start.
        return complete_part + ("" if _FENCE_START.fullmatch(partial) else partial)
    if _in_table(blocks, last, lines):
        return complete_part  # a row without its end
    delimiter_like = not partial or _DELIMITER_START.fullmatch(partial)
    if _HELD_LINE.fullmatch(partial):
        partial = ""
    paragraph = _enclosing(blocks, last, "paragraph_open")
    if paragraph is not None and paragraph.map[1] != lines:
        paragraph = None
    if delimiter_like and paragraph is not None:
        start = _line_offset(complete_part, last)
        line = complete_part[start:]
        if _has_pipe(line[_CONTAINER_PREFIX.match(line).end() :]):
            # Perhaps a table's header row, waiting for its delimiter row.
            return _complete_inline(complete_part[:start])
    # Where the last paragraph starts, when the lines parsed already tell: most updates.
    first_line = None
    if not partial and paragraph is not None:
        first_line = paragraph.map[0]
    elif partial[:1].isalpha() or (partial[:2] == "**" and partial[2:3].isalpha()):
        # A line of text, which no block marker starts: it goes on the paragraph above, or
        # after a blank line (or none) starts one.
        if paragraph is not None:
            first_line = paragraph.map[0]
        elif not complete_part[_line_offset(complete_part, last) :].strip():
            first_line = lines
    return _complete_inline(complete_part + partial, first_line)


def _complete_inline(text: str, first_line: int | None = None) -> str:
    """Closes what the last paragraph or heading of `text` (from `first_line` if known) leaves
    open at its end."""
    body = text.rstrip()
    if not body:
        return ""
    if first_line is None:
        blocks = block_tokens(body)
        last = body.count("\n")
        index = _innermost_index(blocks, last)
        if index is None or blocks[index].type != "inline" or _in_table(blocks, last, last + 1):
            return body
        if blocks[index - 1].markup in ("=", "-"):
            return body  # a setext heading: its text ended when its underline came
        first_line = blocks[index].map[0]
    start = _line_offset(body, first_line)
    return body[:start] + _close_inline(body[start:])


def _close_inline(source: str) -> str:
    """The source of one paragraph, cut or closed so that nothing in it stays open."""
    for _ in range(8):  # each cut shortens it, and can leave a new unfinished end (`**[`)
        source = _strip_end(source)
        result, cut = _scan(source)
        if not cut:
            return result
        source = result
    return _strip_end(source)


def _strip_end(source: str) -> str:
    """Without what an unfinished paragraph may end with that would complete into something
    else: emphasis or code marks (closed again by _scan), an escape's backslash, an entity's
    or an autolink's start, whitespace."""
    while True:
        stripped = source.rstrip("*_~` \t\n\\")
        tail = stripped[-64:]
        match = _ENTITY_START.search(tail) or _AUTOLINK_START.search(tail)
        if match:
            stripped = stripped[: len(stripped) - len(tail) + match.start()]
        if stripped == source:
            return source
        source = stripped


def _scan(source: str) -> tuple[str, bool]:
    """(source with closers appended, False) or (source cut where a link or image is
    unfinished, True). A simplified CommonMark delimiter scan: code spans first, link
    destinations skipped, emphasis runs paired by their flanking."""
    openers: list[list] = []  # [character, count]
    brackets: list[tuple[int, int]] = []  # (position, length of "[" or "![")
    code_closer = ""
    length = len(source)
    i = 0
    while special := _SPECIAL.search(source, i):
        i = special.start()
        char = source[i]
        if char == "\\":
            i += 2
            continue
        if char == "`":
            run = _run(source, i, "`")
            closer = _backtick_run(run).search(source, i + run)
            if closer is None:
                code_closer = "`" * run
                break
            i = closer.end()
            continue
        if char in "*_~":
            run = _run(source, i, char)
            _delimiter(source, i, run, openers)
            i += run
            continue
        if char == "[" or (char == "!" and source.startswith("[", i + 1)):
            size = 1 if char == "[" else 2
            brackets.append((i, size))
            i += size
            continue
        if char == "]" and brackets:
            start, size = brackets.pop()
            if i + 1 == length:  # "[text]" at the end: perhaps a link's text
                return source[:start] + ("" if size == 2 else source[start + 1 : i]), True
            if source.startswith("(", i + 1):
                end = _destination_end(source, i + 2)
                if end is None:  # "[text](htt": the text alone for now, no image yet
                    return source[:start] + ("" if size == 2 else source[start + 1 : i]), True
                if end > 0:
                    i = end
                    continue
            i += 1
            continue
        if char == "<":
            autolink = _AUTOLINK.match(source, i)
            if autolink:
                i = autolink.end()
                continue
        i += 1
    if brackets:  # "[" with no "]" yet: hidden until it shows what it is
        start, size = brackets[-1]
        if size == 2:
            return source[:start], True
        return source[:start] + source[start + 1 :], True
    closers = code_closer + "".join(char * count for char, count in reversed(openers))
    return source + closers, False


def _delimiter(source: str, i: int, run: int, openers: list[list]) -> None:
    """Pairs a run of `*`, `_` or `~` with the open ones, or opens it."""
    char = source[i]
    if char == "~" and run != 2:
        return  # strikethrough is exactly "~~"
    before = source[i - 1] if i else " "
    after = source[i + run] if i + run < len(source) else " "
    left = not after.isspace() and (
        after not in _PUNCTUATION or before.isspace() or before in _PUNCTUATION
    )
    right = not before.isspace() and (
        before not in _PUNCTUATION or after.isspace() or after in _PUNCTUATION
    )
    can_open, can_close = left, right
    if char == "_":
        can_open = left and (not right or before in _PUNCTUATION)
        can_close = right and (not left or after in _PUNCTUATION)
    remaining = run
    if can_close:
        while remaining and any(opener[0] == char for opener in openers):
            while openers[-1][0] != char:
                openers.pop()  # delimiters left open inside stay literal
            opener = openers[-1]
            matched = min(opener[1], remaining)
            opener[1] -= matched
            remaining -= matched
            if not opener[1]:
                openers.pop()
    if remaining and can_open:
        openers.append([char, 2 if char == "~" else remaining])


def _destination_end(source: str, i: int) -> int | None:
    """Where a link destination (and title) that starts at `i` ends, after its ")"; None if
    the text ends first; 0 if this is no link after all."""
    length = len(source)
    while i < length and source[i] in " \t\n":
        i += 1
    if i < length and source[i] == "<":
        close = source.find(">", i)
        if close < 0:
            return None
        i = close + 1
    else:
        depth = 0
        while i < length and not source[i].isspace():
            if source[i] == "\\":
                i += 1
            elif source[i] == "(":
                depth += 1
            elif source[i] == ")":
                if not depth:
                    return i + 1
                depth -= 1
            i += 1
    while i < length and source[i].isspace():
        i += 1
    if i == length:
        return None
    if source[i] in "\"'(":
        close = source.find(")" if source[i] == "(" else source[i], i + 1)
        if close < 0:
            return None
        i = close + 1
        while i < length and source[i].isspace():
            i += 1
        if i == length:
            return None
    return i + 1 if source[i] == ")" else 0


def _run(source: str, i: int, char: str) -> int:
    end = i
    while end < len(source) and source[end] == char:
        end += 1
    return end - i


def _backtick_run(run: int) -> re.Pattern:
    if run not in _BACKTICK_RUNS:
        _BACKTICK_RUNS[run] = re.compile(rf"(?<!`)`{{{run}}}(?!`)")
    return _BACKTICK_RUNS[run]


def _has_pipe(line: str) -> bool:
    return "|" in line.replace("\\|", "")


def _line(text: str, line: int) -> str:
    offset = _line_offset(text, line)
    end = text.find("\n", offset)
    return text[offset:] if end < 0 else text[offset:end]


def _line_offset(text: str, line: int) -> int:
    """Where line number `line` (from 0) of `text` starts."""
    position = 0
    for _ in range(line):
        position = text.index("\n", position) + 1
    return position


def _innermost(blocks: list, line: int):
    """The deepest block token that covers `line` (a leaf: inline, fence, code, rule...)."""
    index = _innermost_index(blocks, line)
    return None if index is None else blocks[index]


def _innermost_index(blocks: list, line: int) -> int | None:
    found = None
    for index, token in enumerate(blocks):
        if token.map and token.nesting >= 0 and token.map[0] <= line < token.map[1]:
            found = index
    return found


def _enclosing(blocks: list, line: int, kind: str):
    found = None
    for token in blocks:
        if token.type == kind and token.map and token.map[0] <= line < token.map[1]:
            found = token
    return found


def _in_table(blocks: list, line: int, lines: int) -> bool:
    table = _enclosing(blocks, line, "table_open")
    return table is not None and table.map[1] == lines


def _closed(fence, text: str) -> bool:
    """Whether a fence's last line is its closing fence."""
    start, end = fence.map
    if end - start < 2:
        return False
    offset = _line_offset(text, end - 1)
    match = _FENCE_LINE.match(text, offset, text.find("\n", offset))
    return bool(match) and match[1][0] == fence.markup[0] and len(match[1]) >= len(fence.markup)


def _finished(block, text: str, lines: int) -> bool:
    """Whether nothing after `text` can change its last top-level block: a heading or a rule
    once its line is complete (a heading with a pipe once the next line is), a code block once
    its fence is closed, a paragraph, a table or a quote once a blank line follows. (A list,
    or indented code, may go on after one.)"""
    if block.type == "heading_open" and _has_pipe(_line(text, block.map[0])):
        # "## a | b" is a table's header row if a delimiter row follows: finished only once
        # the next line is complete (and so was not one).
        return block.map[1] < lines
    if block.type in ("heading_open", "hr"):
        return True
    if block.type == "fence":
        return _closed(block, text)
    end = block.map[1]
    if block.type not in ("paragraph_open", "table_open", "blockquote_open") or end >= lines:
        return False
    offset = _line_offset(text, end)
    return not text[offset : text.index("\n", offset)].strip()


def _copy(value):
    return value.copy() if isinstance(value, dict | list) else value
