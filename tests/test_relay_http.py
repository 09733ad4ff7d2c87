"""The HTTP client to the relay (conversations/upstream.py on httpx over aiohttp), against small
servers on real sockets: a POST never sent twice (nor retried once the relay may have read
it), pooled connections the relay closed,
connections kept or closed after a reply, timeouts told apart from disconnects, TLS
verification, and the proxy variables (HTTPS_PROXY through a real forward proxy, NO_PROXY, and
a loopback relay always reached directly)."""

import asyncio
import contextlib
import json
import ssl
import subprocess
import time

import aiohttp
import httpx
import pytest

from conversations import upstream
from conversations.models import Reply
from conversations.upstream import Finished, TextDelta, UpstreamError
from tests.chat_helpers import latest_reply, logged_in, send
from tests.conftest import free_port, wait_for_reply

pytestmark = pytest.mark.asyncio

SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)
END = b"0\r\n\r\n"


def sse_chunk(event: dict) -> bytes:
    data = f"data: {json.dumps(event)}\n\n".encode()
    return b"%x\r\n%s\r\n" % (len(data), data)


DELTA = sse_chunk({"type": "response.output_text.delta", "delta": "first"})
COMPLETED = sse_chunk(
    {"type": "response.completed", "response": {"id": "r1", "status": "completed"}}
)
WHOLE_REPLY = SSE_HEAD + DELTA + COMPLETED + END


class RawServer:
    """An asyncio server whose `handler(server, reader, writer)` answers each connection with
    exact bytes. Counts connections and keeps every request it read."""

    def __init__(self, handler):
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.eof_seen = asyncio.Event()
        self.tasks: set[asyncio.Task] = set()
        self.port = 0

    def url(self, scheme="http", host="127.0.0.1"):
        return f"{scheme}://{host}:{self.port}/v1"

    async def serve_connection(self, reader, writer):
        self.tasks.add(asyncio.current_task())
        self.connections += 1
        try:
            await self.handler(self, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.lower().split(b"\r\n"):
            if line.startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        request = head + await reader.readexactly(length)
        self.requests.append(request)
        return request

    async def wait_for_eof(self, reader, timeout=5.0) -> None:
        """Sets `eof_seen` once the client closes its end."""
        with contextlib.suppress(ConnectionError):
            while await asyncio.wait_for(reader.read(65536), timeout):
                pass
        self.eof_seen.set()


@contextlib.asynccontextmanager
async def serve(handler, ssl_context=None, host="127.0.0.1"):
    server = RawServer(handler)
    listener = await asyncio.start_server(server.serve_connection, host, 0, ssl=ssl_context)
    server.port = listener.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listener.close()
        for task in server.tasks:
            task.cancel()
        await asyncio.gather(*server.tasks, return_exceptions=True)
        await asyncio.wait_for(listener.wait_closed(), 5)


def answering(*pieces, gap=0.0):
    """A handler that answers every request on a connection with the same pieces."""

    async def handler(server, reader, writer):
        while True:
            await server.read_request(reader)
            for piece in pieces:
                writer.write(piece)
                await writer.drain()
                if gap:
                    await asyncio.sleep(gap)

    return handler


async def reply(payload=None) -> tuple[str, Finished | None]:
    text, final = "", None
    async for event in upstream.stream_response(payload or {"model": "m", "input": "hi"}):
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, Finished):
            final = event
    return text, final


async def settle():
    """Lets the background read of a reply's end put its connection back in the pool."""
    await asyncio.sleep(0.2)


# --- One POST, one bill ---------------------------------------------------------------------
async def test_a_post_is_sent_once_when_the_relay_closed_the_pooled_connection(settings):
    async def handler(server, reader, writer):
        await server.read_request(reader)
        writer.write(WHOLE_REPLY)
        await writer.drain()
        if server.connections == 1:
            # The relay closes the idle connection just as the next request arrives on it.
            await server.read_request(reader)
            return
        await server.wait_for_eof(reader)

    async with serve(handler) as server:
        settings.RESPONSES_API_BASE_URL = server.url()
        text, final = await reply()
        assert text == "first" and final is not None and final.status == "completed"
        await settle()
        with pytest.raises(UpstreamError) as caught:
            await reply({"model": "m", "input": "second"})
        await asyncio.sleep(0.3)
    # The relay may have read it: it is not sent again (a second copy is a second bill).
    assert caught.value.kind == "disconnected" and not caught.value.retryable
    assert len(server.requests) == 2 and b'"second"' in server.requests[1]


async def test_a_connection_the_relay_closed_while_idle_is_not_used(settings):
    async def handler(server, reader, writer):
        await server.read_request(reader)
        writer.write(WHOLE_REPLY)
        await writer.drain()  # then an idle timeout on the relay's side, no Connection: close

    async with serve(handler) as server:
        settings.RESPONSES_API_BASE_URL = server.url()
        for _ in range(2):
            assert (await reply())[0] == "first"
            await settle()
    assert server.connections == 2 and len(server.requests) == 2


async def test_a_relay_that_ends_its_body_after_the_final_event_keeps_its_connection(settings):
    # The terminal event, then [DONE], then the end of the body a moment later: the reply ends
    # at the event, and the connection is read to its end in the background and reused.
    done = b"data: [DONE]\n\n"
    pieces = (SSE_HEAD + COMPLETED, b"%x\r\n%s\r\n" % (len(done), done), END)
    async with serve(answering(*pieces, gap=0.4)) as server:
        settings.RESPONSES_API_BASE_URL = server.url()
        for _ in range(2):
            started = time.monotonic()
            _, final = await reply()
            assert final is not None and final.status == "completed"
            assert time.monotonic() - started < 0.35  # not held until the body ends (0.8 s)
            await asyncio.sleep(1.3)  # the background read reaches the end of the body
    assert server.connections == 1 and len(server.requests) == 2


async def test_stopping_a_reply_closes_the_relay_connection(settings):
    async def handler(server, reader, writer):
        await server.read_request(reader)
        writer.write(SSE_HEAD + DELTA)
        await writer.drain()
        await server.wait_for_eof(reader)

    async with serve(handler) as server:
        settings.RESPONSES_API_BASE_URL = server.url()
        events = upstream.stream_response({"model": "m", "input": "hi"})
        async for event in events:
            if isinstance(event, TextDelta):
                break  # the user pressed Stop
        await events.aclose()
        await asyncio.wait_for(server.eof_seen.wait(), 5)  # the relay can stop working


async def test_a_large_final_event_arriving_in_pieces_is_not_slowed_by_batched_reads(settings):
    # After the first token the relay is read at most every 0.3 s; the final event (the whole
    # response object, 300 KB) comes in 30 pieces 20 ms apart: each is read as it arrives,
    # not one per interval (which would take 9 s).
    settings.RELAY_READ_INTERVAL = 0.3
    text = "word " * 60_000
    final = {"type": "response.completed", "response": {"id": "r1", "output_text": text}}
    data = f"data: {json.dumps(final)}\n\n".encode()
    size = len(data) // 30 + 1
    pieces = [data[start : start + size] for start in range(0, len(data), size)]
    sent = []

    async def handler(server, reader, writer):
        await server.read_request(reader)
        writer.write(SSE_HEAD + DELTA)
        for piece in pieces:
            await asyncio.sleep(0.02)
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
        writer.write(END)
        sent.append(time.monotonic())
        await server.wait_for_eof(reader)

    async with serve(handler) as server:
        settings.RESPONSES_API_BASE_URL = server.url()
        _, finished = await reply()
        ended = time.monotonic()
    assert finished is not None and finished.response["output_text"] == text
    assert ended - sent[0] < 0.5


# --- Timeouts and disconnects ---------------------------------------------------------------
async def test_a_relay_that_closes_without_answering_is_a_disconnect_not_a_timeout(settings):
    async def handler(server, reader, writer):
        await server.read_request(reader)

    async with serve(handler) as server:
        settings.RESPONSES_API_BASE_URL = server.url()
        with pytest.raises(UpstreamError) as caught:
            await reply()
    assert caught.value.kind == "disconnected"


async def test_a_relay_that_closes_mid_reply_is_a_disconnect_after_the_text(settings):
    async def handler(server, reader, writer):
        await server.read_request(reader)
        writer.write(SSE_HEAD + DELTA)
        await writer.drain()

    text = ""
    async with serve(handler) as server:
        settings.RESPONSES_API_BASE_URL = server.url()
        with pytest.raises(UpstreamError) as caught:
            async for event in upstream.stream_response({"model": "m", "input": "hi"}):
                text += event.text if isinstance(event, TextDelta) else ""
    assert caught.value.kind == "disconnected" and text == "first"


async def test_silence_before_the_answer_is_a_timeout(settings):
    settings.UPSTREAM_IDLE_TIMEOUT = 0.3

    async def handler(server, reader, writer):
        await server.read_request(reader)
        await asyncio.sleep(30)

    async with serve(handler) as server:
        settings.RESPONSES_API_BASE_URL = server.url()
        started = time.monotonic()
        with pytest.raises(UpstreamError) as caught:
            await reply()
    assert caught.value.kind == "timeout" and caught.value.sent and not caught.value.retryable
    assert 0.25 < time.monotonic() - started < 5


async def closes_after_reading(server, reader, writer):
    await server.read_request(reader)


async def falls_silent_after_reading(server, reader, writer):
    await server.read_request(reader)
    await asyncio.sleep(30)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("relay", "error_code"),
    [(closes_after_reading, "network"), (falls_silent_after_reading, "timeout")],
)
async def test_a_reply_whose_request_the_relay_may_have_read_is_not_retried(
    alice, settings, relay, error_code
):
    # The relay read the POST, then closed the connection without a word, or fell silent (it
    # may be working on it): the reply fails plainly, and the request is not sent again (a
    # second copy is a second bill), though retries are allowed.
    settings.UPSTREAM_MAX_RETRIES = 2
    settings.UPSTREAM_IDLE_TIMEOUT = 0.3

    async with serve(relay) as server:
        settings.RESPONSES_API_BASE_URL = server.url()
        client = await logged_in(alice)
        await send(client, "Hello?")
        reply = await wait_for_reply((await latest_reply(alice)).pk)
        await asyncio.sleep(1.5)  # a retry would come within the first backoff (about 0.5 s)
    assert reply.status == Reply.Status.FAILED and reply.error_code == error_code
    assert reply.attempts == 1 and len(server.requests) == 1


async def test_a_timeout_before_the_request_left_may_be_retried_one_after_it_may_not():
    # httpx-aiohttp wraps aiohttp's errors: connecting (or waiting for a connection) timed out
    # before anything was sent; reading timed out after the relay had the request.
    def wrapped(cause):
        error = httpx.ConnectTimeout(str(cause))
        error.__cause__ = cause
        return upstream._transport_error(error)

    before = wrapped(aiohttp.ConnectionTimeoutError("connect"))
    after = wrapped(aiohttp.SocketTimeoutError("read"))
    assert before.kind == after.kind == "timeout"
    assert before.retryable and not before.sent
    assert after.sent and not after.retryable


async def test_a_refused_connection_is_a_network_error(settings):
    settings.RESPONSES_API_BASE_URL = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(UpstreamError) as caught:
        await reply()
    assert caught.value.kind == "network" and caught.value.retryable


# --- TLS ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for the names the tests use, made for this run."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,DNS:relay.test,IP:127.0.0.1,IP:127.0.0.2",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_server_context(certificate):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


async def test_tls_rejects_a_certificate_no_trusted_authority_signed(
    settings, tls_server_context, monkeypatch
):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    async with serve(answering(WHOLE_REPLY), tls_server_context) as server:
        settings.RESPONSES_API_BASE_URL = server.url(scheme="https", host="localhost")
        with pytest.raises(UpstreamError) as caught:
            await reply()
    assert caught.value.kind == "network"
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.detail
    assert server.requests == []


async def test_tls_trusts_the_authorities_named_by_ssl_cert_file(
    settings, certificate, tls_server_context, monkeypatch
):
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    async with serve(answering(WHOLE_REPLY), tls_server_context) as server:
        settings.RESPONSES_API_BASE_URL = server.url(scheme="https", host="localhost")
        assert (await reply())[0] == "first"


# --- Proxies --------------------------------------------------------------------------------
class ForwardProxy:
    """A minimal forward proxy, as a corporate network has: CONNECT tunnels (https) and
    absolute-form requests (http). It resolves names itself (`hosts` maps them, like its DNS),
    and logs every target asked for."""

    def __init__(self, hosts: dict[str, str]):
        self.hosts = hosts
        self.targets: list[str] = []
        self.port = 0

    async def handle(self, reader, writer):
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, target, _ = head.split(b"\r\n", 1)[0].decode().split(" ")
            self.targets.append(f"{method} {target}")
            if method != "CONNECT":  # plain http: this proxy only tunnels here
                writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            host, _, port = target.rpartition(":")
            up_reader, up_writer = await asyncio.open_connection(self.hosts.get(host, host), port)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def test_the_proxy_variables_are_honoured_and_a_loopback_relay_is_reached_directly(
    settings, certificate, tls_server_context, monkeypatch, fake_upstream
):
    proxy = ForwardProxy({"relay.test": "127.0.0.2"})
    listener = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    proxy_url = f"http://127.0.0.1:{listener.sockets[0].getsockname()[1]}"
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy_url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.2")
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    try:
        async with serve(answering(WHOLE_REPLY), tls_server_context, "127.0.0.2") as relay:
            # A relay name only the proxy can resolve: reached through the tunnel, TLS checked
            # end to end against the relay's own certificate.
            settings.RESPONSES_API_BASE_URL = relay.url(scheme="https", host="relay.test")
            assert (await reply())[0] == "first"
            assert proxy.targets == [f"CONNECT relay.test:{relay.port}"]
            # A host in NO_PROXY: straight to it.
            settings.RESPONSES_API_BASE_URL = relay.url(scheme="https", host="127.0.0.2")
            assert (await reply())[0] == "first"
            assert len(relay.requests) == 2
        # A relay on 127.0.0.1, though NO_PROXY does not name it: the tests' fake relay, and
        # demo mode's own.
        settings.RESPONSES_API_BASE_URL = fake_upstream.base_url
        fake_upstream.queue({"behaviour": "ok", "text": "direct"})
        assert (await reply())[0] == "direct"
        settings.DEMO_MODE = True
        demo = {"model": "m", "input": '[[fake:ok text="demo" delay_ms=0]]'}
        assert (await reply(demo))[0] == "demo"
        assert len(proxy.targets) == 1
    finally:
        listener.close()
        await listener.wait_closed()
