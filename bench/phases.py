"""The measured phases. Each runs the load generator (and, for a baseline, the bare client) as
its own process, then reads the outcome from the database."""

import bisect
import json
import math
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import Children, cpu_seconds, machine_cpu, memory_mb, postgres_cpu
from bench.stats import BenchDB, ms, percentile, summary_ms

BENCH_DIR = Path(__file__).resolve().parent
# In the attachments phase, one send in this many carries the sample files.
FILES_EVERY = 20


@dataclass
class Context:
    root: Path
    tmp: Path
    children: Children
    env: dict
    db: BenchDB
    sessions: list[dict]
    server_pids: list[int]  # the worker processes, one uvicorn each
    ports: list[int]  # the port of each worker
    fake_pid: int
    fake_url: str
    tokens: int
    delay_ms: int
    redis_pid: int | None = None  # our own redis-server, counted as part of the server
    # Our own PostgreSQL database: its connections' backends are timed apart (not counted as
    # the server, nor as other work).
    postgres_db: str | None = None
    # Added to each phase's tag (its messages, its files), so that the phases of several
    # configurations can run on one database: "" for a plain run, "w1", "w2"... with --workers.
    label: str = ""
    # The baselines that only read the fake (the bare httpx-sse client in burst and steady, the
    # lean client in burst): they don't depend on the server, so a run comparing worker counts
    # skips them. The steady phase's lean run always runs: "added" TTFT is measured against it.
    baselines: bool = True
    py_spy: str | None = None  # a py-spy binary: record the server during each phase
    py_spy_rate: int = 100
    notes: list[str] = field(default_factory=list)

    def message(self, tag: str) -> str:
        # The directive makes the fake answer with `tokens` numbered words, delay_ms apart.
        return f"bench {tag} {{i}} [[fake:ok tokens={self.tokens} delay_ms={self.delay_ms}]]"

    @property
    def server_cpu_pids(self) -> list[int]:
        """The server's processes: every worker, and Redis when the run has one."""
        return self.server_pids + ([self.redis_pid] if self.redis_pid else [])

    def server_cpu(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.server_cpu_pids)

    def redis_cpu(self) -> float:
        return cpu_seconds(self.redis_pid) if self.redis_pid else 0.0

    def postgres_cpu(self) -> float:
        """CPU time of the PostgreSQL backends connected to our database now (a backend that
        ended meanwhile is missed: the workers' pools keep theirs open)."""
        return postgres_cpu(self.postgres_db) if self.postgres_db else 0.0

    def server_memory(self) -> dict:
        """Resident memory of the workers: the sums, and the largest peak of one worker."""
        each = [memory_mb(pid) for pid in self.server_pids]
        return {
            "rss_mb": sum(m["rss_mb"] for m in each),
            "peak_mb": sum(m["peak_mb"] for m in each),
            "largest_worker_peak_mb": max(m["peak_mb"] for m in each),
        }

    @property
    def reply_seconds(self) -> float:
        return self.tokens * self.delay_ms / 1000


def _markers(tokens: int) -> tuple[str, str]:
    """The first and the last word of the fake's reply (the last proves it arrived whole)."""
    from conversations.fake_upstream.text import filler_text

    words = filler_text(tokens).split()
    return words[0], words[-1].rstrip(".")


def _child(ctx: Context, script: str, name: str, config: dict, timeout: float) -> dict:
    config_path = ctx.tmp / f"{name}.config.json"
    out_path = ctx.tmp / f"{name}.out.json"
    config_path.write_text(json.dumps(config))
    argv = [sys.executable, str(BENCH_DIR / script), str(config_path), str(out_path)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    ctx.children.run(name, argv, ctx.env, ctx.root, timeout)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(out_path.read_text())
    # The child's whole CPU time, start-up included (its own figures cover the load only).
    result["process_cpu_s"] = (after.ru_utime + after.ru_stime) - (
        before.ru_utime + before.ru_stime
    )
    return result


def run_loadgen(ctx: Context, tag: str, offsets: list[float], **extra) -> dict:
    """The load generator against the server: conversations started at `offsets`, spread over
    the workers in turn (unless `extra` says otherwise). CPU figures are sums over the server's
    processes (`server_cpu_s`), Redis's own share beside them (`redis_cpu_s`)."""
    tag += ctx.label
    first, last = _markers(ctx.tokens)
    config = {
        "host": "127.0.0.1",
        "ports": ctx.ports,
        "sessions": ctx.sessions,
        "offsets": offsets,
        "message": ctx.message(tag),
        "first_marker": first,
        "last_marker": last,
        "server_pids": ctx.server_cpu_pids,
        "conversation_timeout": ctx.reply_seconds + 60,
        **extra,
    }
    profiler = _start_profiler(ctx, tag, max(offsets) + ctx.reply_seconds + 2)
    fake_cpu, server_cpu, redis_cpu, postgres, machine = (
        cpu_seconds(ctx.fake_pid),
        ctx.server_cpu(),
        ctx.redis_cpu(),
        ctx.postgres_cpu(),
        machine_cpu(),
    )
    result = _child(ctx, "loadgen.py", f"loadgen-{tag}", config, max(offsets) + 180)
    result["fake_cpu_s"] = cpu_seconds(ctx.fake_pid) - fake_cpu
    result["redis_cpu_s"] = ctx.redis_cpu() - redis_cpu
    result["postgres_cpu_s"] = max(ctx.postgres_cpu() - postgres, 0.0)
    ours = (
        ctx.server_cpu()
        - server_cpu
        + result["fake_cpu_s"]
        + result["process_cpu_s"]
        + result["postgres_cpu_s"]
    )
    result["other_cpu_s"] = _others(machine, ours)
    _finish_profiler(ctx, profiler)
    result["server_cpu_s"] = result["server_cpu_end"] - result["server_cpu_start"]
    left = ctx.db.wait_finished(tag)
    if left:
        ctx.notes.append(f"{tag}: {left} replies still generating 60 s after the load ended")
    result["db"] = ctx.db.phase_replies(tag)
    result["server_memory"] = ctx.server_memory()
    return result


def _start_profiler(ctx: Context, tag: str, seconds: float) -> list:
    """py-spy on the server for the phase, as collapsed stacks per thread (--nonblocking, so
    the sampling does not stop the server): `all` has idle frames too, so time waiting (the
    event loop's poll, a lock) shows beside time computing; `gil` has only the samples of the
    thread holding the GIL, i.e. who uses the interpreter."""
    if not ctx.py_spy or tag == "warmup":
        return []
    procs = []
    for kind, flags in (("all", ["--idle"]), ("gil", ["--gil"])):
        out = ctx.tmp / f"profile-{tag}-{kind}.txt"
        argv = [
            ctx.py_spy,
            "record",
            "--pid",
            str(ctx.server_pids[0]),
            "--duration",
            f"{seconds:.0f}",
            "--rate",
            str(ctx.py_spy_rate),
            "--nonblocking",
            "--format",
            "raw",
            "--threads",
            *flags,
            "--output",
            str(out),
        ]
        procs.append(ctx.children.start(f"py-spy-{tag}-{kind}", argv, ctx.env, ctx.root))
    time.sleep(0.5)  # attached before the load starts
    return procs


def _finish_profiler(ctx: Context, procs: list) -> None:
    for proc in procs:
        try:
            proc.wait(timeout=60)
        except Exception:
            ctx.children.stop(proc)
    if procs:
        ctx.notes.append(f"profiles: {ctx.tmp}/profile-*.txt (py-spy raw, collapsed stacks)")


def run_bare(ctx: Context, tag: str, offsets: list[float]) -> dict:
    tag += ctx.label
    config = {"base_url": ctx.fake_url, "offsets": offsets, "message": ctx.message(tag)}
    fake_cpu, server_cpu = cpu_seconds(ctx.fake_pid), ctx.server_cpu()
    machine = machine_cpu()
    result = _child(ctx, "bare.py", f"bare-{tag}", config, max(offsets) + 180)
    result["fake_cpu_s"] = cpu_seconds(ctx.fake_pid) - fake_cpu
    # The server should be idle meanwhile; counted as ours, and reported, in case it is not.
    result["server_cpu_s"] = ctx.server_cpu() - server_cpu
    ours = result["fake_cpu_s"] + result["process_cpu_s"] + result["server_cpu_s"]
    result["other_cpu_s"] = _others(machine, ours)
    return result


def run_direct(ctx: Context, tag: str, offsets: list[float], **extra) -> dict:
    """The lean load generator straight against the fake (no server): the fake's own TTFT."""
    tag += ctx.label
    port = int(ctx.fake_url.rsplit(":", 1)[1].split("/")[0])
    config = {
        "host": "127.0.0.1",
        "port": port,
        "direct": "/v1/responses",
        "offsets": offsets,
        "message": ctx.message(tag),
        "conversation_timeout": ctx.reply_seconds + 60,
        **extra,
    }
    fake_cpu, server_cpu = cpu_seconds(ctx.fake_pid), ctx.server_cpu()
    machine = machine_cpu()
    result = _child(ctx, "loadgen.py", f"direct-{tag}", config, max(offsets) + 180)
    result["fake_cpu_s"] = cpu_seconds(ctx.fake_pid) - fake_cpu
    # The server should be idle meanwhile; counted as ours, and reported, in case it is not.
    result["server_cpu_s"] = ctx.server_cpu() - server_cpu
    ours = result["fake_cpu_s"] + result["process_cpu_s"] + result["server_cpu_s"]
    result["other_cpu_s"] = _others(machine, ours)
    return result


def _others(machine_before: tuple[float, float, float], ours: float) -> dict:
    """CPU seconds used meanwhile outside our processes: `interrupts` is kernel irq/softirq
    time (mostly the loopback traffic of the run itself, charged to no process); `other` is
    the rest, i.e. work that is not part of the benchmark, which makes every figure worse:
    look at it first when figures jump."""
    now = machine_cpu()
    busy = now[0] - machine_before[0]
    interrupts = now[2] - machine_before[2]
    return {
        "other": round(max(busy - interrupts - ours, 0.0), 2),
        "interrupts": round(interrupts, 2),
    }


def _messages_per_stream(records: list[dict]) -> float | None:
    """How many SSE messages a stream got on average: fewer when the server coalesces more
    (a busier process sends each viewer fewer, larger updates), which also costs it less CPU."""
    counts = [r["messages"] for r in records if "messages" in r]
    return round(sum(counts) / len(counts), 1) if counts else None


def _client_summary(records: list[dict]) -> dict:
    errors: dict[str, int] = {}
    for record in records:
        if "error" in record:
            key = record.get("error_kind", "error")
            errors[key] = errors.get(key, 0) + 1
    return {
        "started": len(records),
        "sent_ok": sum(1 for r in records if r.get("send_status") == 200),
        "first_token_seen": sum(1 for r in records if "first_token" in r),
        "complete_at_client": sum(1 for r in records if r.get("complete")),
        "errors": errors,
        "example_error": next((r["error"] for r in records if "error" in r), None),
    }


def _last_first_token_ms(records: list[dict]) -> float | None:
    """The last first token of `records`, None unless every one of them had one."""
    firsts = [r["first_token"] for r in records if "first_token" in r]
    return ms(max(firsts)) if records and len(firsts) == len(records) else None


def _burst_baseline(ctx: Context, run, count: int, **extra) -> dict:
    """A burst baseline (run_direct or run_bare, all at once), or {"records": []} with a note
    if it failed: the server's figures, measured already, still count. None unless the run
    has baselines."""
    if not ctx.baselines:
        return {"records": []}
    time.sleep(2)
    try:
        return run(ctx, "burst", [0.0] * count, **extra)
    except RuntimeError as error:
        ctx.notes.append(f"burst baseline {run.__name__} failed: {str(error)[:300]}")
        return {"records": []}


def burst(ctx: Context, count: int) -> dict:
    """`count` users send at once (connections opened beforehand); each then reads its stream.
    Then the same `count` requests go straight to the fake at once, read by the lean client
    (the fake's own last first token: the floor under the target) and by the bare httpx-sse
    client (the least a Python reader of those streams needs)."""
    result = run_loadgen(
        ctx, "burst", [0.0] * count, pre_connect=True, sample_cpu_on_first_token=True
    )
    direct, bare = (
        _burst_baseline(ctx, run_direct, count, pre_connect=True),
        _burst_baseline(ctx, run_bare, count),
    )
    records = result["records"]
    firsts = [r["first_token"] for r in records if "first_token" in r]
    sends = [r["sent"] for r in records if "sent" in r]
    marks = result["cpu_marks"]
    cpu_to_last_first = marks[-1][1] - result["server_cpu_start"] if marks else None
    return {
        "count": count,
        "client": _client_summary(records),
        "db": result["db"],
        "last_send_answered_ms": ms(max(sends) if sends else None),
        "first_token_ms": {
            "p50": ms(percentile(firsts, 50)),
            "last": ms(max(firsts) if len(firsts) == count else None),
            "last_seen": ms(max(firsts) if firsts else None),
        },
        "wall_s": round(result["wall_s"], 2),
        "messages_per_stream": _messages_per_stream(records),
        "server_cpu_s": round(result["server_cpu_s"], 2),
        "server_cpu_ms_per_send_to_last_first_token": (
            round(cpu_to_last_first * 1000 / count, 2) if cpu_to_last_first is not None else None
        ),
        "server_cpu_ms_per_send_whole_reply": round(result["server_cpu_s"] * 1000 / count, 2),
        "redis_cpu_ms_per_send_whole_reply": round(result["redis_cpu_s"] * 1000 / count, 2),
        "postgres_cpu_ms_per_send": round(result["postgres_cpu_s"] * 1000 / count, 2),
        "fake_direct_last_first_token_ms": _last_first_token_ms(direct["records"]),
        "bare_last_first_token_ms": _last_first_token_ms(bare["records"]),
        "bare_cpu_ms_per_stream": (
            round(bare["cpu_s"] * 1000 / count, 2) if "cpu_s" in bare else None
        ),
        "baseline_errors": sum(1 for r in direct["records"] + bare["records"] if "error" in r),
        "loadgen_cpu_s": round(result["loadgen_cpu_s"], 2),
        "fake_cpu_s": round(result["fake_cpu_s"], 2),
        "other_processes_cpu_s": result["other_cpu_s"],
        "server_memory": result["server_memory"],
    }


def _ttft(records: list[dict], start: float, end: float) -> tuple[list[float], list[dict]]:
    """Times to first token of the conversations scheduled in [start, end); one that never
    showed a first token counts as infinitely late."""
    window = [r for r in records if start <= r["scheduled"] < end]
    return [
        r["first_token"] - r["start"] if "first_token" in r else math.inf for r in window
    ], window


def steady(ctx: Context, seconds: float, rate: float) -> dict:
    """Open-loop arrivals at `rate`/s for `seconds`; time to first token is taken for the sends
    after the ramp (one reply's length), when about rate x reply_seconds are in flight."""
    offsets = [i / rate for i in range(int(seconds * rate))]
    window = (ctx.reply_seconds, seconds)
    server = run_loadgen(ctx, "steady", offsets)
    time.sleep(2)
    direct = run_direct(ctx, "steady", offsets)
    bare = {"records": [], "cpu_s": None, "other_cpu_s": None}
    if ctx.baselines:
        time.sleep(2)
        bare = run_bare(ctx, "steady", offsets)
    server_ttft, measured = _ttft(server["records"], *window)
    direct_ttft, _ = _ttft(direct["records"], *window)
    bare_ttft, _ = _ttft(bare["records"], *window)
    p = {
        name: {q: percentile(values, q) for q in (50, 99)}
        for name, values in (("server", server_ttft), ("fake", direct_ttft), ("bare", bare_ttft))
    }
    added = {
        q: (p["server"][q] - p["fake"][q]) if None not in (p["server"][q], p["fake"][q]) else None
        for q in (50, 99)
    }
    missing = sum(1 for value in server_ttft if math.isinf(value))
    in_flight = [r["in_flight_at_start"] for r in measured]
    lags = [r["start"] - r["scheduled"] for r in server["records"] if "start" in r]
    sends = [r["sent"] - r["start"] for r in measured if "sent" in r]
    return {
        "seconds": seconds,
        "rate_per_s": rate,
        "sends": len(offsets),
        "measured_sends": len(measured),
        "measured_window_s": list(window),
        "in_flight_p50": percentile(in_flight, 50),
        "client": _client_summary(server["records"]),
        "db": server["db"],
        "ttft_server_ms": {"p50": ms(p["server"][50]), "p99": ms(p["server"][99])},
        "ttft_fake_direct_ms": {"p50": ms(p["fake"][50]), "p99": ms(p["fake"][99])},
        "ttft_fake_via_httpx_sse_ms": {"p50": ms(p["bare"][50]), "p99": ms(p["bare"][99])},
        "direct_client": _client_summary(direct["records"]),
        "direct_loadgen_cpu_s": round(direct["loadgen_cpu_s"], 2),
        "bare_client_cpu_s": bare["cpu_s"] and round(bare["cpu_s"], 2),
        "ttft_added_ms": {"p50": ms(added[50]), "p99": ms(added[99])},
        "measured_without_first_token": missing,
        "send_response_ms": summary_ms(sends),
        "messages_per_stream": _messages_per_stream(server["records"]),
        "loadgen_schedule_lag_ms": summary_ms(lags),
        "server_cpu_s": round(server["server_cpu_s"], 2),
        "server_cpu_ms_per_send": round(server["server_cpu_s"] * 1000 / len(offsets), 2),
        "redis_cpu_ms_per_send": round(server["redis_cpu_s"] * 1000 / len(offsets), 2),
        "postgres_cpu_ms_per_send": round(server["postgres_cpu_s"] * 1000 / len(offsets), 2),
        "server_cpu_utilisation": round(server["server_cpu_s"] / server["wall_s"], 2),
        "loadgen_cpu_s": round(server["loadgen_cpu_s"], 2),
        "fake_cpu_s": round(server["fake_cpu_s"], 2),
        "bare_errors": sum(1 for r in bare["records"] if "error" in r),
        "other_processes_cpu_s": {
            "server_run": server["other_cpu_s"],
            "direct_run": direct["other_cpu_s"],
            "bare_run": bare["other_cpu_s"],
        },
        "server_memory": server["server_memory"],
    }


def files(ctx: Context, seconds: float, rate: float) -> dict:
    """The steady schedule twice, back to back: plain, then with one send in FILES_EVERY
    carrying a PDF of about 5 MB and a photo of about 4 MB (bench/sample_files.py); then once
    straight to the fake. The figure is the time the server adds to the first token of the
    *other* sends (those without files) in the second run over the first: converting files
    must not hold up anyone else's reply."""
    from bench.sample_files import make

    samples = make(ctx.tmp)
    offsets = [i / rate for i in range(int(seconds * rate))]
    window = (ctx.reply_seconds, seconds)
    # One send with the files first: the server starts its converter processes on first use.
    run_loadgen(ctx, "fileswarm", [0.0], files=samples, files_every=1)
    time.sleep(2)
    plain = run_loadgen(ctx, "filesplain", offsets)
    time.sleep(2)
    with_files = run_loadgen(
        ctx, "files", offsets, files=samples, files_every=FILES_EVERY, conversation_timeout=120
    )
    # The fake's own times, plain and with the same files in the same sends (reading them
    # costs the fake too, and that is not the server's).
    time.sleep(2)
    direct_plain = run_direct(ctx, "filesplain", offsets)
    time.sleep(2)
    direct_files = run_direct(ctx, "files", offsets, files=samples, files_every=FILES_EVERY)

    def others(records: list[dict]) -> list[dict]:
        return [r for r in records if not r.get("with_files")]

    def added(records: list[dict], direct: list[dict]) -> dict:
        ttft, _ = _ttft(others(records), *window)
        fake, _ = _ttft(others(direct), *window)
        return {
            f"p{q}": ms(value - floor)
            if None not in (value := percentile(ttft, q), floor := percentile(fake, q))
            else None
            for q in (50, 99)
        }

    carriers = [r for r in with_files["records"] if r.get("with_files")]
    base = added(plain["records"], direct_plain["records"])
    loaded = added(with_files["records"], direct_files["records"])
    fake_ttft, _ = _ttft(others(direct_files["records"]), *window)
    fake = {q: percentile(fake_ttft, q) for q in (50, 99)}
    ratio = {
        q: round(loaded[q] / base[q], 2) if base[q] and loaded[q] is not None else None
        for q in ("p50", "p99")
    }
    return {
        "seconds": seconds,
        "rate_per_s": rate,
        "sends": len(offsets),
        "with_files": len(carriers),
        "files": [{"name": f["name"], "bytes": Path(f["path"]).stat().st_size} for f in samples],
        "db_plain": plain["db"],
        "db_files": with_files["db"],
        "ttft_fake_direct_ms": {"p50": ms(fake[50]), "p99": ms(fake[99])},
        "added_plain_ms": base,
        "added_others_ms": loaded,
        "ratio": ratio,
        "carriers_send_ms": summary_ms([r["sent"] - r["start"] for r in carriers if "sent" in r]),
        "carriers_ttft_ms": summary_ms(
            [r["first_token"] - r["start"] for r in carriers if "first_token" in r]
        ),
        "carrier_errors": [r["error"] for r in carriers if "error" in r][:5],
        "server_cpu_s": {
            "plain": round(plain["server_cpu_s"], 2),
            "files": round(with_files["server_cpu_s"], 2),
        },
        "server_memory": with_files["server_memory"],
    }


def cpu(ctx: Context, count: int, spread: float) -> dict:
    """`count` concurrent replies (started over `spread` s) through the server, then the same
    streams read straight from the fake by the bare client: CPU per 1,000 relayed tokens."""
    offsets = [i * spread / count for i in range(count)]
    server = run_loadgen(ctx, "cpu", offsets)
    bare = run_bare(ctx, "cpu", offsets)
    server_tokens = server["db"]["output_tokens"]
    bare_tokens = sum(r.get("tokens", 0) for r in bare["records"])
    server_per_k = server["server_cpu_s"] / server_tokens * 1000 if server_tokens else None
    bare_per_k = bare["cpu_s"] / bare_tokens * 1000 if bare_tokens else None
    return {
        "count": count,
        "client": _client_summary(server["records"]),
        "db": server["db"],
        "server_cpu_s": round(server["server_cpu_s"], 2),
        "server_tokens": server_tokens,
        "server_cpu_s_per_1k_tokens": server_per_k and round(server_per_k, 4),
        "bare_cpu_s": round(bare["cpu_s"], 2),
        "bare_tokens": bare_tokens,
        "bare_cpu_s_per_1k_tokens": bare_per_k and round(bare_per_k, 4),
        "ratio": round(server_per_k / bare_per_k, 2) if server_per_k and bare_per_k else None,
        "server_wall_s": round(server["wall_s"], 2),
        "bare_wall_s": round(bare["wall_s"], 2),
        "loadgen_cpu_s": round(server["loadgen_cpu_s"], 2),
        "fake_cpu_s_server_run": round(server["fake_cpu_s"], 2),
        "fake_cpu_s_bare_run": round(bare["fake_cpu_s"], 2),
        "bare_errors": sum(1 for r in bare["records"] if "error" in r),
        "other_processes_cpu_s": {
            "server_run": server["other_cpu_s"],
            "bare_run": bare["other_cpu_s"],
        },
        "server_memory": server["server_memory"],
    }


def _progress_words(tokens: int) -> list[str]:
    """The fake's words without their numbers (alpha, bravo...): how the streams' progress
    is read."""
    from conversations.fake_upstream.text import filler_text

    return sorted({word.rstrip(".").rstrip("0123456789") for word in filler_text(26).split()})


def _behind(origin: list, watcher: list) -> tuple[list[float], int]:
    """For each point the watcher's text reached, how long after the origin's text reached it
    (the origin's first message with that word or a later one); and how many of the watcher's
    points the origin never reached."""
    times, words = [t for t, _ in origin], [word for _, word in origin]
    delays, unmatched = [], 0
    for t, word in watcher:
        at = bisect.bisect_left(words, word)
        if at == len(words):
            unmatched += 1
        else:
            delays.append(t - times[at])
    return delays, unmatched


def cross(ctx: Context, count: int, rate: float) -> dict:
    """`count` replies sent to the first worker (`rate` a second), each watched at the same
    time on that worker (the send's own connection, as its page does) and on the last one (a
    second tab): how far behind the first worker's stream the last one's shows the same text.
    With one worker both streams are on it: what the measurement reads with no channel between
    them (the two streams' own timing)."""
    offsets = [i / rate for i in range(count)]
    result = run_loadgen(
        ctx,
        "cross",
        offsets,
        ports=ctx.ports[:1],
        watch_ports=ctx.ports[-1:],
        progress_words=_progress_words(ctx.tokens),
    )
    records = result["records"]
    delays, unmatched, updates = [], 0, {"origin": [], "watcher": []}
    end_delays = []
    for record in records:
        if len(record.get("progress", [])) < 2:
            continue
        origin, watcher = record["progress"][0], record["progress"][1]
        behind, missed = _behind(origin, watcher)
        delays += behind
        unmatched += missed
        updates["origin"].append(len(origin))
        updates["watcher"].append(len(watcher))
        if "final" in record and record.get("watcher_final"):
            end_delays.append(record["watcher_final"][0] - record["final"])
    return {
        "count": count,
        "rate_per_s": rate,
        "watched_on_ports": [ctx.ports[0], ctx.ports[-1]],
        "client": _client_summary(records),
        "watchers_complete": sum(r.get("watchers_complete", 0) for r in records),
        "db": result["db"],
        "updates_compared": len(delays),
        "updates_never_on_origin": unmatched,
        "delay_ms": {
            "p50": ms(percentile(delays, 50)),
            "p99": ms(percentile(delays, 99)),
            "min": ms(min(delays) if delays else None),
            "max": ms(max(delays) if delays else None),
        },
        "end_delay_ms": summary_ms(end_delays),
        "updates_per_reply": {
            side: round(sum(values) / len(values), 1) if values else None
            for side, values in updates.items()
        },
        "server_cpu_s": round(result["server_cpu_s"], 2),
        "redis_cpu_s": round(result["redis_cpu_s"], 2),
        "loadgen_cpu_s": round(result["loadgen_cpu_s"], 2),
        "fake_cpu_s": round(result["fake_cpu_s"], 2),
        "other_processes_cpu_s": result["other_cpu_s"],
    }
