"""`make bench BENCH_ARGS="--workers N"`: one worker process against N, in one run, on the
machine's PostgreSQL (a database of the run's own) and a redis-server of the run's own.

The fake upstream, the database and Redis are started once; then for each configuration (1
worker, then N) that many uvicorn processes are started on ports of their own (as if on
separate machines: no shared socket, no shared memory), warmed up, put through the phases and
stopped. The load generator spreads users over the ports in turn; the server's CPU is the sum
over its workers and the redis-server. REDIS_URL is set in both configurations, so the only
difference between the columns is the number of processes. With --idle-second, a third
configuration runs N processes but loads only the first: what the other processes cost by
merely running (the floor under the N-worker figures)."""

import os
import time
from pathlib import Path

from bench import phases, tempdb
from bench.calibrate import reference_ms
from bench.procs import Children, free_port, get_json, start_redis
from bench.stack import (
    ROOT,
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
from bench.stats import BenchDB

CROSS = {"full": 100, "quick": 30}


def run(args, sizes: dict, wanted: list[str], tmp: Path, children: Children) -> dict:
    mode = "quick" if args.quick else "full"
    users = max(sizes["burst"], 200 if args.quick else 400)
    cross_count = args.cross or CROSS[mode]
    reference_at_start = reference_ms()
    db_name = f"bench_{os.getpid()}"
    step("database", f"creating PostgreSQL database {db_name} (dropped at the end)")
    db_url = tempdb.create(db_name)
    try:
        redis_port, fake_port = free_port(), free_port()
        step("redis", f"redis-server of our own on 127.0.0.1:{redis_port}, nothing saved")
        redis = start_redis(children, redis_port, tmp)
        fake_url = f"http://127.0.0.1:{fake_port}/v1"
        env = server_env(args, db_url, fake_url, REDIS_URL=f"redis://127.0.0.1:{redis_port}/0")
        sessions = make_users(children, env, users, f"PostgreSQL database {db_name}")
        fake = start_fake(args, children, env, fake_port)
        results: dict = {
            "setup": {
                "mode": mode,
                "cores": os.cpu_count(),
                "tokens": args.tokens,
                "delay_ms": args.delay_ms,
                "reply_seconds": args.tokens * args.delay_ms / 1000,
                "users": users,
                "workers": args.workers,
                "database": f"PostgreSQL, database {db_name}",
                "redis": f"redis-server on port {redis_port}",
                "lifespan": args.lifespan,
                "loadgen": "raw HTTP/1.1 on asyncio streams + uvloop, one process",
                "extra_env": args.env,
                "code": code_version(),
                "reference_ms": {"start": reference_at_start},
            },
            "configs": {},
        }
        configs = [("1", 1, 1), (str(args.workers), args.workers, args.workers)]
        if args.idle_second:
            configs.append((f"{args.workers}idle", args.workers, 1))
        for key, count, loaded in configs:
            base = phases.Context(
                root=ROOT,
                tmp=tmp,
                children=children,
                env=env,
                db=BenchDB(postgres_url=db_url),
                sessions=sessions,
                server_pids=[],
                ports=[],
                fake_pid=fake.pid,
                fake_url=fake_url,
                tokens=args.tokens,
                delay_ms=args.delay_ms,
                redis_pid=redis.pid,
                postgres_db=db_name,
                label=f"w{key}",
                baselines=False,
                py_spy=args.py_spy,
                py_spy_rate=args.py_spy_rate,
            )
            results["configs"][key] = run_config(
                args, sizes, wanted, base, key, count, loaded, cross_count
            )
        results["setup"]["reference_ms"]["end"] = reference_ms()
        results["fake_requests_logged"] = len(
            get_json(fake_url.removesuffix("/v1") + "/__fake__/requests")
        )
        return results
    finally:
        children.stop_all()  # nothing may hold a connection to the database being dropped
        step("database", f"dropping {db_name}")
        tempdb.drop(db_name)


def run_config(
    args,
    sizes: dict,
    wanted: list[str],
    ctx: phases.Context,
    key: str,
    count: int,
    loaded: int,
    cross_count: int,
) -> dict:
    """`count` worker processes on ports of their own, the load on the first `loaded`:
    started, warmed up, measured, stopped."""
    servers = []
    for index in range(count):
        port = free_port()
        servers.append(start_server(args, ctx.children, ctx.env, port, name=_name(key, index)))
        ctx.server_pids.append(servers[-1].pid)
        ctx.ports.append(port)
    del ctx.ports[loaded:]  # the others run, but get no request
    warm_up(ctx)
    out: dict = {"workers": count, "loaded": loaded, "server_pids": ctx.server_pids}
    where = f"{count} worker{'s' if count > 1 else ''}" + (
        f", load on {loaded}" if loaded < count else ""
    )
    if "burst" in wanted:
        settle(ctx)
        step("burst", f"{where}: {sizes['burst']} sends at once")
        out["burst"] = phases.burst(ctx, sizes["burst"])
    if "steady" in wanted:
        settle(ctx)
        step(
            "steady",
            f"{where}: {args.rate:.1f} sends/s for {sizes['steady_seconds']:.0f} s, then the "
            "same schedule straight to the fake",
        )
        out["steady"] = phases.steady(ctx, sizes["steady_seconds"], args.rate)
    if "cross" in wanted and loaded == count:
        settle(ctx)
        step(
            "cross",
            f"{where}: {cross_count} replies sent to port {ctx.ports[0]}, each watched there "
            f"and on port {ctx.ports[-1]}",
        )
        out["cross"] = phases.cross(ctx, cross_count, args.rate)
    out["memory"] = ctx.server_memory()
    out["idle_cpu"] = idle_cpu(ctx)
    for server in servers:
        ctx.children.end(server, grace=30)
    notes = []
    for index in range(count):
        name = _name(key, index)
        keep_as = Path(args.out).parent / f"{name}.log"
        notes += [f"{name}: {note}" for note in server_log_notes(ctx.tmp / f"{name}.log", keep_as)]
    out["notes"] = list(dict.fromkeys(ctx.notes)) + notes  # each note once
    return out


def _name(key: str, index: int) -> str:
    return f"server-{key}w-{index + 1}"


def idle_cpu(ctx: phases.Context, seconds: float = 10.0) -> dict:
    """CPU milliseconds per second the workers and Redis use with nothing to do (their timers,
    the channel's listeners): the part of the server's CPU that does not depend on the load."""
    before = {pid: phases.cpu_seconds(pid) for pid in ctx.server_cpu_pids}
    time.sleep(seconds)

    def used(pids) -> float:
        return round(sum(phases.cpu_seconds(pid) - before[pid] for pid in pids) * 1000 / seconds, 1)

    return {"workers_ms_per_s": used(ctx.server_pids), "redis_ms_per_s": used([ctx.redis_pid])}
