"""The report of a run comparing worker counts (bench/workers.py): each figure for 1 worker and
for N side by side, their ratio, and the targets of issue 16 judged PASS or FAIL. The targets
are ratios within the run (these shared machines change speed from day to day), except the
cross-process delay, which is absolute."""

TARGETS = {
    "cpu_per_reply_ratio": 1.15,  # server CPU per reply, workers + Redis, N over 1
    "burst_last_first_token_ratio": 0.75,
    "cross_delay_p50_ms": 100,
    "cross_delay_p99_ms": 300,
}


def _get(figures: dict | None, *path):
    for key in path:
        if not isinstance(figures, dict) or figures.get(key) is None:
            return None
        figures = figures[key]
    return figures


def _ratio(one, many) -> float | None:
    return round(many / one, 2) if one and many is not None else None


def judge(results: dict) -> list[dict]:
    configs = results["configs"]
    n = str(results["setup"]["workers"])
    one, many = configs["1"], configs[n]
    checks = []

    def check(name, figure, target, passed, unit=""):
        checks.append(
            {"name": name, "figure": figure, "target": target, "unit": unit, "pass": passed}
        )

    limit = TARGETS["cpu_per_reply_ratio"]
    for phase, key in (
        ("burst", "server_cpu_ms_per_send_whole_reply"),
        ("steady", "server_cpu_ms_per_send"),
    ):
        if phase in one and phase in many:
            ratio = _ratio(one[phase][key], many[phase][key])
            check(
                f"{phase}: server CPU per reply, {n} workers / 1",
                ratio,
                f"<= {limit}",
                ratio is not None and ratio <= limit,
                "x",
            )
    if "burst" in one and "burst" in many:
        for config in (one, many):
            db = config["burst"]["db"]
            check(
                f"burst: all complete, {config['workers']} worker(s)",
                f"{db['completed']}/{config['burst']['count']}",
                "all",
                db["completed"] == config["burst"]["count"] and db["failed"] == 0,
            )
        limit = TARGETS["burst_last_first_token_ratio"]
        ratio = _ratio(
            _get(one, "burst", "first_token_ms", "last"),
            _get(many, "burst", "first_token_ms", "last"),
        )
        check(
            f"burst: last first token, {n} workers / 1",
            ratio,
            f"<= {limit}",
            ratio is not None and ratio <= limit,
            "x",
        )
    if "cross" in many:
        for q in ("p50", "p99"):
            limit = TARGETS[f"cross_delay_{q}_ms"]
            value = _get(many, "cross", "delay_ms", q)
            check(
                f"cross-process delay {q}, {n} workers",
                value,
                f"<= {limit}",
                value is not None and value <= limit,
                "ms",
            )
    return checks


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        value = f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return f"{value}{unit}"


def print_report(results: dict, checks: list[dict]) -> None:
    setup = results["setup"]
    n = str(setup["workers"])
    configs = results["configs"]
    one, many = configs["1"], configs[n]
    # The columns: each configuration's figure, and (but the first) its ratio to 1 worker.
    columns = [("1", "1 worker"), (n, f"{n} workers")]
    if f"{n}idle" in configs:
        columns.append((f"{n}idle", f"{n}, 1 loaded"))
    out = [
        "",
        f"== Benchmark, 1 worker against {n} ({setup['mode']}) — {setup['cores']} cores, "
        f"replies of {setup['tokens']} tokens {setup['delay_ms']} ms apart "
        f"({setup['reply_seconds']:.1f} s)",
        f"   code {setup['code']}; {setup['database']}; {setup['redis']} (REDIS_URL set in "
        f"both); uvicorn --lifespan {setup['lifespan']}, one process per port",
    ]
    reference = setup.get("reference_ms") or {}
    out.append(
        f"   machine: reference workload {_fmt(reference.get('start'))} ms at the start, "
        f"{_fmt(reference.get('end'))} ms at the end (bench/calibrate.py; lower is faster)"
    )
    head = f"{'':46}{columns[0][1]:>12}" + "".join(
        f"{name:>14}{'ratio':>7}" for _, name in columns[1:]
    )
    rows: list[str] = []

    def row(label, path, unit="", ratio=True):
        first = _get(one, *path)
        line = f"    {label:<42}{_fmt(first, unit):>12}"
        for key, _ in columns[1:]:
            value = _get(configs[key], *path)
            r = _ratio(first, value) if ratio and isinstance(first, (int, float)) else None
            line += f"{_fmt(value, unit):>14}{_fmt(r) if ratio else '':>7}"
        rows.append(line.rstrip())

    def title(text):
        rows.append(f"\n{text}")

    if "burst" in one:
        title(f"(a) Burst: {one['burst']['count']} users send at the same moment")
        row("replies completed (in the database)", ("burst", "db", "completed"), ratio=False)
        row("last send answered", ("burst", "last_send_answered_ms"), " ms")
        row("first token p50", ("burst", "first_token_ms", "p50"), " ms")
        row("LAST first token", ("burst", "first_token_ms", "last"), " ms")
        row("SSE messages per stream", ("burst", "messages_per_stream"))
        row(
            "server CPU per send, whole reply",
            ("burst", "server_cpu_ms_per_send_whole_reply"),
            " ms",
        )
        row("  of which Redis", ("burst", "redis_cpu_ms_per_send_whole_reply"), " ms")
        row(
            "PostgreSQL CPU per send (not in the above)",
            ("burst", "postgres_cpu_ms_per_send"),
            " ms",
        )
        row(
            "server CPU per send to last first token",
            ("burst", "server_cpu_ms_per_send_to_last_first_token"),
        )
        row("load generator CPU (s)", ("burst", "loadgen_cpu_s"))
        row("fake upstream CPU (s)", ("burst", "fake_cpu_s"))
        row("other work on the machine (s)", ("burst", "other_processes_cpu_s", "other"))
    if "steady" in one:
        s = one["steady"]
        title(
            f"(b) Steady: {s['rate_per_s']:.1f} sends/s for {s['seconds']:.0f} s ({s['sends']} "
            f"sends); first token of the {s['measured_sends']} sent after "
            f"{s['measured_window_s'][0]:.0f} s"
        )
        row("replies completed (in the database)", ("steady", "db", "completed"), ratio=False)
        row("first token p50, through the server", ("steady", "ttft_server_ms", "p50"), " ms")
        row("first token p99, through the server", ("steady", "ttft_server_ms", "p99"), " ms")
        row("first token p50, fake directly", ("steady", "ttft_fake_direct_ms", "p50"), " ms")
        row("first token p99, fake directly", ("steady", "ttft_fake_direct_ms", "p99"), " ms")
        row("ADDED by the server p50", ("steady", "ttft_added_ms", "p50"), " ms")
        row("ADDED by the server p99", ("steady", "ttft_added_ms", "p99"), " ms")
        row("POST /send/ answered p99", ("steady", "send_response_ms", "p99"), " ms")
        row("SSE messages per stream", ("steady", "messages_per_stream"))
        row("server CPU per send", ("steady", "server_cpu_ms_per_send"), " ms")
        row("  of which Redis", ("steady", "redis_cpu_ms_per_send"), " ms")
        row(
            "PostgreSQL CPU per send (not in the above)",
            ("steady", "postgres_cpu_ms_per_send"),
            " ms",
        )
        row("server CPU, cores in use", ("steady", "server_cpu_utilisation"))
        row(
            "other work on the machine (s)",
            ("steady", "other_processes_cpu_s", "server_run", "other"),
        )
    if "cross" in one:
        c = many["cross"]
        title(
            f"(c) Cross-process: {c['count']} replies sent to worker 1 ({c['rate_per_s']:.1f}/s), "
            f"each watched there and on worker {n} at once (1 worker: both on it)"
        )
        row("replies completed (in the database)", ("cross", "db", "completed"), ratio=False)
        row("second streams that saw the whole reply", ("cross", "watchers_complete"), ratio=False)
        row("updates per reply, worker 1", ("cross", "updates_per_reply", "origin"), ratio=False)
        row(
            f"updates per reply, worker {n}", ("cross", "updates_per_reply", "watcher"), ratio=False
        )
        row("updates compared", ("cross", "updates_compared"), ratio=False)
        row("DELAY behind worker 1, p50", ("cross", "delay_ms", "p50"), " ms", ratio=False)
        row("DELAY behind worker 1, p99", ("cross", "delay_ms", "p99"), " ms", ratio=False)
        row("delay min / max: min", ("cross", "delay_ms", "min"), " ms", ratio=False)
        row("delay min / max: max", ("cross", "delay_ms", "max"), " ms", ratio=False)
        row(
            "finished reply shown behind, p50", ("cross", "end_delay_ms", "p50"), " ms", ratio=False
        )
        row(
            "finished reply shown behind, p99", ("cross", "end_delay_ms", "p99"), " ms", ratio=False
        )
        row("server CPU (s)", ("cross", "server_cpu_s"))
        row("  of which Redis (s)", ("cross", "redis_cpu_s"))
    title("(d) The server's processes")
    row("peak memory, all workers (MB)", ("memory", "peak_mb"))
    row("peak memory, largest worker (MB)", ("memory", "largest_worker_peak_mb"))
    row("idle CPU, workers (ms per s)", ("idle_cpu", "workers_ms_per_s"))
    row("idle CPU, Redis (ms per s)", ("idle_cpu", "redis_ms_per_s"))
    out.append("\n" + head)
    out += rows
    for key, label in columns:
        for note in configs[key].get("notes", []):
            out.append(f"    note ({label}): {note}")
    out.append("\nTargets")
    width = max(len(c["name"]) for c in checks) if checks else 0
    for c in checks:
        out.append(
            f"    {'PASS' if c['pass'] else 'FAIL'}  {c['name']:<{width}}  "
            f"{_fmt(c['figure'], ' ' + c['unit'] if c['unit'] else ''):>12}   "
            f"target {c['target']} {c['unit']}"
        )
    print("\n".join(out), flush=True)
