"""Takes the relay's API key out of what the relay sends back, before anything is stored, logged
or shown to a reviewer. A relay may echo the request's `Authorization` header, or the key
itself, in an error body, an error event or a response object, raw or JSON-escaped or
URL-encoded. upstream.py applies this to every error and event it builds, so nothing
downstream needs to know. A masked echo (`sk-abc...xyz`) is not the key and stays readable."""

import html
import json
import re
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus

from django.conf import settings

REDACTED = "[redacted]"

# A credential after an HTTP auth scheme, as in an echoed `Authorization: Bearer …` header,
# whoever's it is. Only long tokens: "expected a Bearer token" in an explanation stays readable.
_CREDENTIAL = re.compile(r"\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/=-]{16,}", re.IGNORECASE)
# Fields of an echoed JSON object whose whole value is a credential.
_SECRET_FIELDS = frozenset(
    {"authorization", "proxy-authorization", "api_key", "api-key", "apikey", "x-api-key"}
)


def redact(text: str) -> str:
    """`text` without the configured key, in any of the forms a relay may echo it."""
    pattern = _key_pattern(settings.RESPONSES_API_KEY)
    return text if pattern is None else pattern.sub(REDACTED, text)


def redact_error(text: str) -> str:
    """A relay's diagnostic (error body, code, message) without the key and without any
    credential that follows an auth scheme (an echoed header)."""
    return _CREDENTIAL.sub(rf"\1\2{REDACTED}", redact(text))


def redact_json(value: Any) -> Any:
    """A copy of a decoded JSON value with the key taken out of every string (names too), and
    the values of credential fields (`authorization`, `api_key`…) replaced."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list):
        return [redact_json(item) for item in value]
    if isinstance(value, dict):
        return {
            redact(str(name)): REDACTED
            if str(name).lower() in _SECRET_FIELDS and item is not None
            else redact_json(item)
            for name, item in value.items()
        }
    return value


@lru_cache(maxsize=8)
def _key_pattern(key: str) -> re.Pattern | None:
    """One pattern for every spelling of the key: raw, JSON-escaped (once or twice, with or
    without `\\/`), URL-encoded (either hex case, `+` or `%20` for spaces), HTML-escaped."""
    if not key:
        return None
    forms = {key, html.escape(key)}
    escaped = key
    for _ in range(2):
        escaped = json.dumps(escaped)[1:-1]
        forms |= {escaped, escaped.replace("/", "\\/")}
    forms.add(json.dumps(key, ensure_ascii=False)[1:-1])
    for encoded in (quote(key, safe=""), quote(key), quote_plus(key, safe="")):
        forms |= {encoded, re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), encoded)}
    alternatives = sorted(forms, key=len, reverse=True)
    return re.compile("|".join(re.escape(form) for form in alternatives))
