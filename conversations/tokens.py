"""Token estimates, used when the relay reports no usage (a stopped or cut reply).

The documented rule: one token per CJK character (Chinese, Japanese, Korean scripts) and one
token per four other characters, rounded up; at least one token for non-empty text."""

import math


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (
        0x3040 <= code <= 0x30FF  # kana
        or 0x3400 <= code <= 0x4DBF
        or 0x4E00 <= code <= 0x9FFF
        or 0xAC00 <= code <= 0xD7AF  # hangul
        or 0xF900 <= code <= 0xFAFF
        or 0x20000 <= code <= 0x2FFFF
    )


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    cjk = sum(1 for char in text if _is_cjk(char))
    return max(1, cjk + math.ceil((len(text) - cjk) / 4))
