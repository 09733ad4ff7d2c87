"""The harness of tests/test_multiserver.py: the site as it runs in production, in pieces of the
test's own. A PostgreSQL database (created, migrated with `manage.py migrate`, dropped at the
end), a redis-server on a free port (so a test can restart it), the fake relay, two real uvicorn
servers A and B as subprocesses (and nginx in front of them when a test asks), people signed in
through sessions made directly in that database, and browsers that follow a reply's stream the
way htmx's SSE extension does (reconnecting when a stream is cut).

Every process is started in a session of its own and ended with its whole process group."""

import html
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
POSTGRES = "postgres://postgres@127.0.0.1:5432"
RELAY_KEY = "sk-multiserver-test-key-0123456789"
GENERATING = ("queued", "in_progress")  # Reply.GENERATING

# The settings every server of these tests gets, unless a test asks otherwise: short enough
# that a killed server's replies are found within seconds, and no retries before the first
# token (a relay error ends a reply at once, so Retry has something to retry).
SERVER_DEFAULTS = {
    "SHUTDOWN_GRACE_SECONDS": "30",
    "REPLY_STALE_AFTER": "6",
    "REPLY_SWEEP_INTERVAL": "1",
    "UPSTREAM_MAX_RETRIES": "0",
}


# --- What the machine must have ---------------------------------------------------------------


def executable(name: str) -> str | None:
    """The program's path; nginx lives in /usr/sbin, which a user's PATH may not list."""
    return shutil.which(name) or shutil.which(name, path="/usr/local/sbin:/usr/sbin:/sbin")


def postgres_reachable() -> bool:
    import psycopg

    try:
        with psycopg.connect(f"{POSTGRES}/postgres", connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def missing_services() -> str | None:
    """Why these tests cannot run here, or None. (nginx is checked by its own test.)"""
    if not postgres_reachable():
        return "no PostgreSQL at 127.0.0.1:5432 (user postgres, trust)"
    if executable("redis-server") is None:
        return "no redis-server on PATH"
    if not (VENV_BIN / "uvicorn").exists():
        return f"no {VENV_BIN / 'uvicorn'} (run make setup-dev)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(condition, timeout: float, interval: float = 0.05):
    """condition()'s first true value within `timeout` seconds, else its last (false) one."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# --- Processes ----------------------------------------------------------------------------------


class Processes:
    """Children in sessions of their own, each logging to a file; stop_all() ends every group."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.running: list[subprocess.Popen] = []
        self.started = 0

    def start(self, name: str, argv: list[str], env: dict | None = None) -> subprocess.Popen:
        self.started += 1
        log_path = self.log_dir / f"{self.started:02d}-{name}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc.name = name
        proc.log_path = log_path
        self.running.append(proc)
        return proc

    def run(self, name: str, argv: list[str], env: dict, timeout: float = 120) -> str:
        """Runs a child to its end; its standard output, or an error with its log's tail."""
        proc = subprocess.run(
            argv, cwd=ROOT, env=env, capture_output=True, timeout=timeout, check=False
        )
        if proc.returncode != 0:
            output = proc.stderr.decode(errors="replace")[-3000:]
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{output}")
        return proc.stdout.decode()

    @staticmethod
    def signal(proc: subprocess.Popen, sig: int) -> None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self, proc: subprocess.Popen, grace: float = 10.0) -> None:
        if proc.poll() is None:
            self.signal(proc, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.signal(proc, signal.SIGKILL)
                proc.wait(5)
        self.signal(proc, signal.SIGKILL)  # whatever the leader left in its group
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.running)):
            try:
                self.stop(proc, grace=5.0)
            except Exception as error:  # keep ending the others
                print(f"could not stop {proc.name} ({proc.pid}): {error}", file=sys.stderr)


def log_tail(proc: subprocess.Popen, chars: int = 2500) -> str:
    try:
        return Path(proc.log_path).read_text(errors="replace")[-chars:]
    except OSError:
        return ""


# --- PostgreSQL ---------------------------------------------------------------------------------


class Database:
    """A database of the test module's own on the machine's PostgreSQL."""

    def __init__(self) -> None:
        self.name = f"multiserver_{os.getpid()}_{secrets.token_hex(3)}"
        self.url = f"{POSTGRES}/{self.name}"
        self._connection = None

    def create(self) -> None:
        self._admin(f'CREATE DATABASE "{self.name}"')

    def drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    @staticmethod
    def _admin(sql: str) -> None:
        import psycopg

        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
            connection.execute(sql)

    def query(self, sql: str, *params) -> list[dict]:
        import psycopg
        from psycopg.rows import dict_row

        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self.url, autocommit=True, row_factory=dict_row)
        return self._connection.execute(sql, params).fetchall()

    def reply(self, reply_id: str) -> dict:
        rows = self.query(
            "SELECT id, status, text, error_code, usage_estimated, output_tokens, worker, "
            "retry_of_id, conversation_id, finished_at FROM conversations_reply WHERE id = %s",
            reply_id,
        )
        assert rows, f"reply {reply_id} is not in the database"
        row = rows[0]
        row["id"], row["conversation_id"] = str(row["id"]), str(row["conversation_id"])
        return row

    def replies_of_turn(self, reply_id: str) -> list[dict]:
        """The versions of the reply's turn (itself included), oldest first."""
        return self.query(
            "SELECT r.id::text AS id, r.status, r.text, r.retry_of_id::text AS retry_of_id "
            "FROM conversations_reply r JOIN conversations_reply o "
            "ON r.conversation_id = o.conversation_id AND r.position = o.position "
            "WHERE o.id = %s ORDER BY r.created_at",
            reply_id,
        )


def make_users(count: int) -> None:
    """Run as a child process against the test's database: `count` people, each with a session
    made directly in the session store (no login form, no password hashing), printed as JSON."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    django.setup()
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.auth.hashers import make_password

    store = import_module(settings.SESSION_ENGINE).SessionStore
    people = []
    unusable = make_password(None)
    for index in range(count):
        user = get_user_model().objects.create(username=f"multi{index:03d}", password=unusable)
        session = store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "conversations.company_sign_in.backends.LocalPasswordBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        people.append({"user": user.username, "sessionid": session.session_key})
    print(json.dumps(people))  # the last line of the output: Site.start reads it


# --- The site's processes -----------------------------------------------------------------------


class Redis:
    """A redis-server of the tests' own, without persistence: a restart starts it empty."""

    def __init__(self, processes: Processes) -> None:
        self.processes = processes
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        argv = [executable("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
        self.proc = self.processes.start("redis", argv)
        if not wait_until(lambda: port_open(self.port) or self.proc.poll() is not None, 10):
            raise RuntimeError(
                f"redis-server did not listen on {self.port}:\n{log_tail(self.proc)}"
            )
        if self.proc.poll() is not None:
            raise RuntimeError(f"redis-server exited:\n{log_tail(self.proc)}")

    def stop(self) -> None:
        if self.proc is not None:
            self.processes.stop(self.proc)


class Server:
    """One uvicorn process serving the site (the production command, one worker)."""

    def __init__(self, site: "Site", name: str, port: int | None = None) -> None:
        self.site, self.name = site, name
        self.port = port or free_port()
        self.proc: subprocess.Popen | None = None
        self.settings: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, **settings: str) -> "Server":
        self.settings = {**SERVER_DEFAULTS, **{k: str(v) for k, v in settings.items()}}
        env = {**self.site.env(), **self.settings}
        # As deployed: the lifespan on (start-up recovery, the sweep, the drain on SIGTERM) and
        # open streams cut 3 s after SIGTERM, so their browsers move to another server.
        argv = [str(VENV_BIN / "uvicorn"), "chatsite.asgi:application", "--host", "127.0.0.1"]
        argv += ["--port", str(self.port), "--lifespan", "on"]
        argv += ["--timeout-graceful-shutdown", "3", "--no-access-log"]
        self.proc = self.site.processes.start(f"server-{self.name}", argv, env)
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = 40) -> None:
        def answered():
            if self.proc.poll() is not None:
                return "exited"
            try:
                response = httpx.get(f"{self.url}/health/", timeout=2)
            except httpx.HTTPError:
                return None
            return "ready" if response.status_code == 200 else None

        outcome = wait_until(answered, timeout, 0.1)
        if outcome != "ready":
            why = "exited" if outcome == "exited" else f"did not answer within {timeout:.0f} s"
            raise RuntimeError(f"server {self.name} {why}:\n{log_tail(self.proc)}")

    def ensure(self, **settings: str) -> "Server":
        """Running with exactly these settings (over SERVER_DEFAULTS): restarted if not."""
        wanted = {**SERVER_DEFAULTS, **{k: str(v) for k, v in settings.items()}}
        if self.running and self.settings == wanted:
            return self
        self.stop()
        return self.start(**settings)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def signal(self, sig: int) -> None:
        """To the server's whole process group (uvicorn and anything it started)."""
        Processes.signal(self.proc, sig)

    def wait_exit(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        if self.proc is not None:
            self.site.processes.stop(self.proc, grace=30)

    def log(self) -> str:
        return log_tail(self.proc) if self.proc else ""


SITE_FILE = ROOT / "deploy" / "nginx" / "chatsite.conf"


def nginx_block_end(text: str, start: int) -> int:
    """Where the block whose header starts at `start` ends (after its closing brace)."""
    depth = 0
    for position in range(start, len(text)):
        if text[position] == "{":
            depth += 1
        elif text[position] == "}":
            depth -= 1
            if depth == 0:
                return position + 1
    raise ValueError(f"a block without its end: {text[start : start + 60]!r}")


def nginx_blocks(text: str, header: str) -> list[str]:
    """The top-level blocks that start with `header` (e.g. "server"), braces included."""
    found = re.finditer(rf"^{re.escape(header)}\s*\{{", text, re.MULTILINE)
    return [text[m.start() : nginx_block_end(text, m.start())] for m in found]


def site_config(site_file: str, servers: list[str], port: int) -> str:
    """The repository's nginx site file as the tests run it: its upstream with the test's
    servers instead of the example addresses, and its HTTPS server's proxying (every location,
    every proxy setting) served over plain HTTP on a loopback port (no certificates here)."""
    (upstream,) = nginx_blocks(site_file, "upstream chatsite")
    kept = [line for line in upstream.splitlines()[1:-1] if not line.strip().startswith("server ")]
    # The example machines' parameters (max_fails, fail_timeout...) go to the test's servers.
    example = re.search(r"^\s*server\s+\S+([^;]*);", upstream, re.MULTILINE)
    parameters = example.group(1) if example else ""
    ours = [f"    server {server}{parameters};" for server in servers]
    upstream = "upstream chatsite {\n" + "\n".join(ours + kept) + "\n}"
    proxying = [block for block in nginx_blocks(site_file, "server") if "location /" in block]
    assert len(proxying) == 1, f"{SITE_FILE}: not one server block with locations"
    unwanted = ("listen ", "server_name ", "ssl_", "http2 ")
    lines = [
        line for line in proxying[0].splitlines()[1:-1] if not line.strip().startswith(unwanted)
    ]
    server = "server {\n" + f"    listen 127.0.0.1:{port};\n" + "\n".join(lines) + "\n}"
    return f"{upstream}\n\n{server}\n"


class Nginx:
    """nginx in the foreground, with the repository's site file (deploy/nginx/chatsite.conf)
    proxying to the given servers, in a prefix of its own."""

    MAIN = """
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/chatsite.conf;
}}
"""

    def __init__(self, site: "Site", servers: list[Server]) -> None:
        self.site = site
        self.port = free_port()
        # Not under pytest's private temporary folder: nginx's workers run as another user
        # when the master is root, and must reach their temporary files.
        self.prefix = Path(tempfile.mkdtemp(prefix="multiserver-nginx-"))
        self.prefix.chmod(0o755)
        addresses = [f"127.0.0.1:{server.port}" for server in servers]
        site_file = site_config(SITE_FILE.read_text(), addresses, self.port)
        (self.prefix / "chatsite.conf").write_text(site_file)
        (self.prefix / "nginx.conf").write_text(self.MAIN.format(prefix=self.prefix))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Nginx":
        argv = [executable("nginx"), "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")]
        argv += ["-e", str(self.prefix / "error.log"), "-g", "daemon off;"]
        self.proc = self.site.processes.start("nginx", argv)

        def answered():
            if self.proc.poll() is not None:
                return "exited"
            try:
                return "ready" if httpx.get(f"{self.url}/health/", timeout=2).is_success else None
            except httpx.HTTPError:
                return None

        if wait_until(answered, 15, 0.1) != "ready":
            errors = (self.prefix / "error.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"nginx did not start:\n{log_tail(self.proc)}\n{errors}")
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.site.processes.stop(self.proc)
        if (self.prefix / "error.log").exists():  # kept with the servers' logs
            shutil.copy(self.prefix / "error.log", self.site.tmp / "nginx-error.log")
        shutil.rmtree(self.prefix, ignore_errors=True)


class Site:
    """The database, Redis, the fake relay, servers A and B and the people who use them."""

    def __init__(self, tmp: Path, people: int) -> None:
        self.tmp = tmp
        self.processes = Processes(tmp)
        self.database = Database()
        self.redis = Redis(self.processes)
        self.fake_port = free_port()
        self.fake: subprocess.Popen | None = None
        self.people_wanted = people
        self.people: list[dict] = []
        self.a = Server(self, "A")
        self.b = Server(self, "B")
        self._next_person = 0

    @property
    def fake_url(self) -> str:
        return f"http://127.0.0.1:{self.fake_port}"

    def env(self) -> dict[str, str]:
        """The environment of every child: this site's database, Redis and relay."""
        env = {k: v for k, v in os.environ.items() if k not in ("WORKERS",)}
        env.update(
            DATABASE_URL=self.database.url,
            REDIS_URL=self.redis.url,
            RESPONSES_API_KEY=RELAY_KEY,
            RESPONSES_API_BASE_URL=f"{self.fake_url}/v1",
            DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost",
            PYTHONUNBUFFERED="1",
        )
        return env

    def start(self) -> "Site":
        self.database.create()
        python = str(VENV_BIN / "python")
        self.processes.run(
            "migrate", [python, "manage.py", "migrate", "--noinput", "-v0"], self.env()
        )
        code = f"from tests.multiserver import make_users; make_users({self.people_wanted})"
        output = self.processes.run("users", [python, "-c", code], self.env())
        self.people = json.loads(output.strip().splitlines()[-1])
        self.redis.start()
        fake_argv = [python, "manage.py", "fake_upstream", "--port", str(self.fake_port)]
        self.fake = self.processes.start("fake", [*fake_argv, "--token-delay-ms", "0"], self.env())
        ready = wait_until(lambda: port_open(self.fake_port) or self.fake.poll() is not None, 20)
        if not ready or self.fake.poll() is not None:
            raise RuntimeError(f"the fake relay did not start:\n{log_tail(self.fake)}")
        self.a.start()
        self.b.start()
        return self

    def stop(self) -> None:
        try:
            self.processes.stop_all()
        finally:
            self.database.drop()

    def person(self) -> "Browser":
        """Someone signed in who has not used the site yet in this module."""
        if self._next_person >= len(self.people):
            raise RuntimeError("every prepared person is used: make Site(people=...) bigger")
        person = self.people[self._next_person]
        self._next_person += 1
        return Browser(person["sessionid"])

    def queue_relay(self, *behaviours: dict) -> None:
        """What the fake relay does for its next requests, before it reads any directive."""
        response = httpx.post(
            f"{self.fake_url}/__fake__/queue", json={"behaviours": list(behaviours)}, timeout=5
        )
        response.raise_for_status()

    def relay_requests(self) -> list[dict]:
        return httpx.get(f"{self.fake_url}/__fake__/requests", timeout=5).json()

    def wait_ended(self, reply_id: str, timeout: float) -> dict:
        """The reply once it has ended (not queued or generating), or as it is after timeout."""
        reply = wait_until(
            lambda: (r := self.database.reply(reply_id))["status"] not in GENERATING and r,
            timeout,
            0.05,
        )
        return reply or self.database.reply(reply_id)

    def wait_text(self, reply_id: str, words: int = 5, timeout: float = 15) -> dict:
        """The reply once its stored (flushed) text has at least `words` words."""
        reply = wait_until(
            lambda: len((r := self.database.reply(reply_id))["text"].split()) >= words and r,
            timeout,
            0.05,
        )
        assert reply, (
            f"reply {reply_id} stored fewer than {words} words within {timeout} s: "
            f"{self.database.reply(reply_id)!r}"
        )
        return reply


# --- People and their browsers ------------------------------------------------------------------

REPLY_ID = re.compile(r'id="reply-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"')


class Browser:
    """One signed-in person: their session cookie and a CSRF cookie of their own (the secret
    itself, as Django accepts), sent as the header htmx sends."""

    def __init__(self, sessionid: str) -> None:
        self.sessionid = sessionid
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        self.csrf = "".join(secrets.choice(alphabet) for _ in range(32))

    def client(self, base_url: str, timeout: float = 15) -> httpx.Client:
        client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=5),
            headers={"X-CSRFToken": self.csrf},
        )
        client.cookies.set("sessionid", self.sessionid)
        client.cookies.set("csrftoken", self.csrf)
        return client

    def post(self, base_url: str, path: str, data: dict | None = None) -> httpx.Response:
        with self.client(base_url) as client:
            return client.post(path, data=data or {}, headers={"HX-Request": "true"})

    def send(self, base_url: str, message: str, conversation: str = "") -> str:
        """Sends a message as the composer does; the new reply's id."""
        data = {
            "message": message,
            "conversation": conversation,
            "client_token": str(__import__("uuid").uuid4()),
            "model": "gpt-5.5",
            "truncation": "auto",
        }
        response = self.post(base_url, "/send/", data)
        assert response.status_code == 200, (
            f"send on {base_url} answered {response.status_code}: {response.text[:500]}"
        )
        found = REPLY_ID.search(response.text)
        assert found, f"send on {base_url} answered without a reply: {response.text[:500]}"
        return found.group(1)

    def get(self, base_url: str, path: str) -> httpx.Response:
        with self.client(base_url) as client:
            return client.get(path)

    def follow(self, reply_id: str, *urls: str, reconnect: bool = True) -> "Viewer":
        """A viewer of the reply's stream, started: on the first URL, then (each time the
        stream is cut) the next one (the last one is kept)."""
        return Viewer(self, reply_id, list(urls), reconnect=reconnect).start()


# --- Following a reply's stream -----------------------------------------------------------------

PARTIAL = re.compile(
    r'<hx-partial hx-target="#([^"]+)" hx-swap="([^"]+)">(.*?)</hx-partial>', re.DOTALL
)
TAG = re.compile(r"<[^>]+>")


def plain_words(fragment: str) -> list[str]:
    """The words a person reads in an HTML fragment."""
    return html.unescape(TAG.sub(" ", fragment)).split()


def markdown_words(text: str) -> list[str]:
    """The words of a reply's stored text, as the page shows them (the filler replies of the
    fake relay are plain words and paragraph breaks)."""
    return text.split()


def body_of_reply_html(fragment: str, reply_id: str) -> str:
    """The reply body's inner HTML from the reply's article (or a page)."""
    start = re.search(rf'<div id="reply-{reply_id}-body"[^>]*>', fragment)
    assert start, f"no body of reply {reply_id} in: {fragment[:500]}"
    rest = fragment[start.end() :]
    # The body holds block elements only; it ends at its own closing tag, found by depth.
    depth, position = 1, 0
    for tag in re.finditer(r"<(/?)div\b[^>]*>", rest):
        depth += -1 if tag.group(1) else 1
        if depth == 0:
            position = tag.start()
            break
    return rest[:position]


@dataclass
class Connection:
    """One GET of the stream: where, what came, and how it ended."""

    url: str
    opened: float
    status: int | None = None
    messages: list[tuple[float, str]] = field(default_factory=list)
    texts: list[tuple[float, list[str]]] = field(default_factory=list)  # live text after each
    ending: str = ""  # "final", "note" (a sentence took the stream's place), "cut", "refused"
    closed: float | None = None


class ReplyView:
    """The part of the page that a reply's stream changes, as htmx would change it: the body
    (settled blocks and the live tail), the final article that replaces the reply, or the
    sentence that replaces the stream's element."""

    def __init__(self, reply_id: str) -> None:
        self.reply_id = reply_id
        self.settled: list[str] = []
        self.tail = ""
        self.final: str | None = None
        self.note: str | None = None

    def apply(self, data: str) -> None:
        rid = self.reply_id
        tail_open = f'<div id="reply-{rid}-tail" class="live-tail">'
        for target, swap, content in PARTIAL.findall(data):
            if target == f"reply-{rid}-body" and swap == "innerHTML":
                head, found, tail = content.partition(tail_open)
                assert found, f"a body without its live tail: {content[:300]}"
                assert tail.endswith("</div>"), f"the live tail is not last: {content[-300:]}"
                self.settled, self.tail = [head], tail.removesuffix("</div>")
            elif target == f"reply-{rid}-tail" and swap == "beforebegin":
                self.settled.append(content)
            elif target == f"reply-{rid}-tail" and swap == "innerHTML":
                self.tail = content
            elif target == f"reply-{rid}" and swap == "outerHTML":
                self.final = content
            elif target == f"reply-{rid}-live" and swap == "outerHTML":
                self.note = content

    def words(self) -> list[str]:
        return plain_words("".join(self.settled) + self.tail)


class Viewer:
    """Follows a reply's stream in a thread of its own, like htmx's SSE extension: on a stream
    that ends without the reply's end, or a refused connection, it GETs the stream again after
    0.5 s, doubling up to 8 s, with 30 % jitter (reset after a successful connection); it stops
    when the reply's final article or a sentence has taken the stream's place."""

    def __init__(self, browser: Browser, reply_id: str, urls: list[str], reconnect: bool) -> None:
        self.browser, self.reply_id, self.urls, self.reconnect = browser, reply_id, urls, reconnect
        self.view = ReplyView(reply_id)
        self.connections: list[Connection] = []
        self.done = threading.Event()
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"viewer-{reply_id}")

    def start(self) -> "Viewer":
        self.thread.start()
        return self

    def _run(self) -> None:
        attempt = 0
        try:
            while not self.stopping.is_set():
                url = self.urls[min(len(self.connections), len(self.urls) - 1)]
                connection = Connection(url, time.monotonic())
                self.connections.append(connection)
                self._read(connection)
                connection.closed = time.monotonic()
                if connection.ending in ("final", "note") or not self.reconnect:
                    return
                attempt = 1 if connection.status == 200 and connection.messages else attempt + 1
                delay = min(0.5 * 2 ** (attempt - 1), 8.0)
                self.stopping.wait(delay * random.uniform(0.7, 1.3))
        except BaseException as error:  # reported by the test that reads this viewer
            self.error = error
        finally:
            self.done.set()

    def _read(self, connection: Connection) -> None:
        path = f"/r/{self.reply_id}/stream/"
        try:
            with self.browser.client(connection.url, timeout=30) as client:
                with client.stream("GET", path, headers={"Accept": "text/event-stream"}) as answer:
                    connection.status = answer.status_code
                    if answer.status_code != 200:
                        connection.ending = "refused"
                        return
                    data: list[str] = []
                    for line in answer.iter_lines():
                        if self.stopping.is_set():
                            connection.ending = "closed by the test"
                            return
                        if line.startswith("data:"):
                            data.append(line[5:].removeprefix(" "))
                        elif line == "" and data:
                            self._message(connection, "\n".join(data))
                            data = []
                            if self.view.final is not None:
                                connection.ending = "final"
                            elif self.view.note is not None:
                                connection.ending = "note"
                    if not connection.ending:
                        connection.ending = "cut"
        except httpx.HTTPError as error:
            connection.ending = connection.ending or f"cut ({type(error).__name__})"

    def _message(self, connection: Connection, data: str) -> None:
        now = time.monotonic()
        connection.messages.append((now, data))
        self.view.apply(data)
        if self.view.final is None and self.view.note is None:
            connection.texts.append((now, self.view.words()))

    def wait(self, timeout: float) -> bool:
        return self.done.wait(timeout)

    def close(self) -> None:
        self.stopping.set()

    # What the viewer saw, for the tests' checks.

    @property
    def live_updates(self) -> int:
        return sum(len(c.texts) for c in self.connections)

    def summary(self) -> str:
        parts = []
        for index, c in enumerate(self.connections):
            words = len(c.texts[-1][1]) if c.texts else 0
            parts.append(
                f"#{index} {c.url} status={c.status} messages={len(c.messages)} "
                f"live_updates={len(c.texts)} last_words={words} ending={c.ending or 'open'}"
            )
        return "; ".join(parts) or "no connection"

    def final_words(self) -> list[str]:
        assert self.view.final is not None, f"the viewer saw no end: {self.summary()}"
        return plain_words(body_of_reply_html(self.view.final, self.reply_id))


def check_no_gap_no_repeat(viewer: Viewer, stored_text: str, who: str) -> None:
    """Every state of the live reply the viewer was shown is the start of the stored text (a
    gap or a repeated piece would break that), and within one connection it only grows."""
    expected = markdown_words(stored_text)
    for index, connection in enumerate(viewer.connections):
        shown_before = 0
        for _, words in connection.texts:
            if words:
                same = words[:-1] == expected[: len(words) - 1] and len(words) <= len(expected)
                same = same and expected[len(words) - 1].startswith(words[-1])
                if not same:
                    position = next(
                        (
                            i
                            for i, (a, b) in enumerate(zip(words, expected, strict=False))
                            if a != b
                        ),
                        min(len(words), len(expected)),
                    )
                    raise AssertionError(
                        f"{who} (connection #{index} on {connection.url}) showed text that is not "
                        f"the start of the stored reply: from word {position}, it shows "
                        f"{' '.join(words[position : position + 8])!r} where the reply has "
                        f"{' '.join(expected[position : position + 8])!r} (a gap or a repeat)"
                    )
            assert len(words) >= shown_before, (
                f"{who} (connection #{index}) went back from {shown_before} to {len(words)} "
                "words within one stream"
            )
            shown_before = len(words)


NORMALISE = [
    (re.compile(r'(name="csrfmiddlewaretoken" value=")[^"]*'), r"\1CSRF"),
    (re.compile(r'(name="client_token" value=")[^"]*'), r"\1TOKEN"),
    (re.compile(r'(nonce=")[^"]*'), r"\1NONCE"),
]


def normalised(fragment: str) -> str:
    """The HTML without what is legitimately different per request: CSRF tokens, the one-time
    form tokens and CSP nonces."""
    for pattern, replacement in NORMALISE:
        fragment = pattern.sub(replacement, fragment)
    return fragment
