"""A reply being written is shown formatted at every moment: no markdown syntax is ever visible,
the finished blocks are rendered once and never change, and the whole ends as the finished
reply's rendering (conversations/streaming_markdown.py)."""

# ruff: noqa: RUF001 (Chinese text uses full-width punctuation)

import re
from html.parser import HTMLParser

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conversations.rendering import render_markdown
from conversations.streaming_markdown import StreamingMarkdown, render_streaming

REPLIES = {
    "prose": (
        "Here is **bold** news, some *italics*, _underscored_ words, ~~struck~~ text and "
        "`inline code` in one paragraph.\n\n"
        "A second paragraph with a [link to the docs](https://docs.example.com/path_(x)) and "
        "***both at once*** then __strong__ and a snake_case_name.\n"
    ),
    "headings and lists": (
        "## Getting started\n\n"
        "Follow these steps:\n\n"
        "1. Install **Python 3.12**.\n"
        "2. Create a *virtual environment*:\n"
        "   - on Linux: `python -m venv .venv`\n"
        "   - on Windows: `py -m venv .venv`\n"
        "3. Run `make test`.\n\n"
        "### Notes\n\n"
        "- First point with **bold**\n"
        "- Second point with a [link](https://example.com)\n"
        "  - nested with ~~struck~~ text\n"
        "* Another list\n"
        "+ And another\n\n"
        "# Summary\n\n"
        "That is all.\n"
    ),
    "table": (
        "Both are good choices. In short:\n\n"
        "| | Python | Go |\n"
        "| --- | :---: | ---: |\n"
        "| Writing it | quick, **many** libraries | a little more code |\n"
        "| Running it | an interpreter | one static binary |\n"
        "| Concurrency | `asyncio` | goroutines |\n\n"
        "Pick **Python** if your team knows it.\n"
    ),
    "table after a paragraph line": (
        "The figures:\n| Year | Sales |\n|------|-------|\n| 2024 | 10 |\n| 2025 | 12 |\n\nGrowing."
    ),
    "code": (
        "A minimal handler:\n\n"
        "```python\n"
        "async def hello(request):\n"
        "    # a comment with **stars** and `ticks`\n"
        '    return web.Response(text="Hello")\n'
        "```\n\n"
        "Or without a language:\n\n"
        "~~~\n"
        "plain *text* | a | b |\n"
        "~~~\n\n"
        "Indented:\n\n"
        "    x = 1\n\n"
        "```js\n"
        "console.log(`template ${x}`)\n"
        "```"
    ),
    "quotes and rules": (
        "> A quote with **bold** and\n"
        "> a second line with `code`.\n\n"
        "---\n\n"
        "Setext heading\n"
        "==============\n\n"
        "Text after *it*.\n\n"
        "> - a list in a quote\n"
        "> - with **two** items\n"
    ),
    "chinese": (
        "## 总结\n\n"
        "两者都是**不错的**选择：\n\n"
        "| 项目 | 说明 |\n"
        "| --- | --- |\n"
        "| 编写 | 快，库*很多* |\n\n"
        "- 第一点\n"
        "- 第二点，见[文档](https://example.com/文档)\n"
    ),
    "escapes and entities": (
        "Use \\*literal stars\\* and &amp; entities &copy; here, and 2 * 3 = 6.\n\n"
        "An image ![a chart](https://example.com/c.png) is never loaded.\n\n"
        "An autolink <https://example.com/a_b> and a `` code with ` tick ``.\n"
    ),
}

FORBIDDEN = ("**", "__", "~~", "```", "~~~", "`", "](", "![")
BLOCK_TAGS = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "blockquote", "div", "hr"}


class _Visible(HTMLParser):
    """The text a person sees, block by block, without the contents of code."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.in_code = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("code", "pre"):
            self.in_code += 1
        if tag in BLOCK_TAGS or tag in ("td", "th", "br"):
            self.parts.append("\n" if tag not in ("td", "th") else " ")

    def handle_endtag(self, tag):
        if tag in ("code", "pre"):
            self.in_code -= 1
        if tag in BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append("·" if self.in_code else data)


def visible_text(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    parser.close()
    return "".join(parser.parts)


def syntax_shown(html: str) -> list[str]:
    return syntax_in(visible_text(html))


def syntax_in(text: str) -> list[str]:
    """The markdown syntax in a visible text (code contents replaced by "·")."""
    problems = [mark for mark in FORBIDDEN if mark in text]
    for line in text.split("\n"):
        line = line.strip()
        if line.startswith("#"):
            problems.append(f"heading marker: {line!r}")
        if line.startswith("|") or re.fullmatch(r"[-:| ]*-[-:| ]*", line):
            problems.append(f"table row: {line!r}")
        if re.match(r"([-+*]|\d+[.)])(\s|$)", line) or line in ("=", "==", ">"):
            problems.append(f"block marker: {line!r}")
    return problems


def stream(text: str, step: int = 1):
    """Feeds `text` to a StreamingMarkdown `step` characters at a time; yields it after each."""
    streaming = StreamingMarkdown()
    for end in range(step, len(text) + step, step):
        streaming.update(text[:end])
        yield text[:end], streaming


@pytest.mark.parametrize("name", REPLIES)
def test_no_prefix_of_a_reply_ever_shows_markdown_syntax(name):
    text = REPLIES[name]
    settled_before: list[str] = []
    for prefix, streaming in stream(text):
        tail = streaming.tail_html()
        shown = streaming.settled_html() + tail
        assert syntax_shown(shown) == [], (prefix, shown)
        # What was settled is only ever added to, never changed.
        assert streaming.settled[: len(settled_before)] == settled_before, prefix
        settled_before = list(streaming.settled)
    assert settled_before, "the blocks settled as they ended"


@pytest.mark.parametrize("name", REPLIES)
def test_the_streamed_rendering_ends_as_the_finished_replys(name):
    text = REPLIES[name]
    *_, (_, streaming) = stream(text, step=7)
    # Once the whole text is in, the settled part and a plain rendering of the rest are the
    # finished reply's rendering: nothing jumps when the final message replaces it.
    rest = text[len(text) - streaming.open_size :]
    assert streaming.settled_html() + render_markdown(rest) == render_markdown(text)


@pytest.mark.parametrize("name", REPLIES)
def test_every_prefix_renders_the_same_from_scratch_and_incrementally(name):
    text = REPLIES[name]
    for prefix, streaming in stream(text, step=3):
        settled, tail = render_streaming(prefix)
        assert settled == streaming.settled_html(), prefix
        assert tail == streaming.tail_html(), prefix


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Some **bold", "<p>Some <strong>bold</strong></p>"),
        ("Some **bold and *it", "<p>Some <strong>bold and <em>it</em></strong></p>"),
        ("Some _it", "<p>Some <em>it</em></p>"),
        ("Some ~~gone", "<p>Some <s>gone</s></p>"),
        ("Run `make te", "<p>Run <code>make te</code></p>"),
        ("**Use `make", "<p><strong>Use <code>make</code></strong></p>"),
        ("See [the docs](https://docs.exa", "<p>See the docs</p>"),
        ("See [the do", "<p>See the do</p>"),
        ("See ![a chart](https://x", "<p>See</p>"),
        ("Some text **", "<p>Some text</p>"),
        ("Text\n\n#", "<p>Text</p>"),
        ("Text\n\n## ", "<p>Text</p>"),
        ("Text\n\n## Tit", "<p>Text</p>\n<h2>Tit</h2>"),
        ("Text\n\n-", "<p>Text</p>"),
        ("Text\n-", "<p>Text</p>"),
        ("Text\n\n1.", "<p>Text</p>"),
        ("Text\n\n``", "<p>Text</p>"),
        ("Text\n\n```pyth", "<p>Text</p>"),
        ("Text\n\n|", "<p>Text</p>"),
        ("Text\n\n| a | b |\n", "<p>Text</p>"),
        ("Text\n\n| a | b |\n|--", "<p>Text</p>"),
        ("AT&am", "<p>AT</p>"),
        ("A\\", "<p>A</p>"),
        ("Go to <https://exam", "<p>Go to</p>"),
    ],
)
def test_what_is_unfinished_is_completed_or_held_back(text, shown):
    settled, tail = render_streaming(text)
    assert (settled + tail).strip() == shown


def test_a_table_shows_complete_rows_only_once_its_delimiter_row_is_in():
    head = "| a | b |\n|---|---|\n"
    assert "<th>a</th>" in render_streaming(head)[1]
    _, tail = render_streaming(head + "| 1 | 2 |\n| 3 | 4")
    assert "<td>1</td>" in tail and "3" not in tail


def test_an_unclosed_fence_is_a_code_block_that_grows_highlighted():
    _, tail = render_streaming("```python\ndef f():\n    return 1\n``")
    assert tail.startswith('<div class="codeblock" data-lang="python">')
    assert '<span class="k">def</span>' in tail and "return" in tail and "``" not in tail


def test_references_and_the_highlight_budget_carry_over_between_settled_blocks():
    text = "[docs]: https://docs.example.com\n\nSee [the docs][docs].\n\nMore.\n\nEnd"
    settled, _ = render_streaming(text)
    assert '<a href="https://docs.example.com"' in settled


def test_carriage_returns_split_across_updates_make_one_line_end():
    streaming = StreamingMarkdown()
    for prefix in ("Para one.\r", "Para one.\r\n\r", "Para one.\r\n\r\nPara two.\r\n\r\nThree"):
        streaming.update(prefix)
    assert streaming.settled_html() == "<p>Para one.</p>\n<p>Para two.</p>\n"
    assert streaming.tail_html() == "<p>Three</p>\n"


LINE_STARTS = [
    *("", "", "", "- ", "* ", "1. ", "2) ", "> ", "> - ", "## ", "  - ", "    ", "   "),
    *("| ", "|", "|---|", "| --- | :-: |", "--- | ---", "---", "===", "```", "```py", "~~~"),
]
INLINE = [
    *("word ", "x", " | ", "|", "**", "*", "_", "~~", "`", "``", "[", "]", "](", ")", "!["),
    *("https://e.com", "\\", "&amp;", " ", "-", ":", "<", "中"),
]
LINES = st.tuples(st.sampled_from(LINE_STARTS), st.lists(st.sampled_from(INLINE), max_size=5))
TEXTS = st.lists(LINES.map(lambda line: line[0] + "".join(line[1])), max_size=10).map("\n".join)


@settings(max_examples=150, deadline=None)
@given(TEXTS)
@example("##  | \n|---|")  # a heading's line that the next makes a table's header row
def test_settled_blocks_are_those_of_the_whole_texts_rendering_at_every_prefix(text):
    streaming = StreamingMarkdown()
    settled_before: list[str] = []
    for end in range(1, len(text) + 1):
        prefix = text[:end]
        streaming.update(prefix)
        assert streaming.settled[: len(settled_before)] == settled_before
        settled_before = list(streaming.settled)
        rest = prefix[len(prefix) - streaming.open_size :]
        assert streaming.settled_html() + render_markdown(rest) == render_markdown(prefix)
        streaming.tail_html()  # completing any prefix does not fail
