"""The lean HTTP/1.1 transport under httpx, against small raw-bytes servers on real sockets:
exact framing (chunks split at awkward places, trailers, lengths, read-until-close), streaming
as bytes arrive, keep-alive and its limits, Stop really closing the socket, stale pooled
connections, timeouts, cut and malformed responses, and TLS."""

import asyncio
import contextlib
import json
import ssl
import subprocess
import time

import httpx
import pytest

from conversations import upstream
from conversations.relay_transport import LeanHTTP11Transport
from tests.conftest import free_port

CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
SMALL_OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
# Pieces written this far apart reach the client as separate reads on loopback.
GAP = 0.03


class RawServer:
    """An asyncio server on 127.0.0.1 whose `handler(server, reader, writer)` answers each
    connection with exact bytes. Counts connections and keeps every request it read."""

    def __init__(self, handler, ssl_context=None):
        self.handler = handler
        self.ssl_context = ssl_context
        self.connections = 0
        self.requests: list[bytes] = []
        self.eof_seen = asyncio.Event()
        self.tasks: set[asyncio.Task] = set()
        self.port = 0

    def url(self, path="/", scheme="http", host="127.0.0.1"):
        return f"{scheme}://{host}:{self.port}{path}"

    async def _serve(self, reader, writer):
        self.tasks.add(asyncio.current_task())
        self.connections += 1
        try:
            await self.handler(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader) -> bytes:
        """One request, head and body (Content-Length or chunked)."""
        head = await reader.readuntil(b"\r\n\r\n")
        lower = head.lower()
        if b"transfer-encoding: chunked" in lower:
            body = await reader.readuntil(b"0\r\n\r\n")
        else:
            length = 0
            for line in lower.split(b"\r\n"):
                if line.startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = await reader.readexactly(length)
        self.requests.append(head + body)
        return head + body

    async def wait_for_eof(self, reader, timeout=5.0) -> None:
        """Sets `eof_seen` once the client closes its end."""
        with contextlib.suppress(ConnectionError):
            while await asyncio.wait_for(reader.read(65536), timeout):
                pass
        self.eof_seen.set()


@contextlib.asynccontextmanager
async def serve(handler, ssl_context=None):
    server = RawServer(handler, ssl_context)
    listener = await asyncio.start_server(server._serve, "127.0.0.1", 0, ssl=ssl_context)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        for task in server.tasks:
            task.cancel()
        await asyncio.gather(*server.tasks, return_exceptions=True)
        await asyncio.wait_for(listener.wait_closed(), 5)


def lean_client(**transport_options) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=LeanHTTP11Transport(**transport_options),
        timeout=httpx.Timeout(5.0),
        follow_redirects=False,
        trust_env=False,
    )


async def send_pieces(writer, *pieces, gap=GAP):
    for piece in pieces:
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(gap)


def answering(*pieces, gap=GAP):
    """A handler that answers every request on a connection with the same pieces."""

    async def handler(server, reader, writer):
        while True:
            await server.read_request(reader)
            await send_pieces(writer, *pieces, gap=gap)

    return handler


async def get_body(client, url, **options) -> tuple[httpx.Response, list[bytes]]:
    async with client.stream("GET", url, **options) as response:
        return response, [chunk async for chunk in response.aiter_raw()]


# --- Framing --------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_chunked_body_split_at_awkward_places_then_connection_reused():
    pieces = (
        CHUNKED_HEAD,
        b"5\r",  # a size line cut before its LF
        b"\nhel",  # the rest of it, and part of the data
        b"lo",
        b"\r",  # the CRLF after the data, split
        b"\n1",  # a size line split inside the hex digits
        b"0;name=value\r\n",  # ...with a chunk extension
        b"0123456789abcdef\r\n6;ext\r\n world\r\n3\r\n!!!\r\n",  # several chunks in one read
        b"0\r\nX-Trailer: y",  # trailers, split inside a line
        b"es\r\nX-Other: 1\r\n",
        b"\r\n",  # the blank line that ends them
    )
    async with serve(answering(*pieces)) as server, lean_client() as client:
        for _ in range(2):
            response, chunks = await get_body(client, server.url())
            assert response.status_code == 200
            assert b"".join(chunks) == b"hello0123456789abcdef world!!!"
    # The trailers were consumed whole: the second response came on the same connection.
    assert server.connections == 1 and len(server.requests) == 2


@pytest.mark.asyncio
async def test_content_length_body_in_pieces_then_connection_reused():
    head = b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\nX-Custom:  spaced value \r\n\r\n"
    async with serve(answering(head + b"hello", b" wor", b"ld")) as server, lean_client() as client:
        for _ in range(2):
            response, chunks = await get_body(client, server.url())
            assert b"".join(chunks) == b"hello world"
            assert response.headers["x-custom"] == "spaced value"
            assert response.reason_phrase == "OK" and response.http_version == "HTTP/1.1"
    assert server.connections == 1


@pytest.mark.asyncio
async def test_body_without_length_is_read_until_close_and_not_reused():
    async def handler(server, reader, writer):
        await server.read_request(reader)
        await send_pieces(writer, b"HTTP/1.1 200 OK\r\n\r\nuntil ", b"the end")
        writer.close()

    async with serve(handler) as server, lean_client() as client:
        for _ in range(2):
            _, chunks = await get_body(client, server.url())
            assert b"".join(chunks) == b"until the end"
    assert server.connections == 2


@pytest.mark.asyncio
async def test_the_request_goes_out_as_httpx_built_it():
    async with serve(answering(SMALL_OK)) as server, lean_client() as client:
        response = await client.post(
            server.url("/v1/responses?stream=1&x=%C3%A9"),
            json={"input": "héllo"},
            headers={"Authorization": "Bearer key"},
        )
    assert response.text == "ok"
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/responses?stream=1&x=%C3%A9 HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}".encode() in lines
    assert b"Authorization: Bearer key" in lines
    assert f"Content-Length: {len(body)}".encode() in lines
    assert json.loads(body) == {"input": "héllo"}


@pytest.mark.asyncio
async def test_a_streamed_request_body_is_sent_chunked():
    async def content():
        yield b"abc"
        yield b"de"

    async with serve(answering(SMALL_OK)) as server, lean_client() as client:
        response = await client.post(server.url(), content=content())
    assert response.text == "ok"
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head.split(b"\r\n")
    assert body == b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"


# --- Streaming ------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_first_chunk_is_yielded_before_the_server_sends_the_second():
    first_received = asyncio.Event()
    second_sent = []

    async def handler(server, reader, writer):
        await server.read_request(reader)
        # The head alone first, so the client is already waiting for the body.
        await send_pieces(writer, CHUNKED_HEAD, b"5\r\nfirst\r\n")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first_received.wait(), 5)
        second_sent.append(True)
        await send_pieces(writer, b"6\r\nsecond\r\n0\r\n\r\n")

    async with serve(handler) as server, lean_client() as client:
        async with client.stream("GET", server.url()) as response:
            chunks = []
            async for chunk in response.aiter_raw():
                if not chunks:
                    assert chunk == b"first" and not second_sent
                    first_received.set()
                chunks.append(chunk)
    assert chunks == [b"first", b"second"]


@pytest.mark.asyncio
async def test_after_batch_reads_what_arrives_meanwhile_is_taken_together():
    # Ten small chunks 30 ms apart: one read each, until the reader asks for batches of 200 ms;
    # then the rest comes in a few reads, whole and in order, and the end of the body is seen
    # as soon as it arrives, not at the end of a batch.
    pieces = [b"%x\r\n%s\r\n" % (len(word), word) for word in (b"w%d " % i for i in range(10))]
    ended_sending = []

    async def handler(server, reader, writer):
        await server.read_request(reader)
        await send_pieces(writer, CHUNKED_HEAD, *pieces)
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        ended_sending.append(time.monotonic())
        await server.wait_for_eof(reader)

    async with serve(handler) as server:
        async with lean_client() as client, client.stream("GET", server.url()) as response:
            chunks = []
            async for chunk in response.aiter_raw():
                chunks.append(chunk)
                if len(chunks) == 2:
                    response.extensions["batch_reads"](0.2)
            ended = time.monotonic()
    assert b"".join(chunks) == b"".join(b"w%d " % i for i in range(10))
    assert chunks[:2] == [b"w0 ", b"w1 "]
    assert len(chunks) - 2 <= 3  # eight pieces over about 0.24 s, in batches of 0.2 s
    assert ended - ended_sending[0] < 0.1


# --- Keep-alive -----------------------------------------------------------------------------
SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)


def sse_chunk(event: dict) -> bytes:
    data = f"data: {json.dumps(event)}\n\n".encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


@pytest.mark.asyncio
async def test_a_relay_that_ends_its_body_after_the_final_event_keeps_its_connection(settings):
    # The terminal event, then [DONE], then the end of the body a moment later: the reply ends
    # at the event, and the connection is read to its end in the background and reused.
    completed = {"type": "response.completed", "response": {"id": "r1", "status": "completed"}}
    done = b"data: [DONE]\n\n"
    pieces = (
        SSE_HEAD + sse_chunk(completed),  # at once; then [DONE] 0.4 s later, the end 0.8 s later
        b"%x\r\n%s\r\n" % (len(done), done),
        b"0\r\n\r\n",
    )
    async with serve(answering(*pieces, gap=0.4)) as server:
        settings.RESPONSES_API_BASE_URL = server.url("/v1")
        for _ in range(2):
            started = time.monotonic()
            events = [event async for event in upstream.stream_response({"input": "hi"})]
            assert isinstance(events[-1], upstream.Finished) and events[-1].status == "completed"
            assert time.monotonic() - started < 0.35  # not held until the body ends (0.8 s)
            await asyncio.sleep(1.3)  # the background read reaches the end of the body
    assert server.connections == 1 and len(server.requests) == 2


@pytest.mark.asyncio
async def test_sequential_requests_share_one_connection():
    async with serve(answering(SMALL_OK)) as server, lean_client() as client:
        for _ in range(3):
            assert (await client.get(server.url())).text == "ok"
    assert server.connections == 1 and len(server.requests) == 3


@pytest.mark.asyncio
async def test_a_response_that_arrived_whole_goes_back_to_the_pool_even_unread():
    async with serve(answering(SMALL_OK)) as server, lean_client() as client:
        async with client.stream("GET", server.url()) as response:
            assert response.status_code == 200
        assert (await client.get(server.url())).text == "ok"
    assert server.connections == 1


@pytest.mark.asyncio
async def test_a_large_body_read_slowly_arrives_whole_and_the_connection_is_reused():
    body = bytes(range(256)) * 8192  # 2 MiB: past the buffer's high-water mark
    head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body)
    async with serve(answering(head + body, gap=0)) as server, lean_client() as client:
        async with client.stream("GET", server.url()) as response:
            received = []
            async for chunk in response.aiter_raw():
                received.append(chunk)
                await asyncio.sleep(0.001)
        assert b"".join(received) == body
        assert (await client.get(server.url())).status_code == 200
    assert server.connections == 1


@pytest.mark.asyncio
async def test_connection_close_from_the_server_prevents_reuse():
    head = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"
    async with serve(answering(head)) as server, lean_client() as client:
        for _ in range(2):
            assert (await client.get(server.url())).text == "ok"
    assert server.connections == 2


@pytest.mark.asyncio
async def test_closing_a_response_early_closes_the_socket():
    async def handler(server, reader, writer):
        await server.read_request(reader)
        await send_pieces(writer, CHUNKED_HEAD + b"5\r\nfirst\r\n")
        await server.wait_for_eof(reader)

    async with serve(handler) as server, lean_client() as client:
        async with client.stream("GET", server.url()) as response:
            async for chunk in response.aiter_raw():
                assert chunk == b"first"
                break  # the user pressed Stop
        await asyncio.wait_for(server.eof_seen.wait(), 5)
        server.handler = answering(SMALL_OK)
        assert (await client.get(server.url())).text == "ok"
    assert server.connections == 2


@pytest.mark.asyncio
async def test_cancelling_the_reader_closes_the_socket():
    first = asyncio.Event()

    async def handler(server, reader, writer):
        await server.read_request(reader)
        await send_pieces(writer, CHUNKED_HEAD + b"5\r\nfirst\r\n")
        await server.wait_for_eof(reader)

    async def read_reply(client, url):
        async with client.stream("GET", url) as response:
            async for _ in response.aiter_raw():
                first.set()

    async with serve(handler) as server, lean_client() as client:
        task = asyncio.create_task(read_reply(client, server.url()))
        await asyncio.wait_for(first.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.eof_seen.wait(), 5)


@pytest.mark.asyncio
async def test_pooled_connection_closed_while_idle_is_not_used():
    async def handler(server, reader, writer):
        await server.read_request(reader)
        await send_pieces(writer, SMALL_OK)
        writer.close()  # an idle timeout on the relay's side, no Connection: close

    async with serve(handler) as server, lean_client() as client:
        assert (await client.get(server.url())).text == "ok"
        await asyncio.sleep(0.1)
        assert (await client.get(server.url())).text == "ok"
    assert server.connections == 2


@pytest.mark.asyncio
async def test_request_on_a_stale_pooled_connection_is_retried_on_a_fresh_one():
    async def handler(server, reader, writer):
        await server.read_request(reader)
        if server.connections == 1:
            await send_pieces(writer, SMALL_OK)
            # The relay closes the idle connection just as the next request arrives.
            await server.read_request(reader)
            return
        await send_pieces(writer, b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh")

    async with serve(handler) as server, lean_client() as client:
        assert (await client.get(server.url())).text == "ok"
        assert (await client.post(server.url(), json={"a": 1})).text == "fresh"
    assert server.connections == 2 and len(server.requests) == 3
    assert server.requests[1] == server.requests[2]


@pytest.mark.asyncio
async def test_fresh_connection_closed_without_a_response_is_not_retried():
    async def handler(server, reader, writer):
        await server.read_request(reader)

    async with serve(handler) as server, lean_client() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url())
    assert server.connections == 1


# --- Errors ---------------------------------------------------------------------------------
@pytest.mark.asyncio
async def test_connection_refused_is_a_connect_error():
    async with lean_client() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{free_port()}/")


@pytest.mark.asyncio
async def test_silence_before_the_headers_is_a_read_timeout():
    async def handler(server, reader, writer):
        await server.read_request(reader)
        await asyncio.sleep(30)

    async with serve(handler) as server, lean_client() as client:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url(), timeout=httpx.Timeout(5.0, read=0.3))
    assert 0.25 < time.monotonic() - started < 3


@pytest.mark.asyncio
async def test_silence_mid_body_is_a_read_timeout_after_the_data_so_far():
    async def handler(server, reader, writer):
        await server.read_request(reader)
        await send_pieces(writer, CHUNKED_HEAD + b"5\r\nfirst\r\n")
        await asyncio.sleep(30)

    chunks = []
    async with serve(handler) as server, lean_client() as client:
        with pytest.raises(httpx.ReadTimeout):
            async with client.stream("GET", server.url(), timeout=httpx.Timeout(5, read=0.3)) as r:
                async for chunk in r.aiter_raw():
                    chunks.append(chunk)
    assert chunks == [b"first"]


@pytest.mark.asyncio
async def test_read_timeout_is_the_longest_silence_not_the_whole_body():
    pieces = [b"1\r\nx\r\n"] * 8 + [b"0\r\n\r\n"]
    async with serve(answering(CHUNKED_HEAD, *pieces, gap=0.1)) as server, lean_client() as client:
        started = time.monotonic()
        _, chunks = await get_body(client, server.url(), timeout=httpx.Timeout(5, read=0.4))
    assert b"".join(chunks) == b"x" * 8
    assert time.monotonic() - started > 0.4  # longer than the read timeout, in small silences


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "pieces",
    [
        (CHUNKED_HEAD + b"5\r\nfirst\r\n",),  # chunked body not terminated
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst",),  # fewer bytes than announced
    ],
    ids=["chunked", "content-length"],
)
async def test_connection_cut_mid_body_is_an_error_after_the_data_so_far(pieces):
    async def handler(server, reader, writer):
        await server.read_request(reader)
        await send_pieces(writer, *pieces)

    chunks = []
    async with serve(handler) as server, lean_client() as client:
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
            async with client.stream("GET", server.url()) as response:
                async for chunk in response.aiter_raw():
                    chunks.append(chunk)
    assert chunks == [b"first"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTQ/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nNo colon here\r\nContent-Length: 2\r\n\r\nok",
        b"HTTP/1.1 200 OK\r\nContent-Length: two\r\n\r\nok",
        CHUNKED_HEAD + b"zz\r\nhello\r\n0\r\n\r\n",
        CHUNKED_HEAD + b"2\r\nhello\r\n0\r\n\r\n",
    ],
    ids=["no-status", "not-http", "header-line", "length", "chunk-size", "chunk-overrun"],
)
async def test_malformed_response_is_a_protocol_error(answer):
    async with serve(answering(answer)) as server, lean_client() as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url())


# --- TLS ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for localhost and 127.0.0.1, made for this run."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server_context(certificate):
    """The server's context, recording the name the client asked for (SNI)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    context.set_alpn_protocols(["http/1.1"])
    context.names_seen = []
    context.sni_callback = lambda sslobj, name, ctx: context.names_seen.append(name)
    return context


def tls_answering(alpn_seen):
    async def handler(server, reader, writer):
        alpn_seen.append(writer.get_extra_info("ssl_object").selected_alpn_protocol())
        await answering(SMALL_OK)(server, reader, writer)

    return handler


@pytest.mark.asyncio
async def test_tls_with_a_context_that_trusts_the_certificate(certificate, tls_server_context):
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    alpn = []
    async with (
        serve(tls_answering(alpn), tls_server_context) as server,
        lean_client(ssl_context=trusting) as client,
    ):
        for _ in range(2):
            response = await client.get(server.url(scheme="https", host="localhost"))
            assert response.text == "ok"
    assert tls_server_context.names_seen == ["localhost"]
    assert server.connections == 1


@pytest.mark.asyncio
async def test_tls_default_context_verifies_and_offers_http11(
    certificate, tls_server_context, monkeypatch
):
    # The default context reads the system's trust store, which SSL_CERT_FILE replaces here.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    alpn = []
    async with serve(tls_answering(alpn), tls_server_context) as server, lean_client() as client:
        response = await client.get(server.url(scheme="https", host="localhost"))
    assert response.text == "ok"
    assert alpn == ["http/1.1"] and tls_server_context.names_seen == ["localhost"]


@pytest.mark.asyncio
async def test_tls_default_context_rejects_a_self_signed_certificate(tls_server_context):
    async with serve(answering(SMALL_OK), tls_server_context) as server, lean_client() as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(server.url(scheme="https", host="localhost"))
