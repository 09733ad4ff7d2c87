"""FakeUpstream: the fake Responses API served by uvicorn in a daemon thread (tests, demos)."""

import asyncio
import socket
import threading
import time

import uvicorn

from conversations.fake_upstream.app import FakeUpstreamApp
from conversations.fake_upstream.delivery import THREAD_NAME_PREFIX
from conversations.fake_upstream.state import FakeState

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0


class _Server(uvicorn.Server):
    """A uvicorn server that ends the fake's open streams as soon as shutdown begins."""

    def __init__(self, config: uvicorn.Config, app: FakeUpstreamApp) -> None:
        super().__init__(config)
        self.fake_app = app

    async def shutdown(self, sockets=None) -> None:
        self.fake_app.shutdown_streams()
        await super().shutdown(sockets)


def bind_socket(host: str, port: int) -> socket.socket:
    """A bound socket, so the real port is known before the server starts (port 0 = any free)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def base_url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}/v1"


def make_server(app: FakeUpstreamApp, **config) -> _Server:
    options = {
        "lifespan": "off",
        # Leave the process's logging alone (levels, handlers): the product's server shares
        # uvicorn's loggers. delivery.py filters what a FakeUpstream thread would log.
        "log_level": None,
        "log_config": None,
        "access_log": False,
        "interface": "asgi3",
        "proxy_headers": False,
        "server_header": False,
        "ws": "none",
        "timeout_graceful_shutdown": 2,
        # As nginx in front of a real relay (75 s): longer than the product keeps an idle
        # connection (upstream.KEEPALIVE_SECONDS), so the fake never closes one just as a
        # request goes out on it (uvicorn's 5 s did, under the bench's load).
        "timeout_keep_alive": 75,
        **config,
    }
    return _Server(uvicorn.Config(app, **options), app)


class FakeUpstream:
    """`FakeUpstream(port=0).start()` serves the fake in a thread until `stop()`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, token_delay_ms: float = 0) -> None:
        self.host = host
        self.port = port
        self.state = FakeState()
        self.app = FakeUpstreamApp(self.state, token_delay_ms)
        self.base_url = ""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def token_delay_ms(self) -> float:
        return self.app.token_delay_ms

    @token_delay_ms.setter
    def token_delay_ms(self, value: float) -> None:
        self.app.token_delay_ms = value

    def start(self) -> "FakeUpstream":
        """Serve; returns self once the server accepts connections."""
        if self._thread is not None:
            raise RuntimeError("This FakeUpstream is already started.")
        sock = bind_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        self.base_url = base_url_of(sock)
        self.app.stopping = False
        self._server = make_server(self.app)
        self._thread = threading.Thread(
            target=self._serve,
            args=(self._server, sock),
            name=f"{THREAD_NAME_PREFIX}{self.port}",
            daemon=True,
        )
        self._thread.start()
        self._wait_started()
        return self

    @staticmethod
    def _serve(server: _Server, sock: socket.socket) -> None:
        try:
            asyncio.run(server.serve(sockets=[sock]), loop_factory=server.config.get_loop_factory())
        finally:
            sock.close()

    def _wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"The fake upstream did not start on {self.base_url}.")
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop serving; open streams (stalled ones too) end at once. Safe to call twice."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        thread.join(STOP_TIMEOUT)
        if thread.is_alive():
            server.force_exit = True
            thread.join(STOP_TIMEOUT)
        self._server = self._thread = None

    def __enter__(self) -> "FakeUpstream":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def queue(self, *behaviours: str | dict) -> None:
        """Behaviours for the next POST /v1/responses, first in first out."""
        self.state.queue(*behaviours)

    @property
    def requests(self) -> list[dict]:
        """A snapshot of the received POST /v1/responses: {"json", "headers", "time",
        "body_bytes" (of the answer, sent so far)}."""
        return self.state.requests()

    def reset(self) -> None:
        self.state.reset()

    def forget_responses(self, always: bool = False) -> None:
        """Forget the response ids produced so far (lookups of them now fail as "not found");
        with always=True every previous_response_id lookup fails until reset()."""
        self.state.forget_responses(always=always)
