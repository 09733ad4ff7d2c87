"""`make bench`: the chat server under load, against its targets. See bench/README.md.

Starts, on 127.0.0.1 only: a temporary database with N logged-in users, the fake upstream and
the real server (uvicorn, one worker) as their own processes; then runs the phases (burst,
steady, cpu), prints the figures with PASS/FAIL and writes bench-results/latest.json. With
`--workers N` (bench/workers.py): PostgreSQL and Redis, the phases with one worker and then
with N, side by side. Every child process is ended at the end, whatever happens."""

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import phases  # noqa: E402
from bench.calibrate import reference_ms  # noqa: E402
from bench.procs import Children, free_port, get_json  # noqa: E402
from bench.report import judge, print_report  # noqa: E402
from bench.stack import (  # noqa: E402
    APP,
    code_version,
    make_users,
    server_env,
    server_log_notes,
    settle,
    start_fake,
    start_server,
    step,
    warm_up,
)
from bench.stats import BenchDB  # noqa: E402

FULL = {"burst": 200, "steady_seconds": 25.0, "cpu_streams": 200}
QUICK = {"burst": 50, "steady_seconds": 10.0, "cpu_streams": 50}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="50 in the burst, 10 s steady")
    parser.add_argument(
        "--only",
        choices=["burst", "steady", "files", "cpu", "cross"],
        action="append",
        help="run only this phase (may be repeated; cross with --workers only, cpu without)",
    )
    parser.add_argument("--tokens", type=int, default=300, help="tokens per reply")
    parser.add_argument("--delay-ms", type=int, default=20, help="ms between tokens")
    parser.add_argument(
        "--rate",
        type=float,
        default=200 / 6,
        help="steady arrivals per second (default 200/6: ~200 in flight)",
    )
    parser.add_argument(
        "--files-rate",
        type=float,
        default=10.0,
        help="arrivals per second of the files phase (default 10: a load the server keeps up "
        "with, so that the phase measures the files' cost, not a queue)",
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
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="on PostgreSQL and Redis: the phases with 1 worker process, then with N, side by "
        "side (bench/workers.py)",
    )
    parser.add_argument(
        "--cross",
        type=int,
        help="with --workers: replies watched from two workers at once (default 100, 30 with "
        "--quick)",
    )
    parser.add_argument(
        "--idle-second",
        action="store_true",
        help="with --workers: also N workers with the load on the first only (what the others "
        "cost by merely running)",
    )
    parser.add_argument(
        "--lifespan",
        choices=["on", "off"],
        default="on",
        help="uvicorn's --lifespan (the server's start-up and shutdown; default on)",
    )
    parser.add_argument("--out", default=str(ROOT / "bench-results" / "latest.json"))
    args = parser.parse_args()
    if args.workers is not None and args.workers < 2:
        parser.error("--workers N compares 1 worker with N: N must be 2 or more")
    only = args.only or []
    if "cross" in only and not args.workers:
        parser.error("--only cross needs --workers")
    if "cpu" in only and args.workers:
        parser.error("--only cpu is a phase of the plain run (without --workers)")
    return args


def main() -> int:
    args = parse_args()
    sizes = QUICK if args.quick else FULL
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` runs
    tmp = Path(tempfile.mkdtemp(prefix="bench-", dir="/tmp"))
    children = Children(tmp)
    failed = True
    try:
        if args.workers:
            from bench import workers, workers_report

            wanted = args.only or ["burst", "steady", "cross"]
            results = workers.run(args, sizes, wanted, tmp, children)
            checks = workers_report.judge(results)
            results["checks"] = checks
            workers_report.print_report(results, checks)
        else:
            wanted = args.only or ["burst", "steady", "files", "cpu"]
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


def start_stack(args, tmp: Path, children: Children, users: int, app: str = APP) -> phases.Context:
    """The database, the fake upstream and the server, each ready; returns the phases' context."""
    fake_port, server_port = free_port(), free_port()
    db_path = tmp / "db.sqlite3"
    fake_url = f"http://127.0.0.1:{fake_port}/v1"
    env = server_env(args, f"sqlite:///{db_path}", fake_url)
    sessions = make_users(children, env, users, str(db_path))
    fake = start_fake(args, children, env, fake_port)
    server = start_server(args, children, env, server_port, app=app)
    ctx = phases.Context(
        root=ROOT,
        tmp=tmp,
        children=children,
        env=env,
        db=BenchDB(db_path),
        sessions=sessions,
        server_pids=[server.pid],
        ports=[server_port],
        fake_pid=fake.pid,
        fake_url=fake_url,
        tokens=args.tokens,
        delay_ms=args.delay_ms,
        py_spy=args.py_spy,
        py_spy_rate=args.py_spy_rate,
    )
    warm_up(ctx)
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
            "server_pids": ctx.server_pids,
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
    if "files" in wanted:
        settle(ctx)
        step(
            "files",
            f"{args.files_rate:.1f} sends/s for {sizes['steady_seconds']:.0f} s plain, then with "
            f"one send in {phases.FILES_EVERY} carrying a 5 MB PDF and a 4 MB photo",
        )
        results["files"] = phases.files(ctx, sizes["steady_seconds"], args.files_rate)
    if "cpu" in wanted:
        settle(ctx)
        step("cpu", f"{sizes['cpu_streams']} concurrent streams via the server, then direct")
        results["cpu"] = phases.cpu(ctx, sizes["cpu_streams"], spread=1.0)
    results["memory"] = ctx.server_memory()
    results["setup"]["reference_ms"]["end"] = reference_ms()  # (the stack idle by now)
    results["fake_requests_logged"] = len(
        get_json(ctx.fake_url.removesuffix("/v1") + "/__fake__/requests")
    )
    log_copy = Path(args.out).parent / "server.log"
    results["notes"] = ctx.notes + server_log_notes(tmp / "server.log", log_copy)
    return results


if __name__ == "__main__":
    sys.exit(main())
