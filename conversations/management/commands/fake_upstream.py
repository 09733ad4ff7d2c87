"""`manage.py fake_upstream`: serve the fake Responses API upstream in the foreground."""

import copy

from django.core.management.base import BaseCommand
from uvicorn.config import LOGGING_CONFIG

from conversations.fake_upstream.app import FakeUpstreamApp
from conversations.fake_upstream.server import base_url_of, bind_socket, make_server
from conversations.fake_upstream.state import FakeState


class Command(BaseCommand):
    help = "Serve the fake upstream (POST /v1/responses and /__fake__/ controls) until Ctrl+C."
    requires_system_checks = []
    requires_migrations_checks = False

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument(
            "--token-delay-ms", type=float, default=30.0, help="Pause between text deltas."
        )

    def handle(self, *args, host: str, port: int, token_delay_ms: float, **options) -> None:
        sock = bind_socket(host, port)
        app = FakeUpstreamApp(FakeState(), token_delay_ms=token_delay_ms)
        server = make_server(app, log_config=copy.deepcopy(LOGGING_CONFIG), log_level="info")
        self.stdout.write(f"Fake upstream serving at {base_url_of(sock)}  (Ctrl+C stops)")
        self.stdout.flush()
        try:
            server.run(sockets=[sock])
        finally:
            sock.close()
