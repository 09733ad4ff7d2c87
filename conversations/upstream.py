"""The one module that talks to the Responses API relay: builds nothing, decides nothing, only
sends a request and turns what comes back (an SSE stream, a JSON body or an error) into typed
events and errors. Quirks of real relays (responses-api.md) are absorbed here."""

import asyncio
import json
import logging
import uuid
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
import httpx
from django.conf import settings
from httpx_aiohttp import HttpxAiohttpClient

from conversations.redaction import redact, redact_error, redact_json

log = logging.getLogger(__name__)

MAX_ERROR_BODY = 64 * 1024
# The most of a relay's error body (or of a malformed message) kept as an error's detail. It is
# cut after the API key is taken out, so no cut can leave part of the key behind.
MAX_ERROR_DETAIL = 2000
TERMINAL_TYPES = {"response.completed", "response.incomplete", "response.failed"}
MAX_QUERY = 500  # the most of a search query kept (it is shown while the relay searches)
MAX_CITATION_URL = 2048
MAX_CITATION_TITLE = 300
# Output item types the site shows (or, for the web search call, shows while it runs); any
# other is mentioned in one plain line under the reply, never dropped silently.
KNOWN_ITEM_TYPES = {"message", "reasoning", "web_search_call", "image_generation_call"}


# --- Events ---------------------------------------------------------------------------------
# Every event takes the API key out of what it carries when it is built (redaction.py):
# whatever a relay echoes, in its metadata or in the text itself, never reaches a browser, the
# database, the log or a reviewer. (A key split across two deltas would pass: a relay that
# injects its own text into the reply does so in one piece.)
@dataclass(frozen=True, slots=True)
class Started:
    response_id: str
    model: str = ""
    created_at: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "response_id", redact(self.response_id))
        object.__setattr__(self, "model", redact(self.model))


@dataclass(frozen=True, slots=True)
class _Delta:
    text: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", redact(self.text))


class TextDelta(_Delta):
    __slots__ = ()


class ReasoningDelta(_Delta):
    __slots__ = ()


class RefusalDelta(_Delta):
    __slots__ = ()


@dataclass(frozen=True, slots=True)
class Finished:
    """The terminal event: completed, incomplete or failed, with the final response object."""

    status: str
    response: dict[str, Any] = field(default_factory=dict)
    error_code: str = ""
    error_message: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "response", redact_json(self.response))
        object.__setattr__(self, "error_code", redact_error(self.error_code))
        object.__setattr__(self, "error_message", redact_error(self.error_message))

    @property
    def incomplete_reason(self) -> str:
        details = self.response.get("incomplete_details") or {}
        return str(details.get("reason") or "") if isinstance(details, dict) else ""


@dataclass(frozen=True, slots=True)
class ToolActivity:
    """A hosted tool at work: `status` "searching" (with the query once the relay says it) or
    "done". Only web search is reported so far (`tool` "web_search")."""

    tool: str
    status: str
    query: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "query", redact(self.query)[:MAX_QUERY])


@dataclass(frozen=True, slots=True)
class CitationAdded:
    """A url_citation annotation of the reply's text (citation_of's dict)."""

    citation: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """An image a hosted tool made (image_generation_call): its base64 data as sent."""

    item_id: str
    data: str


@dataclass(frozen=True, slots=True)
class UnknownItem:
    """An output item of a type this site does not show (a tool it does not know)."""

    item_type: str
    item_id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "item_type", redact(self.item_type)[:100])
        object.__setattr__(self, "item_id", redact(self.item_id)[:200])


Event = (
    Started
    | TextDelta
    | ReasoningDelta
    | RefusalDelta
    | ToolActivity
    | CitationAdded
    | GeneratedImage
    | UnknownItem
    | Finished
)


# --- Errors ---------------------------------------------------------------------------------
class UpstreamError(Exception):
    """Anything that went wrong talking to the relay. `kind` is one of: http, network (the
    relay could not be reached: nothing was sent), disconnected (the connection ended after the
    request went out), timeout, cut (stream ended with no terminal event), malformed,
    stream_error, too_large (an answer past the size caps). `sent` says whether the relay may
    have read the request: then it is never sent again (a second copy is a second bill). The
    relay's code and detail are kept without the API key, the detail cut to
    MAX_ERROR_DETAIL."""

    def __init__(
        self,
        kind: str,
        *,
        status: int | None = None,
        code: str = "",
        detail: str = "",
        retry_after: float | None = None,
        sent: bool = True,
    ):
        self.kind = kind
        self.sent = sent and kind != "network"
        self.status = status
        self.code = redact_error(code)
        self.detail = redact_error(detail)[:MAX_ERROR_DETAIL]
        self.retry_after = retry_after
        super().__init__(f"{kind} status={status} code={self.code!r}: {self.detail[:500]}")

    @property
    def retryable(self) -> bool:
        """Safe to repeat the request, as long as no token reached the user yet: the relay
        never had it, or answered that it did not take it (429, 5xx)."""
        if self.kind in {"network", "timeout"}:
            return not self.sent
        return self.kind == "http" and (self.status == 429 or (self.status or 0) >= 500)

    @property
    def previous_response_not_found(self) -> bool:
        if self.kind != "http" or self.status not in {400, 404}:
            return False
        text = f"{self.code} {self.detail}".lower()
        return "previous_response" in text or "previous response" in text


# --- Usage ----------------------------------------------------------------------------------
USAGE_FIELDS = (
    "input_tokens",
    "input_cached_tokens",
    "input_text_tokens",
    "input_audio_tokens",
    "input_image_tokens",
    "output_tokens",
    "output_text_tokens",
    "output_audio_tokens",
    "reasoning_tokens",
    "total_tokens",
)


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return max(int(value), 0)


def parse_usage(usage: Any) -> dict[str, int | None]:
    """Maps either naming scheme (Responses: input_/output_tokens; the seed's Chat style:
    prompt_/completion_tokens) onto our columns. A field the relay did not send stays None."""
    if not isinstance(usage, dict):
        return {}
    in_details = usage.get("input_tokens_details") or usage.get("prompt_tokens_details") or {}
    out_details = usage.get("output_tokens_details") or usage.get("completion_tokens_details") or {}
    in_details = in_details if isinstance(in_details, dict) else {}
    out_details = out_details if isinstance(out_details, dict) else {}
    first = lambda *values: next((v for v in values if v is not None), None)  # noqa: E731
    return {
        "input_tokens": first(
            _count(usage.get("input_tokens")), _count(usage.get("prompt_tokens"))
        ),
        "input_cached_tokens": _count(in_details.get("cached_tokens")),
        "input_text_tokens": _count(in_details.get("text_tokens")),
        "input_audio_tokens": _count(in_details.get("audio_tokens")),
        "input_image_tokens": _count(in_details.get("image_tokens")),
        "output_tokens": first(
            _count(usage.get("output_tokens")), _count(usage.get("completion_tokens"))
        ),
        "output_text_tokens": _count(out_details.get("text_tokens")),
        "output_audio_tokens": _count(out_details.get("audio_tokens")),
        "reasoning_tokens": _count(out_details.get("reasoning_tokens")),
        "total_tokens": _count(usage.get("total_tokens")),
    }


def output_text(response: dict[str, Any]) -> str:
    """The reply text of a final response object: every output_text part of message items.
    Accepts the seed's shape, where `content` is a plain string."""
    parts: list[str] = []
    for item in response.get("output") or []:
        if not isinstance(item, dict) or item.get("type", "message") != "message":
            continue
        content = item.get("content")
        if isinstance(content, str):
            parts.append(content)
            continue
        for part in content or []:
            if isinstance(part, dict) and part.get("type") == "output_text":
                parts.append(str(part.get("text") or ""))
    return "".join(parts)


def citation_of(annotation: Any) -> dict[str, Any] | None:
    """A url_citation annotation as stored with a reply: {url, title, start_index, end_index}
    (indexes None when the relay gave none); None for any other annotation or a malformed
    one. The URL is kept as it came (cut, without the API key): whether it may be a link is
    decided when it is shown (citations.py)."""
    if not isinstance(annotation, dict) or annotation.get("type") != "url_citation":
        return None
    url = annotation.get("url")
    if not isinstance(url, str) or not url.strip():
        return None
    title = annotation.get("title")
    start, end = _count(annotation.get("start_index")), _count(annotation.get("end_index"))
    if start is not None and end is not None and end < start:
        start, end = end, start
    return {
        "url": redact(url.strip())[:MAX_CITATION_URL],
        "title": redact(title.strip())[:MAX_CITATION_TITLE] if isinstance(title, str) else "",
        "start_index": start,
        "end_index": end,
    }


def citations_in(response: dict[str, Any]) -> list[dict[str, Any]]:
    """The url_citation annotations of a final response's message items, in order."""
    found = []
    for item in response.get("output") or []:
        if not isinstance(item, dict) or item.get("type", "message") != "message":
            continue
        content = item.get("content")
        for part in content if isinstance(content, list) else []:
            if isinstance(part, dict) and isinstance(part.get("annotations"), list):
                found.extend(filter(None, map(citation_of, part["annotations"])))
    return found


def item_events(item: Any) -> list[Event]:
    """What a finished output item means beyond text: a generated image, or an item of a type
    this site does not know."""
    if not isinstance(item, dict):
        return []
    kind = str(item.get("type") or "message")
    if kind == "image_generation_call":
        result = item.get("result")
        if isinstance(result, str) and result:
            return [GeneratedImage(str(item.get("id") or ""), result)]
        return []
    if kind not in KNOWN_ITEM_TYPES:
        return [UnknownItem(kind, str(item.get("id") or ""))]
    return []


def _search_query(item: dict[str, Any]) -> str:
    action = item.get("action")
    query = action.get("query") if isinstance(action, dict) else None
    return query if isinstance(query, str) else ""


# --- The HTTP client ------------------------------------------------------------------------
_clients: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient]" = (
    weakref.WeakKeyDictionary()
)
# How long a connection to the relay is kept unused for the next reply. Relays (nginx, Go
# servers) close idle ones after a minute or more: letting go first makes it rare that a
# request meets a connection the relay is just closing (such a request fails, never goes twice).
KEEPALIVE_SECONDS = 15.0
# A relay on this machine (the demo's fake relay, a local gateway) is never reached through a
# proxy, whatever HTTPS_PROXY says: a proxy elsewhere cannot reach our loopback.
_LOOPBACK_DIRECT = {"all://127.0.0.1": None, "all://localhost": None, "all://[::1]": None}


def base_url() -> str:
    if settings.DEMO_MODE:
        from conversations.demo import demo_upstream_url

        return demo_upstream_url()
    return settings.RESPONSES_API_BASE_URL


def _client() -> httpx.AsyncClient:
    """One pooled client per event loop (tests run several loops; a server runs one), closed
    when its loop ends. httpx over aiohttp (httpx-aiohttp): httpx's default transport spent most
    of the server's CPU per relayed token. The proxy variables (HTTPS_PROXY, NO_PROXY...) are
    honoured as httpx reads them; TLS is verified against SSL_CERT_FILE / SSL_CERT_DIR when
    set, else certifi's bundle. aiohttp never sends a POST twice by itself."""
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = HttpxAiohttpClient(
            verify=httpx.create_ssl_context(trust_env=True),
            limits=httpx.Limits(
                max_connections=settings.UPSTREAM_MAX_CONNECTIONS,
                keepalive_expiry=KEEPALIVE_SECONDS,
            ),
            trust_env=True,
            mounts=_LOOPBACK_DIRECT,
            follow_redirects=False,
        )
        _clients[loop] = client
        _close_when_the_loop_ends(loop, client)
    return client


def _close_when_the_loop_ends(loop: asyncio.AbstractEventLoop, client: httpx.AsyncClient) -> None:
    """A task that waits until it is cancelled, which asyncio.run, uvicorn and asgiref do to
    every task left when their loop ends, then closes the client's connections."""

    async def close_at_the_end() -> None:
        try:
            await loop.create_future()
        finally:
            await client.aclose()

    task = loop.create_task(close_at_the_end(), name="relay client closer")
    _closers.add(task)  # a task nobody references may be garbage-collected
    task.add_done_callback(_closers.discard)


_closers: set[asyncio.Task] = set()


def _timeout() -> httpx.Timeout:
    """Read from settings on every request. The read timeout is the longest silence allowed:
    a reasoning model can think for minutes before its first token."""
    return httpx.Timeout(
        connect=settings.UPSTREAM_CONNECT_TIMEOUT,
        read=settings.UPSTREAM_IDLE_TIMEOUT,
        write=30.0,
        pool=30.0,
    )


def _headers() -> dict[str, str]:
    key = settings.RESPONSES_API_KEY or "demo"
    return {
        "Authorization": f"Bearer {key}",
        "Accept": "text/event-stream",
        "Cache-Control": "no-store",
    }


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        from django.utils import timezone

        return max((parsedate_to_datetime(value) - timezone.now()).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def _error_fields(body: Any) -> tuple[str, str]:
    """(code, message) from an error body, flat or nested under "error"."""
    if isinstance(body, dict):
        inner = body.get("error") if isinstance(body.get("error"), dict) else body
        code = inner.get("code") or inner.get("type") or ""
        return str(code), str(inner.get("message") or "")
    return "", ""


async def _http_error(response: httpx.Response) -> UpstreamError:
    raw = b""
    async for chunk in response.aiter_bytes():
        raw += chunk
        if len(raw) > MAX_ERROR_BODY:
            break
    text = raw[:MAX_ERROR_BODY].decode("utf-8", "replace")
    try:
        code, message = _error_fields(json.loads(text))
    except ValueError:
        code, message = "", ""
    return UpstreamError(
        "http",
        status=response.status_code,
        code=code,
        detail=message or text,
        retry_after=_retry_after(response),
    )


def _json_bytes(body: dict[str, Any]) -> bytes:
    """The request body as httpx's json= writes it (compact, UTF-8). A value with an
    `encoded()` (a stored file's data URL) is read now and spliced in as the bytes it returns,
    after the rest is serialized: megabytes of base64 never go through json.dumps, whose scan
    of one long string holds the interpreter (and so the event loop) for tens of
    milliseconds. (Base64 and a data URL's head need no JSON escaping.)"""
    marker = f"@file-{uuid.uuid4().hex}-"
    later: list[Any] = []

    def placeholder(value: Any) -> str:
        if callable(getattr(value, "encoded", None)):
            later.append(value)
            return f"{marker}{len(later) - 1}@"
        raise TypeError(f"not JSON serializable: {type(value).__name__}")

    text = json.dumps(
        body, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=placeholder
    ).encode()
    for index, value in enumerate(later):
        text = text.replace(f"{marker}{index}@".encode(), value.encoded(), 1)
    return text


async def stream_response(payload: dict[str, Any]) -> AsyncIterator[Event]:
    """POSTs a streamed request and yields events until the terminal one. Raises
    UpstreamError for HTTP errors, timeouts, cut or malformed streams, mid-stream errors and
    answers past the size caps."""
    url = f"{base_url()}/responses"
    client = _client()
    body = {**payload, "stream": True}
    if isinstance(payload.get("input"), list):
        # Content parts (files read and encoded as base64 now, megabytes of them) or a whole
        # history: written in a worker thread, never on the event loop that streams every
        # other reply, nor on the thread of the send or reply action that prepared it.
        content = await asyncio.to_thread(_json_bytes, body)
        headers = {**_headers(), "Content-Type": "application/json"}
        request = client.build_request(
            "POST", url, content=content, headers=headers, timeout=_timeout()
        )
    else:
        request = client.build_request(
            "POST", url, json=body, headers=_headers(), timeout=_timeout()
        )
    response = None
    try:
        response = await client.send(request, stream=True)
        if response.status_code != 200:
            raise await _http_error(response)
        content_type = response.headers.get("content-type", "")
        if "text/event-stream" not in content_type:
            # A relay that ignored "stream": answer from the whole JSON body.
            for event in _events_from_body(await _read_body(response)):
                yield event
            return
        reading = _Reading()
        messages = _sse_messages(
            _chunks(response, reading),
            settings.UPSTREAM_MAX_LINE_BYTES,
            settings.UPSTREAM_MAX_EVENT_BYTES,
        )
        async for event in _events_from_stream(messages):
            if not reading.interval and isinstance(event, TextDelta | ReasoningDelta):
                # The first token goes out at once; what follows is read in batches.
                reading.interval = settings.RELAY_READ_INTERVAL
            if isinstance(event, Finished):
                _read_to_the_end_in_background(response, messages)
                response = None  # the background task closes it
            yield event
    except httpx.TransportError as exc:
        raise _transport_error(exc) from exc
    except aiohttp.ClientError as exc:
        # An answer aiohttp could not parse as HTTP (httpx-aiohttp passes these on as they are).
        raise UpstreamError("disconnected", detail=repr(exc)) from exc
    finally:
        if response is not None:
            # Stop, a cancelled task or an error: closing mid-body closes the connection.
            await response.aclose()


# Failures to reach the relay at all (refused, unreachable, DNS, TLS, the proxy): the request
# never left, so it may go again.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ClientHttpProxyError, httpx.ConnectError)
# Timeouts before the request could leave: connecting, or waiting for a free connection.
_TIMED_OUT_BEFORE_SENDING = (
    aiohttp.ConnectionTimeoutError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)


def _transport_error(exc: httpx.TransportError) -> UpstreamError:
    """Kind timeout (sent or not); network when the relay could not be reached (nothing was
    sent, a retry is safe); disconnected when the connection ended after the request went out
    (the relay may have read it, so it is not sent again: a second copy is a second bill).
    httpx-aiohttp reports every aiohttp connection error as httpx.ConnectTimeout, so the kind
    is judged from aiohttp's own error underneath."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    if isinstance(cause, TimeoutError | httpx.TimeoutException):
        sent = not isinstance(cause, _TIMED_OUT_BEFORE_SENDING)
        return UpstreamError("timeout", detail=repr(cause), sent=sent)
    if isinstance(cause, _NOT_SENT):
        return UpstreamError("network", detail=repr(cause))
    return UpstreamError("disconnected", detail=repr(cause))


# --- Reading, within caps ---------------------------------------------------------------------


class _Reading:
    """How the relay's body is read: at once (interval 0), or at most every `interval` seconds
    once the first token went out."""

    __slots__ = ("interval",)

    def __init__(self) -> None:
        self.interval = 0.0


async def _chunks(response: httpx.Response, reading: _Reading) -> AsyncIterator[bytes]:
    """The body as it arrives. In batches, the next read waits until `interval` after this
    one: what arrives meanwhile waits in the connection's buffer and comes in one piece, so a
    stream of small events costs one trip through every layer per interval, not one per event.
    A read that ends inside a line (a large event, the final response object, arriving in
    pieces) is followed at once. A silent relay still times out (the read timeout counts
    silence, not reads)."""
    loop = asyncio.get_running_loop()
    async for chunk in response.aiter_bytes():
        read_at = loop.time()
        yield chunk
        if reading.interval and chunk[-1:] in (b"\n", b"\r"):
            delay = read_at + reading.interval - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)


def _too_large(what: str, limit: int) -> UpstreamError:
    """Kind too_large: the relay sent more than the server keeps in memory for one piece of an
    answer (failures.py says it to the user; the text received so far is kept)."""
    return UpstreamError("too_large", detail=f"{what} longer than {limit} bytes")


async def _read_body(response: httpx.Response) -> bytes:
    """A whole JSON body, up to UPSTREAM_MAX_BODY_BYTES."""
    limit = settings.UPSTREAM_MAX_BODY_BYTES
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _too_large("a response body", limit)
        parts.append(chunk)
    return b"".join(parts)


# What follows a terminal event (a relay's [DONE], the end of the chunked body) is read in the
# background for at most this long, so the connection goes back to the pool instead of being
# closed: otherwise a relay that ends its body a moment after the event costs every reply a
# new TCP and TLS handshake. The reply itself ends at once.
DRAIN_SECONDS = 2.0
_draining: set[asyncio.Task] = set()


def _read_to_the_end_in_background(response: httpx.Response, messages) -> None:
    task = asyncio.get_running_loop().create_task(_read_to_the_end(response, messages))
    _draining.add(task)
    task.add_done_callback(_draining.discard)


async def _read_to_the_end(response: httpx.Response, messages) -> None:
    try:
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _ in messages:
                pass
    except (TimeoutError, httpx.HTTPError, aiohttp.ClientError, UpstreamError):
        pass
    finally:
        await response.aclose()


def _events_from_body(raw: bytes) -> list[Event]:
    try:
        body = json.loads(raw)
    except ValueError as exc:
        detail = raw[:MAX_ERROR_BODY].decode("utf-8", "replace")
        raise UpstreamError("malformed", detail=detail) from exc
    if not isinstance(body, dict):
        raise UpstreamError("malformed", detail="response body is not an object")
    status = str(body.get("status") or "completed")
    code, message = _error_fields(body.get("error") or {})
    events: list[Event] = [Started(str(body.get("id") or ""), str(body.get("model") or ""))]
    text = output_text(body)
    if text:
        events.append(TextDelta(text))
    if status not in {"completed", "incomplete", "failed"}:
        status = "completed"
    events.append(Finished(status, body, code, message))
    return events


async def _sse_messages(
    chunks: AsyncIterator[bytes], max_line: int, max_event: int
) -> AsyncIterator[tuple[str, bytes]]:
    """(event name, data) of each server-sent event, parsed from the raw bytes as the SSE
    specification says: lines end with LF, CRLF or CR, ":" starts a comment, the data lines of
    a message are joined with LF and a blank line ends the message. A lean parser: reading
    each token is most of the server's work while replies stream. A line longer than
    `max_line` bytes, or an event whose data is longer than `max_event`, is refused as soon as
    it is known, not buffered whole."""
    pending, name, data, size = b"", b"", [], 0
    held, held_size = [], 0  # pieces of a line that has not ended yet, joined once it does
    async for chunk in chunks:
        if b"\n" not in chunk and b"\r" not in chunk and not pending.endswith(b"\r"):
            # Still inside one line: kept as it came, so a long line costs no copying per piece.
            held.append(chunk)
            held_size += len(chunk)
            if len(pending) + held_size > max_line:
                raise _too_large("an event-stream line", max_line)
            continue
        if held:
            pending += b"".join(held)
            held, held_size = [], 0
        pending += chunk
        if b"\r" in pending:
            # A CR at the very end may be the first half of a CRLF: keep it for the next chunk.
            kept = b"\r" if pending.endswith(b"\r") else b""
            pending = pending[: len(pending) - len(kept)].replace(b"\r\n", b"\n")
            pending = pending.replace(b"\r", b"\n") + kept
        if b"\n" not in pending:
            if len(pending) > max_line:
                raise _too_large("an event-stream line", max_line)
            continue
        *lines, pending = pending.split(b"\n")
        if len(pending) > max_line:
            raise _too_large("an event-stream line", max_line)
        for line in lines:
            if not line:
                if data:
                    yield name.decode("utf-8", "replace"), b"\n".join(data)
                name, data, size = b"", [], 0
            elif len(line) > max_line:
                raise _too_large("an event-stream line", max_line)
            elif line[0] != 58:  # not a ":" comment
                field, _, value = line.partition(b":")
                if value[:1] == b" ":
                    value = value[1:]
                if field == b"data":
                    size += len(value) + 1
                    if size > max_event:
                        raise _too_large("an event", max_event)
                    data.append(value)
                elif field == b"event":
                    name = value
    # A last message without its blank line is incomplete and dropped, as the spec says: the
    # caller then finds no terminal event and reports the stream as cut.


async def _events_from_stream(messages: AsyncIterator[tuple[str, bytes]]) -> AsyncIterator[Event]:
    error: tuple[str, str] | None = None
    async for name, data in messages:
        if not data or data == b"[DONE]":
            # Empty frames carry nothing; [DONE] is a relay's end marker, not JSON.
            if data == b"[DONE]":
                break
            continue
        try:
            # Bytes that are not UTF-8 become U+FFFD, as a text decoder would make them.
            event = json.loads(data.decode("utf-8", "replace"))
        except ValueError as exc:
            detail = data[:MAX_ERROR_BODY].decode("utf-8", "replace")
            raise UpstreamError("malformed", detail=detail) from exc
        if not isinstance(event, dict):
            continue
        kind = event.get("type") or name
        if kind == "response.output_text.delta":
            yield TextDelta(str(event.get("delta") or ""))
        elif kind == "response.reasoning_summary_text.delta":
            yield ReasoningDelta(str(event.get("delta") or ""))
        elif kind == "response.refusal.delta":
            yield RefusalDelta(str(event.get("delta") or ""))
        elif kind in ("response.web_search_call.in_progress", "response.web_search_call.searching"):
            yield ToolActivity("web_search", "searching")
        elif kind == "response.web_search_call.completed":
            yield ToolActivity("web_search", "done")
        elif kind in ("response.output_item.added", "response.output_item.done"):
            item = event.get("item")
            if isinstance(item, dict) and item.get("type") == "web_search_call":
                done = kind.endswith("done")
                yield ToolActivity(
                    "web_search", "done" if done else "searching", _search_query(item)
                )
            elif kind.endswith("done"):
                for found in item_events(item):
                    yield found
        elif kind == "response.output_text.annotation.added":
            citation = citation_of(event.get("annotation"))
            if citation is not None and citation["end_index"] is not None:
                yield CitationAdded(citation)
        elif kind == "response.created":
            response = event.get("response") or {}
            yield Started(
                str(response.get("id") or ""),
                str(response.get("model") or ""),
                _count(response.get("created_at")),
            )
        elif kind in TERMINAL_TYPES:
            response = event.get("response") or {}
            code, message = _error_fields(response.get("error") or {})
            if error and not (code or message):
                code, message = error
            yield Finished(kind.removeprefix("response."), response, code, message)
            return
        elif kind == "error":
            # Usually followed by response.failed; if the stream ends first we still fail.
            error = _error_fields(event)
    if error:
        raise UpstreamError("stream_error", code=error[0], detail=error[1])
    raise UpstreamError("cut", detail="stream ended without a terminal event")
