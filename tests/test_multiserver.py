"""Two real servers, A and B, sharing a PostgreSQL database and a Redis (tests/multiserver.py):
a reply generated on one is watched, stopped, retried and reloaded on the other; servers are
stopped (SIGTERM, within and past the grace), killed (SIGKILL) and Redis restarted while replies
are written; and nginx in front of both, with the repository's site file
(deploy/nginx/chatsite.conf), streams replies as they come and loses none across a rolling
restart. Run in the PostgreSQL pass of .ci/run; skipped where PostgreSQL, redis-server
or nginx is missing (unless MULTISERVER_REQUIRED is set, as CI does: then that is a failure)."""

import os
import signal
import time

import pytest

from conversations.fake_upstream.text import filler_text
from tests.multiserver import (
    SITE_FILE,
    Nginx,
    Site,
    body_of_reply_html,
    check_no_gap_no_repeat,
    executable,
    log_tail,
    markdown_words,
    missing_services,
    normalised,
    plain_words,
    port_open,
    wait_until,
)

pytestmark = [pytest.mark.multiserver, pytest.mark.timeout(150)]


def unavailable(reason: str):
    if os.environ.get("MULTISERVER_REQUIRED"):
        pytest.fail(f"MULTISERVER_REQUIRED is set, but {reason}")
    pytest.skip(f"two-server tests need PostgreSQL, redis-server and nginx: {reason}")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    reason = missing_services()
    if reason:
        unavailable(reason)
    site = Site(tmp_path_factory.mktemp("multiserver"), people=40)
    try:
        site.start()
        yield site
    finally:
        site.stop()


@pytest.fixture(scope="module")
def nginx(site):
    if executable("nginx") is None:
        unavailable("no nginx on PATH or in /usr/sbin")
    assert SITE_FILE.exists(), f"the repository's nginx site file {SITE_FILE} is missing"
    proxy = Nginx(site, [site.a, site.b]).start()
    yield proxy
    proxy.stop()


def ok(tokens: int, delay_ms: int) -> str:
    """A message the fake relay answers with `tokens` numbered words, one every delay_ms."""
    return f"[[fake:ok tokens={tokens} delay_ms={delay_ms}]]"


def drained(exit_code: int | None, proc) -> bool:
    """A server that ended on SIGTERM after its lifespan shutdown completed (uvicorn exits by
    the signal it caught, once it has shut down)."""
    return exit_code in (0, -signal.SIGTERM) and "Application shutdown complete" in log_tail(
        proc, 100_000
    )


def generated_by(reply: dict, server) -> bool:
    return reply["worker"].endswith(f":{server.pid}")


def test_a_reply_generated_on_a_is_watched_live_on_b(site):
    a, b = site.a.ensure(), site.b.ensure()
    person = site.person()
    reply_id = person.send(a.url, ok(120, 20))
    on_b = person.follow(reply_id, b.url, reconnect=False)
    on_a = person.follow(reply_id, a.url, reconnect=False)

    assert on_b.wait(30), f"B's stream did not end within 30 s: {on_b.summary()}"
    assert on_a.wait(10), f"A's stream did not end: {on_a.summary()}"
    reply = site.database.reply(reply_id)
    assert generated_by(reply, a), f"the reply was not generated on A: {reply['worker']}"
    assert reply["status"] == "completed", f"the reply ended {reply['status']}"
    assert reply["text"] == filler_text(120), "the stored reply is not the relay's whole text"
    assert [c.ending for c in on_b.connections] == ["final"], on_b.summary()
    check_no_gap_no_repeat(on_b, reply["text"], "B's stream")
    assert on_b.final_words() == markdown_words(reply["text"]), "B's final reply differs from it"
    assert normalised(on_b.view.final) == normalised(on_a.view.final), (
        "the finished reply's HTML on B differs from A's:\n"
        f"A: {normalised(on_a.view.final)[:1500]}\nB: {normalised(on_b.view.final)[:1500]}"
    )
    assert on_b.live_updates >= max(3, on_a.live_updates // 2), (
        f"B showed the reply in {on_b.live_updates} updates, A in {on_a.live_updates}: B did not "
        "follow it live"
    )


def test_reload_on_b_mid_reply_shows_the_text_so_far_and_goes_on(site):
    a, b = site.a.ensure(), site.b.ensure()
    person = site.person()
    reply_id = person.send(a.url, ok(150, 20))
    flushed = site.wait_text(reply_id, words=10)
    page = person.get(b.url, f"/c/{flushed['conversation_id']}/")
    assert page.status_code == 200, f"the page on B answered {page.status_code}"
    on_page = plain_words(body_of_reply_html(page.text, reply_id))
    assert f'hx-sse:connect="/r/{reply_id}/stream/"' in page.text, (
        "the page on B does not follow the reply being written"
    )
    on_b = person.follow(reply_id, b.url, reconnect=False)

    assert on_b.wait(30), f"B's stream did not end within 30 s: {on_b.summary()}"
    reply = site.database.reply(reply_id)
    assert reply["status"] == "completed" and reply["text"] == filler_text(150), reply["status"]
    expected = markdown_words(reply["text"])
    assert len(on_page) >= 10 and on_page == expected[: len(on_page)], (
        f"the page on B showed {' '.join(on_page)[:200]!r}, not the start of the reply"
    )
    check_no_gap_no_repeat(on_b, reply["text"], "B's stream after the reload")
    first = on_b.connections[0].texts
    assert first and len(first[0][1]) >= len(on_page), (
        f"B's stream started with {len(first[0][1]) if first else 0} words, behind the page's "
        f"{len(on_page)}"
    )
    assert on_b.final_words() == expected, (
        f"B's stream did not end with the reply: {on_b.summary()}"
    )


def test_stop_on_b_ends_a_reply_generated_on_a_within_a_second(site):
    a, b = site.a.ensure(), site.b.ensure()
    person = site.person()
    reply_id = person.send(a.url, ok(400, 20))
    on_b = person.follow(reply_id, b.url, reconnect=False)
    site.wait_text(reply_id, words=3)

    answer = person.post(b.url, f"/r/{reply_id}/stop/")
    answered = time.monotonic()
    assert answer.status_code == 204, f"Stop on B answered {answer.status_code}"
    reply = site.wait_ended(reply_id, timeout=1.0)
    took = time.monotonic() - answered
    assert reply["status"] == "cancelled", (
        f"1 s after Stop on B the reply generated on A is {reply['status']} ({took:.2f} s)"
    )
    assert generated_by(reply, a), f"the reply was not generated on A: {reply['worker']}"
    assert filler_text(400).startswith(reply["text"]) and reply["text"], "its text was not kept"
    assert on_b.wait(10), f"B's stream did not end after Stop: {on_b.summary()}"
    assert 'status-cancelled"' in on_b.view.final, "B's stream did not end with the stopped reply"
    check_no_gap_no_repeat(on_b, reply["text"], "B's stream of the stopped reply")


def test_retry_on_b_of_a_failed_reply_generates_it_again(site):
    a, b = site.a.ensure(), site.b.ensure()
    person = site.person()
    site.queue_relay({"behaviour": "http_error", "status": 500})  # the first request fails
    reply_id = person.send(a.url, ok(30, 10))
    failed = site.wait_ended(reply_id, timeout=15)
    assert failed["status"] == "failed", f"the relay's 500 left the reply {failed['status']}"

    answer = person.post(b.url, f"/r/{reply_id}/retry/")
    assert answer.status_code == 200, f"Retry on B answered {answer.status_code}"
    versions = site.database.replies_of_turn(reply_id)
    retried = [v for v in versions if v["retry_of_id"] == reply_id]
    assert len(retried) == 1, f"Retry on B made {len(retried)} new versions: {versions}"
    again = site.wait_ended(retried[0]["id"], timeout=15)
    assert again["status"] == "completed", f"the retried reply ended {again['status']}"
    assert again["text"] == filler_text(30), "the retried reply is not the relay's whole text"
    assert generated_by(again, b), f"the retry was not generated on B: {again['worker']}"
    assert site.database.reply(reply_id)["status"] == "failed", "the failed version changed"


def test_redis_restarted_mid_reply(site):
    a, b = site.a.ensure(), site.b.ensure()
    person, other = site.person(), site.person()
    reply_id = person.send(a.url, ok(400, 25))  # 10 s, watched on B across the restart
    on_b = person.follow(reply_id, b.url)
    unwatched = other.send(b.url, ok(400, 25))  # first watched on A after the restart
    site.wait_text(reply_id, words=5)

    site.redis.stop()
    time.sleep(1.0)
    site.redis.start()
    # Opened once the stored text has gone past the restart: A starts from it and takes from
    # the new stream only what lies beyond it.
    time.sleep(1.5)
    on_a = other.follow(unwatched, a.url)

    reply = site.wait_ended(reply_id, timeout=40)
    ended = time.monotonic()
    assert reply["status"] == "completed", f"with Redis restarted the reply ended {reply['status']}"
    assert reply["text"] == filler_text(400), "with Redis restarted the reply was not stored whole"
    assert on_b.wait(15), (
        f"B's stream was still open {time.monotonic() - ended:.0f} s after the reply ended "
        f"(a page stuck 'writing'): {on_b.summary()}"
    )
    check_no_gap_no_repeat(on_b, reply["text"], "B's stream across the Redis restart")
    ending = on_b.connections[-1].ending
    if ending == "final":
        assert on_b.final_words() == markdown_words(reply["text"]), on_b.summary()
    else:
        assert ending == "note" and plain_words(on_b.view.note), (
            f"B's stream ended neither with the reply nor with a sentence: {on_b.summary()}"
        )

    later = site.wait_ended(unwatched, timeout=20)
    assert later["status"] == "completed", f"with Redis restarted a reply ended {later['status']}"
    assert later["text"] == filler_text(400), "with Redis restarted a reply was not stored whole"
    assert on_a.wait(15), f"A's stream opened after the restart did not end: {on_a.summary()}"
    check_no_gap_no_repeat(on_a, later["text"], "A's stream opened after the Redis restart")
    assert on_a.connections[-1].ending == "final", on_a.summary()
    assert on_a.live_updates >= 3, f"after the restart A did not follow live: {on_a.summary()}"


def test_sigterm_within_the_grace_lets_the_reply_finish_and_viewers_move_to_b(site):
    a, b = site.a.ensure(), site.b.ensure()  # a grace (30 s) longer than the reply
    person = site.person()
    reply_id = person.send(a.url, ok(400, 25))  # 10 s
    viewer = person.follow(reply_id, a.url, b.url)  # cut on A, reconnects on B
    site.wait_text(reply_id, words=5)

    a.signal(signal.SIGTERM)
    assert viewer.wait(40), f"the viewer did not see the reply end: {viewer.summary()}"
    exit_code = a.wait_exit(30)
    reply = site.database.reply(reply_id)
    assert reply["status"] == "completed", f"SIGTERM within the grace: reply {reply['status']}"
    assert reply["text"] == filler_text(400), "SIGTERM within the grace: the text is not whole"
    first, *others = viewer.connections
    assert first.url == a.url and first.ending.startswith("cut"), (
        f"the viewer on A was not cut by the stopping server: {viewer.summary()}"
    )
    assert others and all(c.url == b.url for c in others), viewer.summary()
    assert others[-1].ending == "final", f"B did not show the reply's end: {viewer.summary()}"
    check_no_gap_no_repeat(viewer, reply["text"], "the viewer moved from A to B")
    assert viewer.final_words() == markdown_words(reply["text"])
    assert drained(exit_code, a.proc), f"A did not end cleanly (exit {exit_code}):\n{a.log()}"
    # The stream cut by the stopping server ended as a complete response, not as an error.
    assert "Exception in ASGI application" not in log_tail(a.proc, 100_000), a.log()


def test_sigterm_past_the_grace_stores_the_reply_interrupted(site):
    a, b = site.a.ensure(SHUTDOWN_GRACE_SECONDS=1), site.b.ensure()
    person = site.person()
    reply_id = person.send(a.url, ok(600, 20))  # 12 s
    on_b = person.follow(reply_id, b.url, reconnect=False)
    site.wait_text(reply_id, words=5)

    a.signal(signal.SIGTERM)
    exit_code = a.wait_exit(20)
    assert exit_code is not None, f"A did not exit within 20 s of SIGTERM:\n{a.log()}"
    reply = site.database.reply(reply_id)
    assert reply["status"] == "interrupted", (
        f"past the grace the reply was left {reply['status']}, not interrupted"
    )
    assert reply["error_code"] == "server_restart", reply["error_code"]
    assert reply["text"] and filler_text(600).startswith(reply["text"]), (
        "the interrupted reply's text was not kept"
    )
    assert len(reply["text"]) < len(filler_text(600)), "the reply was not cut by the grace"
    assert reply["usage_estimated"] and reply["output_tokens"], (
        f"no usage estimate: {reply['output_tokens']=} {reply['usage_estimated']=}"
    )
    assert on_b.wait(10), f"B's viewer did not see the reply end: {on_b.summary()}"
    assert 'status-interrupted"' in on_b.view.final, on_b.summary()
    check_no_gap_no_repeat(on_b, reply["text"], "B's stream of the reply cut at shutdown")
    assert drained(exit_code, a.proc), f"A did not end cleanly (exit {exit_code}):\n{a.log()}"


def test_sigkill_of_a_is_noticed_by_b_within_30_seconds(site):
    a, b = site.a.ensure(), site.b.ensure()
    person = site.person()
    reply_id = person.send(a.url, ok(2000, 20))  # 40 s, were A to live
    on_b = person.follow(reply_id, b.url, reconnect=False)
    site.wait_text(reply_id, words=5)

    a.signal(signal.SIGKILL)
    killed = time.monotonic()
    reply = site.wait_ended(reply_id, timeout=30)
    noticed = time.monotonic() - killed
    assert reply["status"] == "interrupted", (
        f"{noticed:.0f} s after SIGKILL of A its reply is {reply['status']}"
    )
    assert reply["text"] and filler_text(2000).startswith(reply["text"]), "its text was not kept"
    assert on_b.wait(10), f"B's viewer did not see the reply end: {on_b.summary()}"
    assert 'status-interrupted"' in on_b.view.final, on_b.summary()
    # What A had published but not yet stored died with it: B may have shown more than the
    # stored text, but only ever the relay's text, in order.
    check_no_gap_no_repeat(on_b, filler_text(2000), "B's stream of a killed server's reply")
    assert on_b.final_words() == markdown_words(reply["text"]), "B did not end with the stored text"


def test_nginx_passes_the_first_words_on_long_before_the_reply_ends(site, nginx):
    site.a.ensure(), site.b.ensure()
    person = site.person()
    sent = time.monotonic()
    reply_id = person.send(nginx.url, ok(200, 20))  # 4 s
    viewer = person.follow(reply_id, nginx.url, reconnect=False)
    assert viewer.wait(30), f"the stream through nginx did not end: {viewer.summary()}"
    reply = site.database.reply(reply_id)
    assert reply["status"] == "completed", reply["status"]
    texts = viewer.connections[0].texts
    first_words = next((t for t, words in texts if words), None)
    assert first_words is not None, (
        f"no words came through nginx before the end: {viewer.summary()}"
    )
    last_message = viewer.connections[0].messages[-1][0]
    assert first_words - sent <= 1.5, (
        f"the first words came through nginx {first_words - sent:.2f} s after the send "
        "(a 4 s reply): buffered?"
    )
    assert last_message - first_words >= 2.0, (
        f"the first words and the end came through nginx {last_message - first_words:.2f} s "
        "apart (a 4 s reply): buffered?"
    )
    check_no_gap_no_repeat(viewer, reply["text"], "the stream through nginx")


def test_rolling_restart_behind_nginx_loses_no_reply(site, nginx):
    a, b = site.a.ensure(), site.b.ensure()  # a grace (30 s) longer than the replies
    people = [site.person() for _ in range(20)]
    tokens = 400  # 20 s each: longer than both restarts
    # One after the other, so nginx sends them to A and B in turn.
    replies = [person.send(nginx.url, ok(tokens, 50)) for person in people]
    viewers = [person.follow(r, nginx.url) for person, r in zip(people, replies, strict=True)]
    for reply_id in replies:
        site.wait_text(reply_id, words=2)

    began, old, timeline = time.monotonic(), [], []
    for server in (a, b):
        old.append(server.proc)
        server.signal(signal.SIGTERM)
        timeline.append(f"SIGTERM {server.name} at {time.monotonic() - began:.1f} s")
        closed = wait_until(lambda s=server: not port_open(s.port), 10)
        assert closed, f"server {server.name} still listens 10 s after SIGTERM"
        server.start(**server.settings)
        timeline.append(f"{server.name} ready again at {time.monotonic() - began:.1f} s")

    for viewer in viewers:
        assert viewer.wait(60), f"a stream through nginx did not end: {viewer.summary()}"
    ends = [
        v.connections[-1].messages[-1][0] - began for v in viewers if v.connections[-1].messages
    ]
    timeline.append(f"the replies ended from {min(ends):.1f} to {max(ends):.1f} s")
    expected = filler_text(tokens)
    stored = [site.database.reply(r) for r in replies]
    statuses = [r["status"] for r in stored]
    assert statuses == ["completed"] * 20, (
        f"after a rolling restart the replies are {statuses} ({', '.join(timeline)})"
    )
    assert all(r["text"] == expected for r in stored), "a reply's stored text is not whole"
    workers = {r["worker"] for r in stored}
    assert {f":{p.pid}" for p in old} == {w[w.rindex(":") :] for w in workers}, (
        f"the replies were not generated by the old A and B: {workers}"
    )
    for viewer in viewers:
        check_no_gap_no_repeat(viewer, expected, f"the stream of {viewer.reply_id}")
        assert viewer.connections[-1].ending == "final", viewer.summary()
        assert viewer.final_words() == markdown_words(expected), viewer.summary()
    moved = sum(any(c.ending.startswith("cut") for c in v.connections) for v in viewers)
    assert moved >= 10, (
        f"only {moved} of 20 streams were cut and followed elsewhere: the restarts came too late "
        f"to test anything ({', '.join(timeline)})"
    )
    for proc in old:
        code = proc.wait(30)
        assert drained(code, proc), (
            f"{proc.name} did not end cleanly (exit {code}):\n{log_tail(proc)}"
        )
