"""`make bench`: the chat server under load, against its targets. See bench/README.md.

Starts, on 127.0.0.1 only: a temporary database with N logged-in users, the fake upstream and
the real server (uvicorn, one worker) as their own processes; then runs the phases (burst,
steady, cpu), prints the figures with PASS/FAIL and writes bench-results/latest.json. Every
child process is ended at the end, whatever happens."""

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import phases  # noqa: E402
from bench.calibrate import reference_ms  # noqa: E402
from bench.procs import Children, free_port, get_json, memory_mb, wait_http, wait_quiet  # noqa: E402
from bench.report import judge, print_report  # noqa: E402
from bench.stats import BenchDB  # noqa: E402

FULL = {"burst": 200, "steady_seconds": 25.0, "cpu_streams": 200}
QUICK = {"burst": 50, "steady_seconds": 10.0, "cpu_streams": 50}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 in the burst, 10 s steady")
    parser.add_argument(
        "--only",
        choices=["burst", "steady", "cpu"],
        action="append",
        help="run only this phase (may be repeated)",
    )
    parser.add_argument("--tokens", type=int, default=300, help="tokens per reply")
    parser.add_argument("--delay-ms", type=int, default=20, help="ms between tokens")
    parser.add_argument(
        "--rate",
        type=float,
        default=200 / 6,
        help="steady arrivals per second (default 200/6: ~200 in flight)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    parser.add_argument(
        "--py-spy",
        metavar="PATH",
        help="a py-spy binary: profile the server in each phase (implies --keep)",
    )
    parser.add_argument(
        "--py-spy-rate", type=int, default=100, help="py-spy samples per second (default 100)"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the server and the fake (experiments, e.g. "
        "REPLY_FLUSH_INTERVAL=2); may be repeated",
    )
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "latest.json"))
    return parser.parse_args()


def python() -> str:
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def main() -> int:
    args = parse_args()
    sizes = QUICK if args.quick else FULL
    wanted = args.only or ["burst", "steady", "cpu"]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` runs
    tmp = Path(tempfile.mkdtemp(prefix="bench-", dir="/tmp"))
    children = Children(tmp)
    failed = True
    try:
        results = run(args, sizes, wanted, tmp, children)
        checks = judge(results)
        results["checks"] = checks
        print_report(results, checks)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        print(f"\nResults written to {out}")
        failed = False
        return 0
    finally:
        children.stop_all()
        if failed or args.keep or args.py_spy:
            print(f"Logs and database kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def start_stack(
    args, tmp: Path, children: Children, users: int, app: str = "chatsite.asgi:application"
) -> phases.Context:
    """The database, the fake upstream and the server, each ready; returns the phases' context."""
    fake_port, server_port = free_port(), free_port()
    db_path = tmp / "db.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db_path}",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_DEBUG": "0",
        "RESPONSES_API_KEY": "bench",
        "RESPONSES_API_BASE_URL": f"http://127.0.0.1:{fake_port}/v1",
        "UPSTREAM_MAX_RETRIES": "0",
        "PYTHONUNBUFFERED": "1",
        **dict(item.split("=", 1) for item in args.env),
    }
    step("database", f"migrating {db_path} and making {users} users with sessions")
    out = children.run("setup_db", [python(), "bench/setup_db.py", str(users)], env, ROOT, 300)
    sessions = [json.loads(line) for line in out.splitlines() if line.strip()]

    step("fake upstream", f"127.0.0.1:{fake_port}, {args.delay_ms} ms between tokens")
    fake = children.start(
        "fake_upstream",
        [
            python(),
            "manage.py",
            "fake_upstream",
            "--host",
            "127.0.0.1",
            "--port",
            str(fake_port),
            "--token-delay-ms",
            str(args.delay_ms),
        ],
        env,
        ROOT,
    )
    wait_http(f"http://127.0.0.1:{fake_port}/__fake__/requests", fake)

    step("server", f"uvicorn {app} --workers 1 on 127.0.0.1:{server_port}")
    server = children.start(
        "server",
        [
            python(),
            "-m",
            "uvicorn",
            app,
            "--host",
            "127.0.0.1",
            "--port",
            str(server_port),
            "--workers",
            "1",
            "--no-access-log",
            "--lifespan",
            "on",
            "--timeout-graceful-shutdown",
            "5",
        ],
        env,
        ROOT,
    )
    wait_http(f"http://127.0.0.1:{server_port}/health/", server)
    ctx = phases.Context(
        root=ROOT,
        tmp=tmp,
        children=children,
        env=env,
        db=BenchDB(db_path),
        sessions=sessions,
        server_pid=server.pid,
        server_port=server_port,
        fake_pid=fake.pid,
        fake_url=f"http://127.0.0.1:{fake_port}/v1",
        tokens=args.tokens,
        delay_ms=args.delay_ms,
        py_spy=args.py_spy,
        py_spy_rate=args.py_spy_rate,
    )
    step("warm-up", "5 conversations (imports, templates, connections)")
    phases.run_loadgen(ctx, "warmup", [i * 0.05 for i in range(5)])
    return ctx


def run(args, sizes: dict, wanted: list[str], tmp: Path, children: Children) -> dict:
    users = max(sizes["burst"], sizes["cpu_streams"], 200 if args.quick else 400)
    reference_at_start = reference_ms()
    ctx = start_stack(args, tmp, children, users)
    results: dict = {
        "setup": {
            "mode": "quick" if args.quick else "full",
            "cores": os.cpu_count(),
            "tokens": args.tokens,
            "delay_ms": args.delay_ms,
            "reply_seconds": ctx.reply_seconds,
            "users": users,
            "loadgen": "raw HTTP/1.1 on asyncio streams + uvloop, one process",
            "baseline": "httpx + httpx-sse AsyncClient + uvloop, one process",
            "server_pid": ctx.server_pid,
            "extra_env": args.env,
            "code": code_version(),
            "reference_ms": {"start": reference_at_start},
        }
    }
    if "burst" in wanted:
        settle(ctx)
        step("burst", f"{sizes['burst']} sends at once")
        results["burst"] = phases.burst(ctx, sizes["burst"])
    if "steady" in wanted:
        settle(ctx)
        step(
            "steady",
            f"{args.rate:.1f} sends/s for {sizes['steady_seconds']:.0f} s, then "
            "the same schedule straight to the fake",
        )
        results["steady"] = phases.steady(ctx, sizes["steady_seconds"], args.rate)
    if "cpu" in wanted:
        settle(ctx)
        step("cpu", f"{sizes['cpu_streams']} concurrent streams via the server, then direct")
        results["cpu"] = phases.cpu(ctx, sizes["cpu_streams"], spread=1.0)
    results["memory"] = memory_mb(ctx.server_pid)
    results["setup"]["reference_ms"]["end"] = reference_ms()  # (the stack idle by now)
    results["fake_requests_logged"] = len(
        get_json(ctx.fake_url.removesuffix("/v1") + "/__fake__/requests")
    )
    log_copy = Path(args.out).parent / "server.log"
    results["notes"] = ctx.notes + server_log_notes(tmp / "server.log", log_copy)
    return results


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


if __name__ == "__main__":
    sys.exit(main())
