"""What the fake upstream does for one request: behaviour names, their parameters, and the
`[[fake:NAME key=value]]` directive a user message can carry."""

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

BEHAVIOURS = frozenset(
    {
        "ok",
        "http_error",
        "stall_before",
        "stall_mid",
        "cut",
        "error_event",
        "failed",
        "incomplete",
        "malformed",
        "huge_line",
        "refusal",
        # Hosted tools (tools.py).
        "web_search",
        "image",
        "unknown_item",
        "tool_refused",
    }
)

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0", ""}


class BehaviourError(ValueError):
    """An unknown behaviour name or a badly shaped behaviour entry."""


@dataclass(frozen=True)
class Behaviour:
    """A behaviour name and its parameters, with tolerant typed getters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def has(self, key: str) -> bool:
        return self.params.get(key) is not None

    def integer(self, key: str, default: int) -> int:
        try:
            return int(self.params[key])
        except (KeyError, TypeError, ValueError):
            return default

    def number(self, key: str, default: float) -> float:
        try:
            return float(self.params[key])
        except (KeyError, TypeError, ValueError):
            return default

    def flag(self, key: str, default: bool = False) -> bool:
        value = self.params.get(key)
        if value is None:
            return default
        if isinstance(value, str):
            lowered = value.strip().lower()
            return lowered in _TRUE if lowered in _TRUE | _FALSE else default
        return bool(value)

    def string(self, key: str, default: str | None = None) -> str | None:
        value = self.params.get(key)
        return default if value is None else str(value)


def normalize(entry: str | dict | Behaviour) -> Behaviour:
    """A queue entry (a name, or a dict with "behaviour") as a validated Behaviour."""
    if isinstance(entry, Behaviour):
        return entry
    if isinstance(entry, str):
        entry = {"behaviour": entry}
    if not isinstance(entry, dict):
        raise BehaviourError(f"A behaviour is a name or a dict, not {type(entry).__name__}.")
    params = dict(entry)
    name = params.pop("behaviour", None) or params.pop("behavior", None) or "ok"
    if name not in BEHAVIOURS:
        known = ", ".join(sorted(BEHAVIOURS))
        raise BehaviourError(f"Unknown fake behaviour {name!r}; known: {known}.")
    return Behaviour(name, params)


def echoing(behaviour: Behaviour, authorization: str) -> Behaviour:
    """With `echo_key`, the behaviour carries the request's Authorization header, which a
    careless relay repeats in its error bodies, error events and response objects."""
    if not behaviour.flag("echo_key"):
        return behaviour
    return Behaviour(behaviour.name, {**behaviour.params, "echoed_authorization": authorization})


def credentials_echo(behaviour: Behaviour) -> str:
    """What such a relay says about the credentials it got: the header as sent, the key alone,
    an echoed header object (the key JSON-escaped), a URL with the key URL-encoded, and the key
    masked. Empty without `echo_key`."""
    header = behaviour.string("echoed_authorization")
    if header is None:
        return ""
    key = header.partition(" ")[2]
    headers = json.dumps({"authorization": header})
    url = f"https://relay.example/v1/responses?api_key={quote(key, safe='')}"
    masked = f"{key[:6]}...{key[-4:]}"
    return (
        f" [request: Authorization: {header}; key={key}; headers={headers}; url={url};"
        f" masked={masked}]"
    )


_DIRECTIVE = re.compile(r'\[\[fake:([A-Za-z_]+)((?:[^\]"]|"(?:[^"\\]|\\.)*")*)\]\]')
_ARGUMENT = re.compile(r'([A-Za-z_]\w*)=("(?:[^"\\]|\\.)*"|[^\s"]+)')
_INT = re.compile(r"[-+]?\d+")
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][-+]?\d+)")


def parse_directive(text: str) -> Behaviour | None:
    """The first `[[fake:NAME key=value ...]]` in text, or None. Raises BehaviourError for an
    unknown name."""
    match = _DIRECTIVE.search(text)
    if match is None:
        return None
    params: dict[str, Any] = {"behaviour": match.group(1)}
    for key, raw in _ARGUMENT.findall(match.group(2)):
        params[key] = _parse_value(raw)
    return normalize(params)


def _parse_value(raw: str) -> Any:
    if raw.startswith('"'):
        try:
            return json.loads(raw)
        except ValueError:
            return raw[1:-1]
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if _INT.fullmatch(raw):
        return int(raw)
    if _FLOAT.fullmatch(raw):
        return float(raw)
    return raw


def content_text(content: Any) -> str:
    """The text of a message's content: a string, or a list of parts carrying "text"."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [part.get("text") for part in content if isinstance(part, dict)]
        return "".join(text for text in texts if isinstance(text, str))
    return ""


def last_user_text(request_input: Any) -> str:
    """The text of the last user message of a request's `input` (a string is one)."""
    if isinstance(request_input, str):
        return request_input
    if not isinstance(request_input, list):
        return ""
    for item in reversed(request_input):
        if isinstance(item, dict) and item.get("role") == "user":
            return content_text(item.get("content"))
    return ""


def all_input_text(request_input: Any) -> str:
    """Every message text of a request's `input`, for token estimates."""
    if isinstance(request_input, str):
        return request_input
    if not isinstance(request_input, list):
        return ""
    texts = [content_text(item.get("content")) for item in request_input if isinstance(item, dict)]
    return "\n".join(texts)
