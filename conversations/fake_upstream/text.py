"""Text helpers for the fake upstream: token-like deltas, token estimates, generated filler."""

import math
import re

# CJK ideographs, kana, hangul, CJK punctuation and full-width forms.
_CJK_CLASS = (
    "\u2e80-\u2fff\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef"
)
_CJK = re.compile(f"[{_CJK_CLASS}]")
# A piece is 1-2 CJK characters or one word, with the whitespace after it; leading
# whitespace is its own piece. Every character lands in exactly one piece.
_PIECE = re.compile(rf"[{_CJK_CLASS}]{{1,2}}\s*|[^\s{_CJK_CLASS}]+\s*|\s+")

_FILLER_WORDS = (
    "alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike "
    "november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu"
).split()


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


def split_pieces(text: str) -> list[str]:
    """Word-ish deltas whose concatenation is exactly `text`."""
    return _PIECE.findall(text)


def estimate_tokens(text: str) -> int:
    """A rough count: one per CJK character, one per four other characters."""
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 4)


def filler_text(tokens: int) -> str:
    """A reply of exactly `tokens` pieces (numbered words, a paragraph break every 40)."""
    words = []
    for index in range(max(1, tokens)):
        word = f"{_FILLER_WORDS[index % len(_FILLER_WORDS)]}{index + 1}"
        separator = "\n\n" if (index + 1) % 40 == 0 else " "
        words.append(word + separator)
    return "".join(words).rstrip() + "."
