"""A lean HTTP/1.1 transport for httpx, on asyncio directly, for relaying streamed replies.

httpx's default transport (httpcore + h11 + anyio) opens a cancel scope and a timeout for
every read and builds h11 event objects for every chunk; at hundreds of concurrent streams,
one chunked-encoding chunk per token, that was most of the server's CPU per relayed token.
Here an `asyncio.Protocol` parses each network read straight into the response's head or body
pieces and wakes the waiting reader only when it has something for it; the read timeout is one
timer per response, re-armed lazily from the time the reader last started waiting. httpx
stays the client API: `httpx.AsyncClient(transport=LeanHTTP11Transport())`.

HTTP/1.1 only (no HTTP/2, no proxies), keep-alive pooling per origin, TLS with certificate
verification, SNI and ALPN "http/1.1". Errors are httpx's own exceptions, so callers keep
catching `httpx.TimeoutException` and `httpx.TransportError`."""

import asyncio
import os
import re
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import certifi
import httpx

MAX_HEAD = 64 * 1024
# A chunk-size line with its extensions, or one trailer line.
MAX_LINE = 8 * 1024
MAX_IDLE_PER_ORIGIN = 100
# Body bytes buffered for a reader that does not keep up: past this, stop reading the socket.
HIGH_WATER = 256 * 1024

_STATUS_LINE = re.compile(rb"HTTP/(1\.[01]) ([0-9]{3})(?: ([^\r\n]*))?")
_HEAD_END = re.compile(rb"\r?\n\r?\n")
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")
_UNSAFE_VALUE = re.compile(rb"[\r\n\0]")

# What a chunked body expects next, when it is not inside a chunk's data (`_left` > 0).
_SIZE_LINE, _AFTER_DATA, _TRAILERS = 0, -1, -2

Origin = tuple[str, str, int]


class _StaleConnection(Exception):
    """A pooled connection the relay had closed while it was idle; nothing of the request
    reached the relay, so the request may go again on a fresh connection."""


class _Head:
    __slots__ = ("headers", "http_version", "keep_alive", "reason", "status")

    def __init__(self, status, reason, http_version, headers, keep_alive):
        self.status = status
        self.reason = reason
        self.http_version = http_version
        self.headers = headers
        self.keep_alive = keep_alive


# --- Parsing --------------------------------------------------------------------------------
def _parse_head(raw: bytes) -> _Head:
    """The status line and header fields. Header names keep their case (httpx matches them
    case-insensitively); an obsolete folded line continues the previous value."""
    lines = raw.split(b"\n")
    match = _STATUS_LINE.fullmatch(lines[0].removesuffix(b"\r"))
    if match is None:
        raise httpx.RemoteProtocolError(f"malformed status line: {lines[0][:100]!r}")
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        line = line.removesuffix(b"\r")
        if line[:1] in (b" ", b"\t") and headers:
            name, value = headers[-1]
            headers[-1] = (name, (value + b" " + line.strip(b" \t")).strip(b" "))
            continue
        name, colon, value = line.partition(b":")
        if not colon or _TOKEN.fullmatch(name) is None:
            raise httpx.RemoteProtocolError(f"malformed header line: {line[:100]!r}")
        headers.append((name, value.strip(b" \t")))
    version = b"HTTP/" + match.group(1)
    return _Head(
        int(match.group(2)), match.group(3) or b"", version, headers, _keep_alive(version, headers)
    )


def _values(headers: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    """Every comma-separated token of one header field, lowercased."""
    return [
        token.strip().lower()
        for key, value in headers
        if key.lower() == name
        for token in value.split(b",")
        if token.strip()
    ]


def _keep_alive(version: bytes, headers: list[tuple[bytes, bytes]]) -> bool:
    tokens = _values(headers, b"connection")
    if version == b"HTTP/1.0":
        return b"keep-alive" in tokens
    return b"close" not in tokens


def _framing(method: bytes, head: _Head) -> tuple[str, int]:
    """How the body ends: ("none", 0), ("length", n), ("chunked", 0) or ("close", 0), as RFC
    9112 section 6.3 orders the rules. Transfer-Encoding wins over Content-Length."""
    if method == b"HEAD" or head.status in (204, 304) or head.status < 200:
        return "none", 0
    codings = _values(head.headers, b"transfer-encoding")
    if codings:
        return ("chunked", 0) if codings[-1] == b"chunked" else ("close", 0)
    lengths = set(_values(head.headers, b"content-length"))
    if not lengths:
        return "close", 0
    if len(lengths) > 1 or not all(length.isdigit() for length in lengths):
        raise httpx.RemoteProtocolError(f"bad Content-Length: {sorted(lengths)!r}")
    length = int(lengths.pop())
    return ("length", length) if length else ("none", 0)


def _chunk_size(line: bytes) -> int:
    """The size of the next chunk; extensions after ";" are ignored."""
    size = line.partition(b";")[0].strip(b" \t")
    if _CHUNK_SIZE.fullmatch(size) is None:
        raise httpx.RemoteProtocolError(f"malformed chunk size line: {line[:100]!r}")
    return int(size, 16)


# --- Requests -------------------------------------------------------------------------------
def _request_head(request: httpx.Request) -> bytes:
    """The request line and headers, as httpx built them (Host first, Content-Length or
    Transfer-Encoding set). A CR or LF in a header would smuggle another header: refused."""
    lines = [request.method.encode("ascii") + b" " + request.url.raw_path + b" HTTP/1.1"]
    has_host = False
    for name, value in request.headers.raw:
        if _TOKEN.fullmatch(name) is None or _UNSAFE_VALUE.search(value) is not None:
            raise httpx.LocalProtocolError(f"invalid header {name!r}", request=request)
        has_host = has_host or name.lower() == b"host"
        lines.append(name + b": " + value)
    if not has_host:
        lines.insert(1, b"Host: " + request.url.netloc)
    lines.append(b"\r\n")
    return b"\r\n".join(lines)


def _request_content(request: httpx.Request) -> bytes | None:
    """The body when httpx holds it in memory (json=, content=bytes), else None: a streamed
    body, sent piece by piece, that cannot be sent twice."""
    try:
        return request.content
    except httpx.RequestNotRead:
        return None


def _origin(url: httpx.URL) -> Origin:
    scheme = url.scheme
    if scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"unsupported scheme {scheme!r}")
    return scheme, url.host, url.port or (443 if scheme == "https" else 80)


# --- One connection -------------------------------------------------------------------------
class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection, one exchange at a time. `data_received` runs the parser for
    the current state (`_feed`) and wakes the reader only when the head, body bytes, the end
    or an error became available, so a token costs one callback, a few slices and a future."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_lost: Callable[[Any], None]):
        self._loop = loop
        self._on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.reused = False
        self.received_any = False
        self.reusable = False
        self._request: httpx.Request | None = None
        self._method = b"GET"
        self._feed: Callable[[bytes], None] = self._feed_idle
        self._pending = b""
        self._head: _Head | None = None
        self._framing = "none"
        self._left = 0
        self._pieces: list[bytes] = []
        self._buffered = 0
        self._complete = False
        self._error: Exception | None = None
        self._event = False
        self._waiter: asyncio.Future | None = None
        self._read_timeout: float | None = None
        self._activity = 0.0
        self._timer: asyncio.TimerHandle | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._drain_waiter: asyncio.Future | None = None
        self._batch_interval = 0.0
        self._next_read = 0.0
        self._napping = False

    # asyncio callbacks
    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self._pending:
            data = self._pending + data
            self._pending = b""
        try:
            self._feed(data)
        except httpx.RemoteProtocolError as error:
            self._fail(error)
            return
        if self._waiter is not None and (self._event or (self._pieces and not self._napping)):
            self._wake()
        self._buffered += len(data)
        if self._buffered > HIGH_WATER and not self._reading_paused and not self._complete:
            if not self.transport.is_closing():
                self._reading_paused = True
                self.transport.pause_reading()

    def eof_received(self) -> None:
        self._lost(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost(exc)
        self._on_lost(self)
        drain, self._drain_waiter = self._drain_waiter, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        drain, self._drain_waiter = self._drain_waiter, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    # Parsers, one per state
    def _feed_idle(self, data: bytes) -> None:
        """Bytes nobody asked for (after a complete response): the connection is unusable."""
        self.reusable = False
        self.abort()

    def _feed_head(self, data: bytes) -> None:
        self.received_any = True
        data = data.lstrip(b"\r\n")  # stray blank lines before a status line are allowed
        match = _HEAD_END.search(data)
        if match is None:
            if len(data) > MAX_HEAD:
                raise httpx.RemoteProtocolError("response head too long")
            self._pending = data
            return
        head = _parse_head(data[: match.start()])
        rest = data[match.end() :]
        if 100 <= head.status < 200 and head.status != 101:
            # An interim response (100 Continue, 103 Early Hints): the real one follows.
            if rest:
                self._feed_head(rest)
            return
        self._start_body(head)
        if rest:
            self._feed(rest)

    def _start_body(self, head: _Head) -> None:
        self._head = head
        self._event = True
        self.reusable = self.reusable and head.keep_alive and head.status != 101
        self._framing, self._left = _framing(self._method, head)
        if self._framing == "none":
            self._finish_body()
        else:
            self._feed = getattr(self, "_feed_" + self._framing)

    def _feed_length(self, data: bytes) -> None:
        left = self._left
        if len(data) < left:
            self._pieces.append(data)
            self._left = left - len(data)
            return
        self._pieces.append(data if len(data) == left else data[:left])
        self._left = 0
        self._finish_body(extra=len(data) > left)

    def _feed_close(self, data: bytes) -> None:
        self._pieces.append(data)

    def _feed_chunked(self, data: bytes) -> None:
        """Chunk data goes out as soon as it arrives, even part of a chunk; a size line, the
        CRLF after the data or a trailer split across reads waits in `_pending`."""
        pos, end = 0, len(data)
        while pos < end:
            left = self._left
            if left > 0:
                stop = min(pos + left, end)
                self._pieces.append(data if pos == 0 and stop == end else data[pos:stop])
                self._left = left - (stop - pos)
                if self._left == 0:
                    self._left = _AFTER_DATA
                pos = stop
                continue
            newline = data.find(b"\n", pos)
            if newline < 0:
                if end - pos > MAX_LINE:
                    raise httpx.RemoteProtocolError("chunk size line too long")
                self._pending = data[pos:]
                return
            line = data[pos:newline].removesuffix(b"\r")
            pos = newline + 1
            if left == _SIZE_LINE:
                size = _chunk_size(line)
                self._left = size if size else _TRAILERS
            elif left == _AFTER_DATA:
                if line:
                    raise httpx.RemoteProtocolError("chunk data longer than its size")
                self._left = _SIZE_LINE
            elif not line:  # the blank line after the trailers ends the body
                self._finish_body(extra=pos < end)
                return

    def _finish_body(self, extra: bool = False) -> None:
        self._complete = True
        self._event = True
        self._feed = self._feed_idle
        self.reusable = self.reusable and not extra and not self.closed
        self._cancel_timer()
        # Nothing more is due; reading on lets the pool see the relay close or misbehave.
        self._resume_reading()

    def _resume_reading(self) -> None:
        if self._reading_paused:
            self._reading_paused = False
            if not self.closed:
                self.transport.resume_reading()

    def _lost(self, exc: Exception | None) -> None:
        """EOF or the connection's end: the end of a read-until-close body, else an error
        for whoever reads this response."""
        if self.closed:
            return
        self.closed = True
        self.reusable = False
        self._cancel_timer()
        if self._error is not None or self._complete or self._request is None:
            return
        if self._framing == "close" and self._head is not None and exc is None:
            self._finish_body()
            self._wake()
        else:
            if exc is not None:
                self._fail(httpx.ReadError(repr(exc), request=self._request))
            elif self._head is None:
                message = "Server disconnected without sending a response."
                self._fail(httpx.RemoteProtocolError(message, request=self._request))
            else:
                message = "peer closed connection without sending complete message body"
                self._fail(httpx.RemoteProtocolError(message, request=self._request))

    def _fail(self, error: Exception) -> None:
        if self._error is None:
            self._error = error
            if isinstance(error, httpx.RequestError) and self._request is not None:
                error.request = self._request
        self._event = True
        self.reusable = False
        self._cancel_timer()
        self.abort()
        self._wake()

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # The read timeout: one timer per response, moved on lazily
    def _check_silence(self) -> None:
        """Fires at most once per read-timeout period. Only silence while the reader waits
        counts, from the start of its wait: the reader waits again as soon as it has taken
        what arrived, so that start is the last data's time, without a clock read per read."""
        self._timer = None
        if self._complete or self._error is not None:
            return
        now = self._loop.time()
        deadline = self._activity + self._read_timeout
        if now >= deadline and self._waiter is not None:
            self._fail(httpx.ReadTimeout("no data from the relay within the read timeout"))
            return
        when = deadline if now < deadline else now + self._read_timeout
        self._timer = self._loop.call_at(when, self._check_silence)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # The exchange, for the transport and the response body
    def begin(self, request: httpx.Request, read_timeout: float | None) -> None:
        """Resets the parser for a new response to `request`."""
        self._request = request
        self._method = request.method.encode("ascii")
        self._feed = self._feed_head
        self._pending = b""
        self._head = None
        self._framing = "none"
        self._left = 0
        self._pieces = []
        self._buffered = 0
        self._complete = False
        self._error = None
        self._event = False
        self.received_any = False
        self._read_timeout = read_timeout
        self._batch_interval = 0.0
        self.reusable = _keep_alive(b"HTTP/1.1", request.headers.raw)

    async def send(self, request: httpx.Request, content: bytes | None, timeout: float | None):
        head = _request_head(request)
        if self.closed or self.transport.is_closing():
            raise _StaleConnection
        if content is not None:
            await self._write(head + content, timeout)
        else:
            await self._write_stream(head, request, timeout)
        self._activity = self._loop.time()
        if self._read_timeout is not None and self._timer is None and not self._complete:
            self._timer = self._loop.call_at(
                self._activity + self._read_timeout, self._check_silence
            )

    async def _write_stream(self, head: bytes, request: httpx.Request, timeout: float | None):
        chunked = b"chunked" in _values(request.headers.raw, b"transfer-encoding")
        await self._write(head, timeout)
        async for piece in request.stream:
            if piece:
                await self._write(
                    b"%x\r\n%b\r\n" % (len(piece), piece) if chunked else piece, timeout
                )
        if chunked:
            await self._write(b"0\r\n\r\n", timeout)

    async def _write(self, data: bytes, timeout: float | None) -> None:
        if self.closed or self.transport.is_closing():
            raise httpx.WriteError("connection closed while sending", request=self._request)
        self.transport.write(data)
        if self._writing_paused:
            await self._drain(timeout)

    async def _drain(self, timeout: float | None) -> None:
        """Waits until the socket takes more (rare: requests are small)."""
        self._drain_waiter = self._loop.create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._drain_waiter
        except TimeoutError as exc:
            raise httpx.WriteTimeout("write timed out", request=self._request) from exc

    async def read_head(self) -> _Head:
        while self._head is None:
            if self._error is not None:
                raise self._error
            await self._wait()
        return self._head

    def batch_reads(self, interval: float) -> None:
        """From now on the reader takes what arrived at most every `interval` seconds: bytes
        that come meanwhile are kept (not handed over one by one), so a stream of small
        events costs one trip through the reader's layers per interval, not one per event."""
        self._batch_interval = interval
        self._next_read = self._loop.time() + interval

    async def read_body(self) -> bytes:
        """The body bytes that arrived since the last call, waiting if there are none yet;
        b"" at the end of the body."""
        while True:
            if self._batch_interval and not (self._complete or self._error):
                wait = self._next_read - self._loop.time()
                if wait > 0:
                    await self._nap(wait)
                self._next_read = self._loop.time() + self._batch_interval
            pieces = self._pieces
            if pieces:
                chunk = pieces[0] if len(pieces) == 1 else b"".join(pieces)
                pieces.clear()
                self._buffered = 0
                self._resume_reading()
                return chunk
            if self._error is not None:
                raise self._error
            if self._complete:
                return b""
            await self._wait()

    async def _nap(self, seconds: float) -> None:
        """Waits `seconds` while body bytes gather (they do not wake the reader), or less if
        the body ends or fails meanwhile."""
        self._napping = True
        timer = self._loop.call_later(seconds, self._wake)
        try:
            await self._wait()
        finally:
            self._napping = False
            timer.cancel()

    async def _wait(self) -> None:
        """Sleeps until data_received has something for the reader. A cancellation (the user
        pressed Stop, the task ended) closes the connection: its response is left unread."""
        waiter = self._waiter = self._loop.create_future()
        self._event = False
        self._activity = self._loop.time()  # the read timeout counts from here
        try:
            await waiter
        except BaseException:
            self._waiter = None
            self.abort()
            raise

    @property
    def complete(self) -> bool:
        return self._complete and self._error is None

    def abort(self) -> None:
        """Closes now, without waiting for buffered writes or a TLS goodbye."""
        self.reusable = False
        self._cancel_timer()
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.reusable = False
        self._cancel_timer()
        if self.transport is not None:
            self.transport.close()


# --- The body stream handed to httpx ----------------------------------------------------------
class _ResponseBody(httpx.AsyncByteStream):
    """Yields body bytes as they arrive. Read to the end, the connection goes back to the pool
    (if both sides allow it); closed before the end, the connection is closed: that is how
    Stop ends the relay's work."""

    def __init__(self, pool: "LeanHTTP11Transport", connection: _Connection, origin: Origin):
        self._pool = pool
        self._connection: _Connection | None = connection
        self._origin = origin

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            return
        read = connection.read_body
        try:
            while chunk := await read():
                yield chunk
        finally:
            self._end()

    async def aclose(self) -> None:
        self._end()

    def _end(self) -> None:
        """Pools a connection whose response arrived whole, closes any other."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if connection.complete:
            self._pool.release(self._origin, connection)
        else:
            connection.abort()


# --- The transport ----------------------------------------------------------------------------
class LeanHTTP11Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio with keep-alive pooling per (scheme, host, port). There is no
    limit on open connections, so the "pool" timeout never applies."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_idle_per_origin: int = MAX_IDLE_PER_ORIGIN,
    ):
        self._ssl_context = ssl_context
        self._max_idle = max_idle_per_origin
        self._idle: dict[Origin, list[_Connection]] = {}
        self._open: set[_Connection] = set()
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the transport is closed")
        origin = _origin(request.url)
        timeouts = request.extensions.get("timeout") or {}
        content = _request_content(request)
        connection = self._take_idle(origin)
        if connection is not None:
            try:
                return await self._exchange(connection, origin, request, content, timeouts)
            except _StaleConnection:
                pass  # closed by the relay while idle: one more try, on a fresh connection
        connection = await self._connect(origin, timeouts.get("connect"), request)
        try:
            return await self._exchange(connection, origin, request, content, timeouts)
        except _StaleConnection as exc:
            message = "connection closed before the request was sent"
            raise httpx.RemoteProtocolError(message, request=request) from exc

    async def _exchange(self, connection, origin, request, content, timeouts) -> httpx.Response:
        connection.begin(request, timeouts.get("read"))
        try:
            await connection.send(request, content, timeouts.get("write"))
            head = await connection.read_head()
        except BaseException as exc:
            connection.abort()
            if self._is_stale(connection, content, exc):
                raise _StaleConnection from exc
            raise
        return httpx.Response(
            head.status,
            headers=head.headers,
            stream=_ResponseBody(self, connection, origin),
            extensions={
                "http_version": head.http_version,
                "reason_phrase": head.reason,
                "batch_reads": connection.batch_reads,
            },
        )

    @staticmethod
    def _is_stale(connection: _Connection, content: bytes | None, exc: BaseException) -> bool:
        """A reused connection that ended before any byte of the response: the relay closed
        it while it was idle, so the request never ran. Only a body in memory can go again."""
        if isinstance(exc, _StaleConnection):
            return True
        return (
            connection.reused
            and not connection.received_any
            and content is not None
            and isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError)
        )

    async def _connect(self, origin: Origin, timeout, request) -> _Connection:
        scheme, host, port = origin
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(loop, self._open.discard),
                    host,
                    port,
                    ssl=tls,
                    server_hostname=host if tls is not None else None,
                )
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(
                f"connect to {host}:{port} timed out", request=request
            ) from exc
        except OSError as exc:  # refused, unreachable, DNS, TLS verification
            raise httpx.ConnectError(f"{host}:{port}: {exc}", request=request) from exc
        self._open.add(connection)
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        """Certificate verification and hostname checks against certifi's CA bundle, as
        httpx's own transport does (an image may have no system store), unless SSL_CERT_FILE
        or SSL_CERT_DIR names another; made once, since building a context reads every CA
        certificate."""
        if self._ssl_context is None:
            if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
                context = ssl.create_default_context()
            else:
                context = ssl.create_default_context(cafile=certifi.where())
            context.set_alpn_protocols(["http/1.1"])
            self._ssl_context = context
        return self._ssl_context

    def _take_idle(self, origin: Origin) -> _Connection | None:
        """The most recently used live connection (the least likely to have been closed by
        the relay); dead ones are dropped on the way."""
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.closed:
                connection.reused = True
                return connection
        return None

    def release(self, origin: Origin, connection: _Connection) -> None:
        """Back to the pool after a complete response, unless either side said close."""
        if self._closed or not connection.reusable or connection.closed:
            connection.close()
            return
        idle = self._idle.setdefault(origin, [])
        idle.append(connection)
        if len(idle) > self._max_idle:
            idle.pop(0).close()

    async def aclose(self) -> None:
        self._closed = True
        self._idle.clear()
        for connection in list(self._open):
            connection.abort()
        self._open.clear()
