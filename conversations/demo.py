"""Demo mode: with no API key configured, replies come from the product's own fake upstream,
started once per process on a free loopback port the first time a reply is requested."""

import threading

from django.conf import settings

_lock = threading.Lock()
_server = None


def demo_upstream_url() -> str:
    global _server
    with _lock:
        if _server is None:
            from conversations.fake_upstream import FakeUpstream

            _server = FakeUpstream(
                host="127.0.0.1", port=0, token_delay_ms=settings.DEMO_TOKEN_DELAY_MS
            ).start()
        return _server.base_url
