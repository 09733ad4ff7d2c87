"""A reply's markdown as the plain text a reader sees (for search snippets): no `**`, `#`,
table pipes or code fences. Read through the renderer's own tokens
(conversations/rendering.py: CommonMark with tables and strikethrough, raw HTML as text), so
what is syntax there is syntax here too. The result is text, to be escaped where it is shown."""

from functools import lru_cache

from conversations.rendering import tokens

# Inline tokens that are only markup: their text, if any, is in the tokens between them.
_BREAKS = {"softbreak", "hardbreak"}


def _inline_text(children) -> str:
    parts = []
    for token in children or []:
        if token.type in _BREAKS:
            parts.append("\n")
        elif token.type == "image":
            parts.append(_inline_text(token.children))  # its alt text, as the page shows it
        elif token.nesting == 0:  # text, code spans, escaped characters; not opening/closing
            parts.append(token.content)
    return "".join(parts)


# Recent replies are stripped again and again while someone types a query, letter by letter.
@lru_cache(maxsize=128)
def plain_text(markdown: str) -> str:
    """The text of `markdown` without its syntax, one block (paragraph, heading, list item,
    table cell, code block) a line."""
    blocks = []
    for token in tokens(markdown):
        if token.type == "inline":
            blocks.append(_inline_text(token.children))
        elif token.type in ("fence", "code_block"):
            blocks.append(token.content.rstrip("\n"))
    return "\n".join(block for block in blocks if block)
