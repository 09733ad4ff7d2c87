"""The pieces of the benchmark's stack, shared by a plain run (bench/run.py) and a run comparing
worker counts (bench/workers.py): the environment, the database's users, the fake upstream, a
server process, the warm-up; and what is printed between phases."""

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from bench import phases
from bench.procs import Children, wait_http, wait_quiet

ROOT = Path(__file__).resolve().parent.parent
APP = "chatsite.asgi:application"


def python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def server_env(args, database_url: str, fake_url: str, **more: str) -> dict:
    """The environment of the server, the fake and the bench's own helpers."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_DEBUG": "0",
        "RESPONSES_API_KEY": "bench",
        "RESPONSES_API_BASE_URL": fake_url,
        "UPSTREAM_MAX_RETRIES": "0",
        "PYTHONUNBUFFERED": "1",
        # Each server process the bench starts is one worker (with --workers, N of them on N
        # ports, as N machines would run them), whatever WORKERS `make` exported.
        "WORKERS": "1",
        **more,
        **dict(item.split("=", 1) for item in args.env),
    }


def make_users(children: Children, env: dict, users: int, where: str) -> list[dict]:
    """Migrates the database and makes `users` users, each with a logged-in session."""
    step("database", f"migrating {where} and making {users} users with sessions")
    out = children.run("setup_db", [python(), "bench/setup_db.py", str(users)], env, ROOT, 300)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def start_fake(args, children: Children, env: dict, port: int) -> subprocess.Popen:
    step("fake upstream", f"127.0.0.1:{port}, {args.delay_ms} ms between tokens")
    fake = children.start(
        "fake_upstream",
        [
            python(),
            "manage.py",
            "fake_upstream",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--token-delay-ms",
            str(args.delay_ms),
        ],
        env,
        ROOT,
    )
    wait_http(f"http://127.0.0.1:{port}/__fake__/requests", fake)
    return fake


def start_server(
    args, children: Children, env: dict, port: int, name: str = "server", app: str = APP
) -> subprocess.Popen:
    """One uvicorn process serving one worker on `port`, ready to answer."""
    step(name, f"uvicorn {app} --workers 1 --lifespan {args.lifespan} on 127.0.0.1:{port}")
    server = children.start(
        name,
        [
            python(),
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--no-access-log",
            "--lifespan",
            args.lifespan,
            "--timeout-graceful-shutdown",
            "5",
        ],
        env,
        ROOT,
    )
    wait_http(f"http://127.0.0.1:{port}/health/", server, timeout=60)
    return server


def warm_up(ctx: phases.Context) -> None:
    count = 5 * len(ctx.ports)
    step("warm-up", f"{count} conversations (imports, templates, connections)")
    phases.run_loadgen(ctx, "warmup", [i * 0.05 for i in range(count)])


def code_version() -> str:
    """The commit measured, and whether the work tree differed from it (read-only git)."""
    git = shutil.which("git")
    if git is None:
        return "unknown"
    head = subprocess.run(  # noqa: S603 (git found on PATH, fixed arguments)
        [git, "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    changed = subprocess.run(  # noqa: S603
        [git, "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    return f"{head} + {len(changed)} changed files" if changed else head


def server_log_notes(path: Path, keep_as: Path) -> list[str]:
    """Counts of errors in the server's log, the kinds of exception, and a copy of the log
    next to the results (bench-results/server.log) so that they can be read after the run."""
    text = path.read_text(errors="replace") if path.exists() else ""
    keep_as.parent.mkdir(parents=True, exist_ok=True)
    keep_as.write_text(text)
    notes = []
    for word in ("Traceback", "ERROR", "WARNING"):
        count = text.count(word)
        if count:
            notes.append(f"server log: {count} lines with {word} (copied to {keep_as})")
    kinds = Counter(
        line.split(":")[0].strip()
        for line in text.splitlines()
        if re.match(r"^[\w.]+(Error|Exception|Exit|Interrupt)\b", line)
    )
    for kind, count in kinds.most_common(5):
        notes.append(f"server log: {count} x {kind}")
    return notes


def step(name: str, detail: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {detail}", flush=True)


def settle(ctx: phases.Context) -> None:
    """Before a phase: wait (at most 60 s) until the machine is quiet, and say if it is not."""
    busy = wait_quiet()
    if busy > 0.25:
        ctx.notes.append(
            f"the machine was busy with other work before a phase ({busy:.1f} cores "
            "in use): expect worse figures"
        )
        step("warning", f"{busy:.1f} cores busy with other work; measuring anyway")
