"""Shared fixtures: the fake upstream over real HTTP, personas (alice owns, bob is another
user), a real uvicorn server for streaming and browser tests."""

import asyncio
import socket
import threading
import time

import pytest
from django.test import Client

from conversations.fake_upstream import FakeUpstream
from conversations.models import Reply

PASSWORD = "correct horse battery staple"


def pytest_configure(config):
    """Pages are rendered with the production static storage (hashed names from a manifest),
    so collect the static files once if they are missing or older than their sources."""
    import django
    from django.conf import settings

    django.setup()
    manifest = settings.STATIC_ROOT / "staticfiles.json"
    sources = [p for p in settings.STATICFILES_DIRS[0].rglob("*") if p.is_file()]
    newest = max(p.stat().st_mtime for p in sources)
    if not manifest.exists() or manifest.stat().st_mtime < newest:
        from django.core.management import call_command

        call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(scope="session", autouse=True)
def close_worker_connections(django_db_setup, django_db_blocker):
    """Close what a thread of the server may still hold before the test database is dropped
    (PostgreSQL refuses to drop a database in use)."""
    yield
    from asgiref.sync import sync_to_async
    from django.db import connections

    with django_db_blocker.unblock():
        asyncio.run(sync_to_async(connections.close_all)())
        connection = connections["default"]
        if connection.vendor == "postgresql":
            # Any connection another thread still holds would stop the test database's drop.
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture(scope="session")
def fake_upstream_server():
    server = FakeUpstream(host="127.0.0.1", port=0, token_delay_ms=0).start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fake_upstream(fake_upstream_server, settings):
    """Every test talks to the fake upstream as a configured relay (not demo mode)."""
    fake_upstream_server.reset()
    settings.RESPONSES_API_KEY = "sk-test-secret-key-0123456789"
    settings.RESPONSES_API_BASE_URL = fake_upstream_server.base_url
    settings.DEMO_MODE = False
    settings.UPSTREAM_MAX_RETRY_WAIT = 2.0
    settings.REPLY_FLUSH_INTERVAL = 0.2
    # The relay's health as the last test left it must not show on this test's pages.
    from conversations import relay_status

    relay_status.forget()
    # Nor the model catalogue a rolled-back test left in this process's copy.
    from conversations.models.usage import forget_catalogue

    forget_catalogue()
    yield fake_upstream_server
    fake_upstream_server.reset()


@pytest.fixture
def alice(django_user_model):
    return django_user_model.objects.create_user("alice", password=PASSWORD)


def logged_in_http(server, user, timeout: float = 10):
    """An httpx client logged in as `user` against the real server, CSRF header set."""
    import httpx

    django_client = Client()
    django_client.force_login(user)
    client = httpx.Client(base_url=server.url, timeout=timeout)
    client.cookies.set("sessionid", django_client.cookies["sessionid"].value)
    client.get("/")
    client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
    return client


@pytest.fixture
def browser_session(asgi_server, alice):
    """alice, logged in, talking HTTP to the real server (chatsite/asgi.py's handler)."""
    client = logged_in_http(asgi_server, alice)
    yield client
    client.close()


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", password=PASSWORD)


@pytest.fixture
def alice_client(alice):
    client = Client()
    client.force_login(alice)
    return client


@pytest.fixture
def bob_client(bob):
    client = Client()
    client.force_login(bob)
    return client


TERMINAL = {s for s in Reply.Status.values if s not in Reply.GENERATING}


async def wait_for_reply(reply_id, timeout: float = 10.0) -> Reply:
    """Waits until a reply has ended (its task stored the outcome) and returns it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = await Reply.objects.aget(pk=reply_id)
        if reply.status in TERMINAL:
            return reply
        await asyncio.sleep(0.02)
    raise AssertionError(f"reply {reply_id} still {reply.status} after {timeout}s")


def wait_for_reply_sync(reply_id, timeout: float = 10.0) -> Reply:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        reply = Reply.objects.get(pk=reply_id)
        if reply.status in TERMINAL:
            return reply
        time.sleep(0.02)
    raise AssertionError(f"reply {reply_id} still {reply.status} after {timeout}s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class UvicornThread:
    """The site served by a real uvicorn (ASGI) in a thread of the test process, so it shares
    the test database and settings."""

    def __init__(self):
        import uvicorn

        from chatsite.asgi import get_application  # the handler the server runs

        self.port = free_port()
        config = uvicorn.Config(
            get_application(),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            proxy_headers=False,  # as served (README, "Deploying"): TRUSTED_PROXIES decides
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def stop(self):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def asgi_server(transactional_db):
    server = UvicornThread().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def default_language():
    """Django's LocaleMiddleware activates a request's language in the test's own thread and
    nothing deactivates it, so a test that asks for Chinese would leave later tests' gettext in
    Chinese, depending on the order they run in."""
    yield
    from django.utils import translation

    translation.deactivate()


@pytest.fixture(autouse=True)
def attachment_files(tmp_path, monkeypatch):
    """Attachments of a test are stored in its own temporary directory (files written by a
    test whose rows roll back would otherwise stay in var/). Returns the storage."""
    from django.core.files.storage import FileSystemStorage

    from conversations.models import Attachment

    storage = FileSystemStorage(location=tmp_path / "attachments")
    monkeypatch.setattr(Attachment._meta.get_field("file"), "storage", storage)
    return storage
