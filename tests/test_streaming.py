"""The live reply over a real uvicorn server: generated independently of the browser, resumed
without gaps or repeats, and framed for proxies (failure-cases.md 26, 27, 33, 34)."""

import re
import threading
import time
import uuid

import httpx
from django.db import connections
from django.test import Client

from conversations.models import Reply
from tests.conftest import wait_for_reply_sync
from tests.test_streaming_markdown import syntax_shown

TEXT = " ".join(f"word{i}" for i in range(60))


def post_send(client, message="Hi", conversation=""):
    """The send form as htmx posts it; the answer (the new turn's HTML)."""
    return client.post(
        "/send/",
        data={
            "message": message,
            "conversation": str(conversation),
            "client_token": str(uuid.uuid4()),
            "model": "gpt-5.5",
            "truncation": "auto",
        },
        headers={"HX-Request": "true"},
    )


def send(client, message="Hi", conversation=""):
    response = post_send(client, message, conversation)
    assert response.status_code == 200, response.text
    return Reply.objects.order_by("-created_at").first()


def read_events(response, until=None, limit=10.0, times=None):
    """Collects SSE messages (data joined per message) until `until(messages)` or the end;
    `times` gets each message's arrival time."""
    messages, data, deadline = [], [], time.monotonic() + limit
    for line in response.iter_lines():
        if line.startswith("data: "):
            data.append(line[6:])
        elif line == "" and data:
            messages.append("\n".join(data))
            if times is not None:
                times.append(time.monotonic())
            data = []
            if until and until(messages):
                break
        if time.monotonic() > deadline:
            break
    return messages


def test_stream_is_framed_for_proxies_and_ends_with_the_finished_reply(
    browser_session, fake_upstream, settings
):
    fake_upstream.queue({"behaviour": "ok", "text": TEXT, "delay_ms": 10})
    reply = send(browser_session)

    opened = time.monotonic()
    with browser_session.stream("GET", f"/r/{reply.pk}/stream/") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        assert "content-encoding" not in response.headers
        times = []
        messages = read_events(response, times=times)

    # 60 words 10 ms apart: the first words arrive long before the reply ends (no buffering).
    first_words = next(i for i, m in enumerate(messages) if "word" in m)
    assert times[first_words] - opened < (times[-1] - opened) / 2
    assert len(messages) >= 3  # snapshot, deltas or snapshots, final
    assert f'hx-target="#reply-{reply.pk}-body"' in messages[0]
    final = messages[-1]
    assert f'hx-target="#reply-{reply.pk}" hx-swap="outerHTML"' in final
    assert 'aria-busy="false"' in final and "word59" in final
    assert wait_for_reply_sync(reply.pk).text == TEXT
    assert settings.RESPONSES_API_KEY not in "".join(messages)


def test_viewers_share_the_process_budget_of_messages(browser_session, fake_upstream, settings):
    # A budget of 2 messages a second for all viewers: this one viewer gets one every 0.5 s
    # (0.15 s without the budget), however fast the words come.
    settings.STREAM_MESSAGES_PER_SECOND = 2
    fake_upstream.queue({"behaviour": "ok", "text": TEXT, "delay_ms": 25})
    reply = send(browser_session)

    with browser_session.stream("GET", f"/r/{reply.pk}/stream/") as response:
        times = []
        messages = read_events(response, times=times)

    updates = [t for m, t in zip(messages[:-1], times[:-1], strict=True) if "word" in m]
    assert len(updates) >= 3
    # The mean gap as the client read them (one late read can make one gap look short).
    assert (updates[-1] - updates[0]) / (len(updates) - 1) >= 0.45
    assert "word59" in messages[-1]


def test_closing_the_tab_neither_stops_nor_loses_the_reply(browser_session, fake_upstream):
    fake_upstream.queue({"behaviour": "ok", "text": TEXT, "delay_ms": 15})
    reply = send(browser_session)

    with browser_session.stream("GET", f"/r/{reply.pk}/stream/") as response:
        read_events(response, until=lambda m: len(m) >= 2)
    # The connection is closed mid-reply.

    stored = wait_for_reply_sync(reply.pk)
    assert stored.status == Reply.Status.COMPLETED
    assert stored.text == TEXT


def test_reconnecting_mid_reply_shows_text_so_far_then_continues(browser_session, fake_upstream):
    fake_upstream.queue({"behaviour": "ok", "text": TEXT, "delay_ms": 20})
    reply = send(browser_session)
    time.sleep(0.4)

    with browser_session.stream("GET", f"/r/{reply.pk}/stream/") as response:
        messages = read_events(response)

    first = messages[0]
    assert "word3 " in first or "word3<" in first  # the text so far, in the first message
    body = re.sub(r"<[^>]+>", " ", messages[-1])
    words = body.split()
    assert [w for w in words if w.startswith("word")] == TEXT.split()  # no gap, no repeat
    assert Reply.objects.filter(conversation_id=reply.conversation_id).count() == 1


def test_keepalive_comments_flow_while_the_relay_is_silent(
    browser_session, fake_upstream, settings
):
    settings.STREAM_KEEPALIVE_INTERVAL = 0.2
    fake_upstream.queue({"behaviour": "stall_before", "seconds": 1.2, "text": "late"})
    reply = send(browser_session)

    pings = 0
    with browser_session.stream("GET", f"/r/{reply.pk}/stream/") as response:
        for line in response.iter_lines():
            if line.startswith(": ping"):
                pings += 1
            if 'aria-busy="false"' in line:
                break
    assert pings >= 2
    assert wait_for_reply_sync(reply.pk).text == "late"


def test_twenty_concurrent_replies_never_lock_the_database(
    asgi_server, django_user_model, fake_upstream
):
    users = [django_user_model.objects.create_user(f"user{i}", password="x") for i in range(20)]
    sessions = []
    for user in users:
        django_client = Client()
        django_client.force_login(user)
        client = httpx.Client(base_url=asgi_server.url, timeout=20)
        client.cookies.set("sessionid", django_client.cookies["sessionid"].value)
        client.get("/")
        client.headers["X-CSRFToken"] = client.cookies["csrftoken"]
        sessions.append(client)
    fake_upstream.queue(*[{"behaviour": "ok", "text": TEXT, "delay_ms": 5}] * 20)
    errors = []

    def one(client):
        try:
            send(client)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()  # (on PostgreSQL: back to the pool, as a request does)

    threads = [threading.Thread(target=one, args=(client,)) for client in sessions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in sessions:
        client.close()

    assert errors == []
    replies = list(Reply.objects.all())
    assert len(replies) == 20
    for reply in replies:
        stored = wait_for_reply_sync(reply.pk, timeout=20)
        assert stored.status == Reply.Status.COMPLETED, stored.error_detail
        assert stored.text == TEXT


MARKDOWN = (
    "## Python or Go\n\n"
    "Both are **good choices**, with *different* strengths:\n\n"
    "| | Python | Go |\n| --- | --- | --- |\n"
    "| Writing it | quick, `many` libraries | a little more code |\n"
    "| Running it | an interpreter | one static binary |\n\n"
    "A minimal handler:\n\n"
    "```python\nasync def hello(request):\n    return web.Response(text='Hello')\n```\n\n"
    "- See [the docs](https://docs.python.org/3/)\n- Or ~~not~~ the *tour*\n\n"
    "> Pick **Python** if your team already knows it."
)
PARTIAL = re.compile(r'<hx-partial hx-target="#([^"]+)" hx-swap="([^"]+)">(.*?)</hx-partial>', re.S)


def test_a_reply_streams_as_settled_blocks_and_a_tail_never_as_raw_markdown(
    browser_session, fake_upstream
):
    fake_upstream.queue({"behaviour": "ok", "text": MARKDOWN, "delay_ms": 20, "piece_chars": 3})
    reply = send(browser_session)
    with browser_session.stream("GET", f"/r/{reply.pk}/stream/") as response:
        messages = read_events(response, limit=30)

    body, tail = f"reply-{reply.pk}-body", f"reply-{reply.pk}-tail"
    (target, swap, first), *_ = PARTIAL.findall(messages[0])
    assert (target, swap) == (body, "innerHTML")
    assert f'<div id="{tail}" class="live-tail">' in first
    settled = first.split(f'<div id="{tail}"')[0]
    updates = 0
    for message in messages[1:-1]:
        partials = PARTIAL.findall(message)
        # Only ever: blocks settled since, put before the tail; the tail replaced.
        assert {(t, s) for t, s, _ in partials} <= {(tail, "beforebegin"), (tail, "innerHTML")}
        for _, swap, html in partials:
            if swap == "beforebegin":
                settled += html
            else:
                updates += 1
            assert syntax_shown(html) == [], html
    assert updates >= 10
    # The blocks settled on the way are the finished reply's own: nothing jumps at the end.
    assert 'aria-busy="false"' in messages[-1]
    assert f'<div id="{body}" class="reply-body markdown">{settled}' in messages[-1]
    assert settled.count("<table>") == 1 and settled.count('class="codeblock"') == 1
