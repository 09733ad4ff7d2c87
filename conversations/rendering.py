"""The one place that turns untrusted text (model replies, users' messages) into safe HTML."""

import re
from functools import cache, lru_cache
from html import escape
from urllib.parse import urlsplit

import nh3
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from markdown_it import MarkdownIt
from markdown_it.common.utils import unescapeAll
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_all_lexers, get_lexer_by_name
from pygments.token import STANDARD_TYPES

# Characters of code per reply that get syntax highlighting; the rest is only escaped, so a
# huge or hostile code block costs a bounded amount of time on every streaming re-render.
HIGHLIGHT_BUDGET = 20_000
LIGHT_STYLE = "default"
DARK_STYLE = "github-dark"
TITLE_MAX_CHARS = 200  # a data: URL can be megabytes; the placeholder's tooltip needs a hint

# Every alias Pygments knows, mapped to the lexer's first alias, so `py` and `python` share a
# class and the sanitiser can allow-list the exact class and data-lang values we emit.
# Plugins are ignored: their set would depend on what happens to be installed.
_LANGUAGES = {
    alias: aliases[0]
    for _name, aliases, _files, _mimes in get_all_lexers(plugins=False)
    for alias in aliases
}
_PLAIN = "text"
_FORMATTER = HtmlFormatter(nowrap=True)  # spans with CSS classes only, no inline styles
_KEPT_SCHEME = re.compile(r"(?i)(https?|mailto):")
_ALIGN_CLASSES = {"align-left", "align-center", "align-right"}

_CLEANER = nh3.Cleaner(
    tags={
        *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "del", "s"),
        *("blockquote", "ul", "ol", "li", "code", "pre", "a", "span", "div"),
        *("table", "thead", "tbody", "tr", "th", "td"),
    },
    clean_content_tags={
        *("script", "style", "iframe", "svg", "math", "template", "noscript", "object", "embed"),
    },
    # "*" replaces ammonia's default generic attributes (lang, title) with none.
    attributes={"*": set(), "a": {"href", "title"}, "span": {"title"}, "ol": {"start"}},
    tag_attribute_values={"div": {"data-lang": {*_LANGUAGES.values(), _PLAIN}}},
    set_tag_attribute_values={"a": {"target": "_blank"}},
    allowed_classes={
        "span": {cls for cls in STANDARD_TYPES.values() if cls} | {"link-host", "blocked-image"},
        "div": {"codeblock", "table-scroll"},
        "code": {f"language-{name}" for name in {*_LANGUAGES.values(), _PLAIN}},
        "th": _ALIGN_CLASSES,
        "td": _ALIGN_CLASSES,
    },
    url_schemes={"http", "https", "mailto"},
    url_relative="deny",
    link_rel="noopener noreferrer nofollow",
    strip_comments=True,
)


def render_markdown(text: str, env: dict | None = None) -> SafeString:
    """Model output as sanitised HTML; safe on any prefix of a reply, as streaming needs.

    A reply rendered in parts (streaming_markdown.py) passes the same `env` to each, in order:
    it carries what the parts share (the highlighting budget, link reference definitions)."""
    html = _MD.render(text, {} if env is None else env)
    return mark_safe(_CLEANER.clean(html))  # noqa: S308 (sanitised just here)


def tokens(text: str) -> list:
    """All of `text`'s markdown-it tokens as the renderer's parser sees them (links it refuses
    keep their text), for readers of the text other than the page (plaintext.py)."""
    return _MD.parse(text, {})


def block_tokens(text: str) -> list:
    """The block structure of `text` (newlines normalised) as the renderer's parser sees it:
    markdown-it block tokens, with their line ranges (`map`); inline content unparsed."""
    tokens: list = []
    _MD.block.parse(text, _MD, {}, tokens)
    return tokens


def render_plain(text: str) -> SafeString:
    """A user's own message: escaped, no markdown, line breaks kept."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return mark_safe("<br>\n".join(escape(line) for line in lines))  # noqa: S308 (escaped)


def pygments_css() -> str:
    """The stylesheet committed as static/css/pygments.css (a test keeps the two in sync)."""
    light, dark = HtmlFormatter(style=LIGHT_STYLE), HtmlFormatter(style=DARK_STYLE)
    dark_rules = "\n".join(f"  {rule}" for rule in _style_rules(dark))
    return (
        f"/* Pygments {LIGHT_STYLE!r} style, and {DARK_STYLE!r} when the system is dark, for the\n"
        "   highlighted code blocks of conversations/rendering.py. Generated; to regenerate:\n"
        "   .venv/bin/python -c 'from conversations.rendering import pygments_css;"
        ' print(pygments_css(), end="")\' > static/css/pygments.css */\n'
        + "\n".join(_style_rules(light))
        + "\n\n@media (prefers-color-scheme: dark) {\n"
        # Same specificity as the token rules (:where counts for nothing), placed between the
        # light and the dark ones: light colours the dark style leaves unset do not leak in.
        + "  .codeblock :where(code) [class] { color: inherit; background-color: transparent;"
        " font-weight: inherit; font-style: inherit; text-decoration: inherit; border: 0 }\n"
        + dark_rules
        + "\n}\n"
    )


def pygments_theme_css() -> str:
    """The stylesheet committed as static/css/pygments-themes.css: the same two styles, chosen
    by the admin's theme switch (`html[data-theme]`) rather than by the system. After
    pygments.css; a switched theme first clears the other's colours, as pygments.css does."""
    reset = (
        ".codeblock :where(code) [class] { color: inherit; background-color: transparent;"
        " font-weight: inherit; font-style: inherit; text-decoration: inherit; border: 0 }"
    )
    sections = []
    for theme, style in (("light", LIGHT_STYLE), ("dark", DARK_STYLE)):
        scope = f'html[data-theme="{theme}"]'
        rules = [".codeblock { color: inherit }", reset, *_style_rules(HtmlFormatter(style=style))]
        sections.append("\n".join(f"{scope} {rule}" for rule in rules))
    return (
        f"/* Pygments {LIGHT_STYLE!r} and {DARK_STYLE!r} styles as the admin's theme switch"
        " chooses them. Generated; to regenerate:\n"
        "   .venv/bin/python -c 'from conversations.rendering import pygments_theme_css;"
        ' print(pygments_theme_css(), end="")\' > static/css/pygments-themes.css */\n'
        + "\n\n".join(sections)
        + "\n"
    )


def _style_rules(formatter: HtmlFormatter) -> list[str]:
    # Not get_style_defs(): it also emits unscoped `pre { ... }` and line-number rules.
    return [
        *formatter.get_background_style_defs(".codeblock"),
        *formatter.get_token_style_defs(".codeblock"),
    ]


# --- Links -------------------------------------------------------------------------------


def _link_destination(href: str) -> str | None:
    """What the user is shown as the link's destination, or None if the link loses its href.

    An allow-list on the exact string the browser will get: markdown-it has already decoded
    entities and percent-encoded whitespace and controls, so `java&#x09;script:` arrives as
    `java%09script:` and matches nothing here.
    """
    match = _KEPT_SCHEME.match(href)
    if not match:
        return None
    try:
        parts = urlsplit(href)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return None
    if match[1].lower() == "mailto":
        return parts.path or None
    # Without the userinfo, so `https://bank.com@evil.com` shows evil.com.
    return parts.netloc.rpartition("@")[2].lower() or None


def _link_text(tokens: list) -> str:
    parts = []
    for token in tokens:
        if token.type in ("text", "code_inline"):
            parts.append(token.content)
        elif token.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return "".join(parts).strip()


def _secure_links(children: list, md: MarkdownIt) -> list:
    """Drops the links we may not keep (their text stays) and marks where to show the host."""
    kept: list = []
    start, destination = None, None
    for token in children:
        if token.type == "link_open":
            href = str(token.attrGet("href") or "")
            destination = _link_destination(href)
            if destination is None:
                continue
            start = len(kept)
        elif token.type == "link_close":
            if destination is None:
                continue  # CommonMark links never nest, so this closes the dropped one
            opener = kept[start]
            text, href = _link_text(kept[start + 1 :]), str(opener.attrGet("href"))
            if text not in (href, md.normalizeLinkText(href)) and text.lower() != destination:
                token.meta["destination"] = destination
            destination = None
        kept.append(token)
    return kept


def _secure_links_rule(state) -> None:
    for block in state.tokens:
        if block.type == "inline" and any(t.type == "link_open" for t in block.children or ()):
            block.children = _secure_links(block.children, state.md)


def _render_link_close(self, tokens, idx, options, env) -> str:
    destination = tokens[idx].meta.get("destination")
    if destination is None:
        return "</a>"
    return f'</a> <span class="link-host">({escape(destination)})</span>'


# --- Images, code, tables ----------------------------------------------------------------


def _render_blocked_image(self, tokens, idx, options, env) -> str:
    """Never an <img>: loading it would tell another origin what the URL carries."""
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children, options, env)
    if alt:
        message = gettext("Image not loaded: %(alt)s") % {"alt": alt}
    else:
        message = gettext("Image not loaded")
    src = str(token.attrGet("src") or "")
    if len(src) > TITLE_MAX_CHARS:
        src = src[: TITLE_MAX_CHARS - 1] + "…"
    return f'<span class="blocked-image" title="{escape(src)}">{escape(message)}</span>'


def _language(info: str) -> str:
    words = unescapeAll(info).split(maxsplit=1)
    return _LANGUAGES.get(words[0].lower(), _PLAIN) if words else _PLAIN


def _highlighted(code: str, language: str, env: dict) -> str:
    budget = env.setdefault("highlight_budget", HIGHLIGHT_BUDGET)
    if language == _PLAIN or len(code) > budget:
        return escape(code)
    env["highlight_budget"] = budget - len(code)
    return _pygments_html(code, language)


# Streaming re-renders the whole reply on every delta while its finished code blocks stay the
# same; lexing dominates the cost (~2 µs per character of Python), so remember recent blocks.
@lru_cache(maxsize=128)
def _pygments_html(code: str, language: str) -> str:
    return highlight(code, _lexer(language), _FORMATTER)


@cache  # bounded: language is always one of the _LANGUAGES values
def _lexer(language: str):
    # stripnl/ensurenl off: the code shown (and copied) is exactly what the model wrote.
    return get_lexer_by_name(language, stripnl=False, ensurenl=False)


def _render_code(self, tokens, idx, options, env) -> str:
    """Fenced and indented code alike, so the page's copy button finds every block."""
    token = tokens[idx]
    language = _language(token.info)
    return (
        f'<div class="codeblock" data-lang="{language}"><pre><code class="language-{language}">'
        f"{_highlighted(token.content, language, env)}</code></pre></div>\n"
    )


def _render_table_cell(self, tokens, idx, options, env) -> str:
    # markdown-it aligns with style="text-align:x"; the sanitiser allows no style at all.
    token = tokens[idx]
    align = str(token.attrs.pop("style", "")).removeprefix("text-align:")
    if align:
        token.attrSet("class", f"align-{align}")
    return self.renderToken(tokens, idx, options, env)


def _render_table_open(self, tokens, idx, options, env) -> str:
    # A table too wide for the reply scrolls in a box of its own (the table keeps its layout).
    return '<div class="table-scroll">' + self.renderToken(tokens, idx, options, env)


def _render_table_close(self, tokens, idx, options, env) -> str:
    return self.renderToken(tokens, idx, options, env) + "</div>\n"


def _build_parser() -> MarkdownIt:
    # CommonMark keeps typographer (smart quotes, dashes) off. Without the HTML rules raw HTML
    # is plain text, escaped by markdown-it before the sanitiser ever sees it.
    md = MarkdownIt("commonmark", {"html": False, "xhtmlOut": False})
    md.enable(["table", "strikethrough"]).disable(["html_block", "html_inline"])
    # Accept every destination while parsing so a refused link still shows its text; the
    # allow-list in _link_destination decides which hrefs survive.
    md.validateLink = lambda url: True
    md.core.ruler.push("secure_links", _secure_links_rule)
    md.add_render_rule("link_close", _render_link_close)
    md.add_render_rule("image", _render_blocked_image)
    md.add_render_rule("fence", _render_code)
    md.add_render_rule("code_block", _render_code)
    md.add_render_rule("table_open", _render_table_open)
    md.add_render_rule("table_close", _render_table_close)
    md.add_render_rule("th_open", _render_table_cell)
    md.add_render_rule("td_open", _render_table_cell)
    return md


_MD = _build_parser()
