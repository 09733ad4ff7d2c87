"""The server process's life on a real uvicorn subprocess (`--lifespan on`, as served) sharing
the test database: start-up recovery, the drain on SIGTERM (within and past the grace), the
stale sweep after a SIGKILL, the refusal of several workers without Redis, and an import of the
ASGI module that writes nothing."""

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.db import connection

from conversations.models import Reply
from tests.conftest import TERMINAL, free_port, logged_in_http
from tests.test_recovery import generating_reply

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parent.parent
# uvicorn ends a graceful stop by raising the signal it received again (systemd counts that a
# clean stop).
STOPPED = (0, -signal.SIGTERM)


def database_url() -> str:
    """The test database, for the server processes."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"


def server_env(fake_upstream, **extra) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REDIS_URL", "WORKERS", "DATABASE_URL")
    }
    env.update(
        DATABASE_URL=database_url(),
        DJANGO_SECRET_KEY=settings.SECRET_KEY,  # sessions made here sign in there
        RESPONSES_API_KEY="sk-test-secret-key-0123456789",
        RESPONSES_API_BASE_URL=fake_upstream.base_url,
        REPLY_FLUSH_INTERVAL="0.2",
        PYTHONUNBUFFERED="1",
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


class ServerProcess:
    """`uvicorn chatsite.asgi:application --lifespan on` in a process of its own."""

    def __init__(self, env: dict[str, str], log: Path):
        self.port = free_port()
        self.log_path = log
        self.log = open(log, "wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "chatsite.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--lifespan",
                "on",
                "--timeout-graceful-shutdown",
                "1",
                "--no-access-log",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60) -> "ServerProcess":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}: {self.output()}")
            try:
                if httpx.get(f"{self.url}/health/", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready in {timeout} s: {self.output()}")

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


@pytest.fixture
def servers(tmp_path):
    started: list[ServerProcess] = []

    def start(env: dict[str, str]) -> ServerProcess:
        server = ServerProcess(env, tmp_path / f"server-{len(started)}.log")
        started.append(server)
        return server.wait_ready()

    yield start
    for server in started:
        server.close()


def send(server, user, message: str) -> Reply:
    client = logged_in_http(server, user)
    try:
        response = client.post(
            "/send/",
            data={
                "message": message,
                "conversation": "",
                "client_token": str(uuid.uuid4()),
                "model": "gpt-5.5",
                "truncation": "auto",
            },
            headers={"HX-Request": "true"},
        )
    finally:
        client.close()
    assert response.status_code == 200, response.text
    return Reply.objects.filter(user=user).order_by("-created_at").first()


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout} s: {what}")


def writing(reply: Reply) -> Reply:
    """Waits until the reply's worker has written some of its text."""
    return wait_until(
        lambda: (r := Reply.objects.get(pk=reply.pk)).text and r.status == "in_progress" and r,
        30,
        "the reply's first text in the database",
    )


def ended(reply: Reply, timeout: float) -> Reply:
    return wait_until(
        lambda: (r := Reply.objects.get(pk=reply.pk)).status in TERMINAL and r,
        timeout,
        f"reply {reply.pk} ended",
    )


def test_sigterm_lets_a_reply_in_progress_finish_within_the_grace(servers, alice, fake_upstream):
    server = servers(server_env(fake_upstream, SHUTDOWN_GRACE_SECONDS=60))
    reply = send(server, alice, "[[fake:ok tokens=40 delay_ms=75]] Tell me")
    writing(reply)

    server.signal(signal.SIGTERM)

    assert server.wait(60) in STOPPED, server.output()
    reply.refresh_from_db()
    assert reply.status == Reply.Status.COMPLETED
    assert len(reply.text.split()) == 40  # the whole reply, not what was flushed at SIGTERM


def test_sigterm_past_the_grace_ends_the_reply_interrupted_with_its_text(
    servers, alice, fake_upstream
):
    server = servers(server_env(fake_upstream, SHUTDOWN_GRACE_SECONDS=1))
    reply = send(server, alice, "[[fake:ok tokens=600 delay_ms=50]] Tell me")
    writing(reply)

    server.signal(signal.SIGTERM)

    assert server.wait(30) in STOPPED, server.output()
    reply.refresh_from_db()
    assert reply.status == Reply.Status.INTERRUPTED
    assert reply.error_code == "server_restart"
    assert reply.text and len(reply.text.split()) < 600
    assert reply.usage_estimated and reply.output_tokens > 0
    assert reply.finished_at is not None
    assert not Reply.objects.generating().exists()


def test_a_killed_workers_reply_is_ended_by_another_process_sweep(servers, alice, fake_upstream):
    quick = {"REPLY_STALE_AFTER": 2, "REPLY_SWEEP_INTERVAL": 0.5}
    # The sweeping process starts first: its start-up recovery has nothing to do.
    sweeper = servers(server_env(fake_upstream, **quick))
    doomed = servers(server_env(fake_upstream, **quick))
    reply = send(doomed, alice, "[[fake:ok tokens=600 delay_ms=50]] Tell me")
    text_before = writing(reply).text

    doomed.signal(signal.SIGKILL)
    doomed.wait(10)

    reply = ended(reply, 30)
    assert reply.status == Reply.Status.INTERRUPTED
    assert reply.error_code == "server_restart"
    assert reply.text.startswith(text_before)
    assert reply.usage_estimated and reply.output_tokens > 0
    assert sweeper.proc.poll() is None


def test_several_workers_without_redis_are_refused_at_start(tmp_path, fake_upstream):
    env = server_env(fake_upstream, WORKERS=2)

    check = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert check.returncode != 0
    assert "chatsite.E001" in check.stderr and "Set REDIS_URL" in check.stderr

    # A worker started anyway (without `make run`'s check) refuses in its lifespan start-up.
    server = ServerProcess(env, tmp_path / "server.log")
    try:
        assert server.wait(60) != 0
        assert "Set REDIS_URL" in server.output()
    finally:
        server.close()


def orphan(user) -> Reply:
    """A reply left generating by a process of this host that is gone."""
    return generating_reply(user, f"{socket.gethostname()}:{dead_pid()}")


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_importing_the_asgi_module_writes_nothing_and_starts_no_thread(alice, fake_upstream):
    reply = orphan(alice)
    code = (
        "import threading, chatsite.asgi; "
        "print(threading.active_count(), type(chatsite.asgi.application).__name__)"
    )

    imported = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=server_env(fake_upstream),
        capture_output=True,
        text=True,
        check=True,
    )

    assert imported.stdout.split() == ["1", "Site"]
    reply.refresh_from_db()
    assert reply.status == Reply.Status.IN_PROGRESS


def test_recovery_is_explicit_by_command_or_lifespan_start_up(servers, alice, fake_upstream):
    orphans = [orphan(alice), orphan(alice)]
    env = server_env(fake_upstream)

    recovered = subprocess.run(
        [sys.executable, "manage.py", "recover_replies"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert recovered.stdout.strip() == "2 interrupted replies recovered"
    again = subprocess.run(
        [sys.executable, "manage.py", "recover_replies"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert again.stdout.strip() == "0 interrupted replies recovered"
    assert all(Reply.objects.get(pk=o.pk).status == Reply.Status.INTERRUPTED for o in orphans)

    left = orphan(alice)
    servers(env)  # ready once its lifespan start-up is complete
    left.refresh_from_db()
    assert left.status == Reply.Status.INTERRUPTED
    assert left.text == "Once upon a" and left.usage_estimated
