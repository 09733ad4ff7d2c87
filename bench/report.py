"""The printed report and the targets, judged PASS or FAIL."""

TARGETS = {
    "burst_all_complete": "all replies completed",
    "burst_last_first_token_ms": 1500,
    "steady_added_p50_ms": 20,
    "steady_added_p99_ms": 100,
    # The others' added first-token time with files in one send in twenty, over without.
    "files_added_ratio": 1.10,
    "cpu_ratio": 2.0,  # server CPU per relayed token over the bare httpx-sse client's
    "memory_peak_mb": 300,
}


def judge(results: dict) -> list[dict]:
    checks = []

    def check(name: str, figure, target, passed: bool | None, unit: str = "") -> None:
        checks.append(
            {
                "name": name,
                "figure": figure,
                "target": target,
                "unit": unit,
                "pass": bool(passed) if passed is not None else False,
            }
        )

    if "burst" in results:
        burst = results["burst"]
        db, count = burst["db"], burst["count"]
        done = f"{db['completed']}/{count} completed"
        check("burst: all complete", done, "all", db["completed"] == count and db["failed"] == 0)
        last = burst["first_token_ms"]["last"]
        limit = TARGETS["burst_last_first_token_ms"]
        check(
            "burst: last first token", last, f"<= {limit}", last is not None and last <= limit, "ms"
        )
    if "steady" in results:
        added = results["steady"]["ttft_added_ms"]
        for q in ("p50", "p99"):
            limit = TARGETS[f"steady_added_{q}_ms"]
            value = added[q]
            check(
                f"steady: added TTFT {q}",
                value,
                f"<= {limit}",
                value is not None and value <= limit,
                "ms",
            )
    ratios = (
        ("files", "files: others' added TTFT p50, with / without", "files_added_ratio"),
        ("cpu", "cpu: server / bare client", "cpu_ratio"),
    )
    for phase, label, target in ratios:
        if phase in results:
            ratio = results[phase]["ratio"]
            ratio = ratio["p50"] if isinstance(ratio, dict) else ratio
            limit = TARGETS[target]
            check(label, ratio, f"<= {limit}", ratio is not None and ratio <= limit, "x")
    peak = results["memory"]["peak_mb"]
    limit = TARGETS["memory_peak_mb"]
    check("memory: server peak (VmHWM)", round(peak, 1), f"<= {limit}", peak <= limit, "MB")
    return checks


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        value = f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"
    return f"{value} {unit}".strip()


def _others(figures: dict) -> str:
    return f"other work {figures['other']} s + kernel irq {figures['interrupts']} s"


def print_report(results: dict, checks: list[dict]) -> None:
    out = []
    setup = results["setup"]
    out.append("")
    out.append(
        f"== Benchmark ({setup['mode']}) — {setup['cores']} cores, replies of "
        f"{setup['tokens']} tokens {setup['delay_ms']} ms apart "
        f"({setup['reply_seconds']:.1f} s)\n   code {setup['code']}; load generator: "
        f"{setup['loadgen']}"
    )
    reference = setup.get("reference_ms") or {}
    if reference:
        out.append(
            f"   machine: reference workload {_fmt(reference.get('start'), 'ms')} at the start, "
            f"{_fmt(reference.get('end'), 'ms')} at the end (bench/calibrate.py; lower is "
            "faster; divide CPU figures by it to compare runs of other days)"
        )
    if "burst" in results:
        b = results["burst"]
        out.append(f"\n(a) Burst: {b['count']} users send at the same moment")
        out.append(
            f"    replies in DB by status        {b['db']['by_status']}  "
            f"(completed {b['db']['completed']}, failed {b['db']['failed']})"
        )
        c = b["client"]
        out.append(
            f"    at the client                  sent {c['sent_ok']}, first token "
            f"{c['first_token_seen']}, whole reply {c['complete_at_client']}, "
            f"errors {c['errors'] or 0}"
        )
        out.append(f"    last send answered             {_fmt(b['last_send_answered_ms'], 'ms')}")
        ft = b["first_token_ms"]
        out.append(
            f"    first token p50 / LAST         {_fmt(ft['p50'], 'ms')} / "
            f"{_fmt(ft['last'] if ft['last'] is not None else ft['last_seen'], 'ms')}"
        )
        out.append(
            f"    server CPU per send            "
            f"{_fmt(b['server_cpu_ms_per_send_to_last_first_token'], 'ms')} "
            f"(burst start -> last first token); "
            f"{_fmt(b['server_cpu_ms_per_send_whole_reply'], 'ms')} (whole reply, "
            f"{b['server_cpu_s']} s CPU in {b['wall_s']} s)"
        )
        out.append(
            f"    the same {b['count']} straight to the fake: last first token "
            f"{_fmt(b['fake_direct_last_first_token_ms'], 'ms')} (lean client), "
            f"{_fmt(b['bare_last_first_token_ms'], 'ms')} (bare httpx-sse client, "
            "connecting after the start; "
            f"{_fmt(b['bare_cpu_ms_per_stream'], 'ms')} CPU per whole stream); "
            f"errors {b['baseline_errors']}"
        )
        floor = b["fake_direct_last_first_token_ms"]
        limit = TARGETS["burst_last_first_token_ms"]
        left = (
            "n/a (the lean run did not see every first token)"
            if floor is None
            else f"{max(limit - floor, 0) / b['count']:.1f} ms of one core per send"
        )
        out.append(
            f"    left for the server            {left} ((target - the lean figure) / "
            f"{b['count']}), against its CPU per send above"
        )
        speeds = [ms for ms in (reference.get("start"), reference.get("end")) if ms]
        if speeds and b["server_cpu_ms_per_send_whole_reply"] is not None:
            units = b["server_cpu_ms_per_send_whole_reply"] / (sum(speeds) / len(speeds))
            out.append(
                f"    in reference workloads         {units:.2f} per send (whole reply; the "
                "mean of the start and end figures)"
            )
        out.append(
            f"    other CPU                      load generator {b['loadgen_cpu_s']} s, "
            f"fake upstream {b['fake_cpu_s']} s, {_others(b['other_processes_cpu_s'])}"
        )
    if "steady" in results:
        s = results["steady"]
        out.append(
            f"\n(b) Steady: {s['rate_per_s']:.1f} sends/s for {s['seconds']:.0f} s "
            f"({s['sends']} sends); TTFT of the {s['measured_sends']} sent after "
            f"{s['measured_window_s'][0]:.0f} s (p50 {s['in_flight_p50']} in flight)"
        )
        out.append(f"    replies in DB by status        {s['db']['by_status']}")
        sv, fk, ad = s["ttft_server_ms"], s["ttft_fake_direct_ms"], s["ttft_added_ms"]
        out.append(f"    TTFT through server  p50/p99   {_fmt(sv['p50'])} / {_fmt(sv['p99'])} ms")
        out.append(
            f"    TTFT fake directly   p50/p99   {_fmt(fk['p50'])} / {_fmt(fk['p99'])} ms"
            "  (same schedule, lean client)"
        )
        hx = s["ttft_fake_via_httpx_sse_ms"]
        out.append(
            f"    (fake read by httpx-sse        {_fmt(hx['p50'])} / {_fmt(hx['p99'])} ms;"
            f" that client used {s['bare_client_cpu_s']} s CPU)"
        )
        out.append(f"    ADDED by the server  p50/p99   {_fmt(ad['p50'])} / {_fmt(ad['p99'])} ms")
        if s["measured_without_first_token"]:
            out.append(
                f"    no first token at all          {s['measured_without_first_token']} of the "
                f"{s['measured_sends']} measured (counted as infinitely late: n/a)"
            )
        sr = s["send_response_ms"]
        out.append(f"    POST /send/ answered p50/p99   {_fmt(sr['p50'])} / {_fmt(sr['p99'])} ms")
        out.append(
            f"    server CPU                     {s['server_cpu_s']} s "
            f"({s['server_cpu_utilisation']:.0%} of one core); load generator "
            f"{s['loadgen_cpu_s']} s, fake {s['fake_cpu_s']} s; load-generator "
            f"schedule lag p99 {_fmt(s['loadgen_schedule_lag_ms']['p99'], 'ms')}"
        )
        o = s["other_processes_cpu_s"]
        out.append(
            f"    outside our processes          server run: {_others(o['server_run'])}; "
            f"direct: {_others(o['direct_run'])}; httpx-sse: {_others(o['bare_run'])}"
        )
    if "files" in results:
        f = results["files"]
        out.append(
            f"\n(b2) Files: {f['rate_per_s']:.1f} sends/s ({f['sends']} sends) plain, then with "
            f"{f['with_files']} sends carrying "
            + " and ".join(f"{x['name']} ({x['bytes'] / 1e6:.1f} MB)" for x in f["files"])
        )
        out.append(f"    replies by status              plain {f['db_plain']['by_status']}")
        out.append(f"                                   files {f['db_files']['by_status']}")
        a, b, r = f["added_plain_ms"], f["added_others_ms"], f["ratio"]
        out.append(f"    ADDED, plain run     p50/p99   {_fmt(a['p50'])} / {_fmt(a['p99'])} ms")
        out.append(f"    ADDED, the others    p50/p99   {_fmt(b['p50'])} / {_fmt(b['p99'])} ms")
        out.append(f"    RATIO                p50/p99   {_fmt(r['p50'])} / {_fmt(r['p99'])} x")
        cs, ct = f["carriers_send_ms"], f["carriers_ttft_ms"]
        out.append(
            f"    sends with files     answered p50/p99 {_fmt(cs['p50'])} / {_fmt(cs['p99'])} ms,"
            f" first token p50/p99 {_fmt(ct['p50'])} / {_fmt(ct['p99'])} ms"
        )
        if f["carrier_errors"]:
            out.append(f"    errors of sends with files     {f['carrier_errors']}")
        out.append(
            f"    server CPU                     plain {f['server_cpu_s']['plain']} s, "
            f"with files {f['server_cpu_s']['files']} s"
        )
    if "cpu" in results:
        c = results["cpu"]
        out.append(f"\n(c) CPU per 1,000 relayed tokens, {c['count']} concurrent streams")
        out.append(
            f"    server                         {c['server_cpu_s_per_1k_tokens']} s "
            f"({c['server_cpu_s']} s for {c['server_tokens']} tokens)"
        )
        out.append(
            f"    bare httpx-sse client          {c['bare_cpu_s_per_1k_tokens']} s "
            f"({c['bare_cpu_s']} s for {c['bare_tokens']} tokens)"
        )
        out.append(f"    RATIO server / bare            {_fmt(c['ratio'], 'x')}")
        out.append(
            f"    wall time                      {c['server_wall_s']} s via the server, "
            f"{c['bare_wall_s']} s direct (the fake alone takes {setup['reply_seconds']:.0f} s "
            f"+ 1 s of starts)"
        )
        o = c["other_processes_cpu_s"]
        out.append(
            f"    outside our processes          server run: {_others(o['server_run'])}; "
            f"httpx-sse: {_others(o['bare_run'])}"
        )
    m = results["memory"]
    out.append(
        f"\n(d) Server memory: peak (VmHWM) {m['peak_mb']:.1f} MB, now (VmRSS) {m['rss_mb']:.1f} MB"
    )
    for note in results.get("notes", []):
        out.append(f"    note: {note}")
    out.append("\nTargets")
    width = max(len(c["name"]) for c in checks)
    for c in checks:
        out.append(
            f"    {'PASS' if c['pass'] else 'FAIL'}  {c['name']:<{width}}  "
            f"{_fmt(c['figure'], c['unit']):>14}   target {c['target']} {c['unit']}"
        )
    print("\n".join(out), flush=True)
