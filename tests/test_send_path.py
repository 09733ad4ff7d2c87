"""The send path under the server's own ASGI handler (chatsite/asgi.py): sends and live
streams through real HTTP, the per-user limits counted in one query, and static files and
security headers, which the handler must keep."""

import re
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Conversation, QuotaPolicy, Reply
from conversations.models.chat import _check_rates
from conversations.models.usage import RateLimited
from tests.conftest import logged_in_http, wait_for_reply_sync
from tests.test_streaming import TEXT, post_send, read_events, send

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_send_and_its_stream_through_the_servers_handler(
    asgi_server,
    browser_session,
    fake_upstream,
):
    fake_upstream.queue({"behaviour": "ok", "text": TEXT, "delay_ms": 5})
    reply = send(browser_session, "Through the real handler")
    assert reply.user_input == "Through the real handler"

    with browser_session.stream("GET", f"/r/{reply.pk}/stream/") as response:
        assert response.status_code == 200
        messages = read_events(response)

    assert 'aria-busy="false"' in messages[-1]
    finished = wait_for_reply_sync(reply.pk)
    assert finished.status == Reply.Status.COMPLETED and finished.text == TEXT
    assert len(fake_upstream.requests) == 1


def test_a_reply_is_live_when_its_send_is_answered_through_the_servers_handler(
    asgi_server,
    browser_session,
    fake_upstream,
):
    """The send queues its reply's start on the server's loop without waiting; the loop runs it
    before it sends the answer, so the stream the page opens next finds the reply live."""
    from conversations import live

    fake_upstream.queue({"behaviour": "ok", "text": "One two three.", "delay_ms": 300})
    response = post_send(browser_session, "Live at once")

    reply_id = re.search(r'id="reply-([0-9a-f-]{36})"', response.text).group(1)
    assert live.get(uuid.UUID(reply_id)) is not None
    assert wait_for_reply_sync(reply_id).status == Reply.Status.COMPLETED


def test_another_users_stream_is_a_404_through_the_servers_handler(
    asgi_server,
    browser_session,
    fake_upstream,
    bob,
):
    fake_upstream.queue({"behaviour": "ok", "text": TEXT})
    reply = send(browser_session)
    bobs = logged_in_http(asgi_server, bob)
    assert bobs.get(f"/r/{reply.pk}/stream/").status_code == 404
    bobs.close()
    wait_for_reply_sync(reply.pk)


def test_pages_keep_their_security_headers_and_static_files_are_served(
    asgi_server,
    browser_session,
):
    page = browser_session.get("/")
    assert "nonce-" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"
    script = re.search(r'src="(/static/[^"]+\.js)"', page.text).group(1)

    static = browser_session.get(script)

    assert static.status_code == 200
    assert static.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in static.headers["cache-control"]  # a hashed name, cached for good


def test_concurrent_sends_all_complete_without_busy_refusals(
    asgi_server, django_user_model, fake_upstream
):
    clients = []
    for i in range(15):
        user = django_user_model.objects.create_user(f"burst{i}", password="x")
        clients.append(logged_in_http(asgi_server, user, timeout=30))
    fake_upstream.queue(*[{"behaviour": "ok", "text": TEXT, "delay_ms": 2}] * 15)
    statuses = []
    barrier = threading.Barrier(len(clients))

    def one(client):
        barrier.wait()
        statuses.append(post_send(client, "At once").status_code)

    threads = [threading.Thread(target=one, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()

    assert statuses == [200] * 15
    for reply in Reply.objects.all():
        assert wait_for_reply_sync(reply.pk).status == Reply.Status.COMPLETED
    assert Reply.objects.count() == 15


def _reply(user, status):
    conversation = Conversation.objects.create(owner=user, model="gpt-5.5")
    return Reply.objects.create(conversation=conversation, user=user, user_input="x", status=status)


def test_rate_limits_are_counted_in_one_query(alice):
    QuotaPolicy.objects.create(scope="default", max_concurrent_replies=2, max_sends_per_minute=3)
    limits = QuotaPolicy.limits_for(alice)
    _reply(alice, Reply.Status.IN_PROGRESS)

    with CaptureQueriesContext(connection) as queries:
        _check_rates(alice, limits)  # one generating, one sent this minute: allowed
    assert len(queries) == 1

    _reply(alice, Reply.Status.QUEUED)
    with pytest.raises(RateLimited) as caught:
        _check_rates(alice, limits)
    assert caught.value.reason == "concurrent" and caught.value.retry_after == 5

    Reply.objects.update(status=Reply.Status.COMPLETED)
    _check_rates(alice, limits)  # two sent this minute, none generating: allowed
    _reply(alice, Reply.Status.COMPLETED)
    with pytest.raises(RateLimited) as caught:
        _check_rates(alice, limits)
    assert caught.value.reason == "per_minute" and 55 <= caught.value.retry_after <= 60

    Reply.objects.update(created_at=timezone.now() - timedelta(seconds=61))
    _check_rates(alice, limits)  # all sent more than a minute ago


def test_progress_of_many_replies_is_written_in_a_few_statements(alice, bob):
    now = timezone.now()
    texts = {"reasoning_summary": "", "refusal": "", "heartbeat_at": now}
    writing, beating, stopped = (
        _reply(user, Reply.Status.IN_PROGRESS) for user in (alice, bob, alice)
    )
    Reply.objects.filter(pk=stopped.pk).update(stop_requested=True)  # Stop, from another process
    gone = uuid.uuid4()
    writes = [
        (writing.pk, {"text": "so far", "first_token_at": now, **texts}),
        (beating.pk, {"heartbeat_at": now}),
        (stopped.pk, {"text": "not written", **texts}),
        (gone, {"heartbeat_at": now}),
    ]

    with CaptureQueriesContext(connection) as queries:
        refused = Reply.objects.save_progress(writes)

    assert set(refused) == {stopped.pk, gone}
    assert len(queries) == 3  # who stopped, then one statement per set of fields written
    writing.refresh_from_db()
    assert writing.text == "so far" and writing.first_token_at == now
    beating.refresh_from_db()
    assert beating.heartbeat_at == now and beating.text == ""
    stopped.refresh_from_db()
    assert stopped.text == "" and stopped.heartbeat_at is None


def test_a_stop_asked_by_another_process_ends_the_reply_here(browser_session, fake_upstream):
    fake_upstream.queue({"behaviour": "ok", "text": TEXT, "delay_ms": 100})
    reply = send(browser_session, "Stopped from elsewhere")
    deadline = time.monotonic() + 10
    while not Reply.objects.get(pk=reply.pk).text and time.monotonic() < deadline:
        time.sleep(0.05)  # some text was written by the batched writes

    Reply.objects.filter(pk=reply.pk).update(stop_requested=True)  # as Stop does elsewhere

    finished = wait_for_reply_sync(reply.pk)
    assert finished.status == Reply.Status.CANCELLED
    assert finished.text and TEXT.startswith(finished.text) and finished.text != TEXT


def test_the_shared_threads_connection_is_reused_or_pooled_and_pages_open_their_own(
    browser_session, fake_upstream
):
    """Sends and the reply tasks' database work share one thread (conversations/work_threads.py):
    on SQLite it keeps its connection (CONN_MAX_AGE), on PostgreSQL it holds none between pieces
    of work (back in the pool). Each page runs in a thread of its own with its own connection."""
    from django.db import connections
    from django.db.backends.signals import connection_created

    from conversations import work_threads

    opened: list[str] = []

    def note(sender, connection, **kwargs):
        opened.append(threading.current_thread().name)

    connection_created.connect(note)
    try:
        for _ in range(3):
            fake_upstream.queue({"behaviour": "ok", "text": "Short.", "delay_ms": 0})
            reply = wait_for_reply_sync(send(browser_session).pk)
            assert reply.status == Reply.Status.COMPLETED
        for _ in range(3):
            assert browser_session.get("/").status_code == 200
    finally:
        connection_created.disconnect(note)

    def holds_a_connection() -> bool:
        return connections["default"].connection is not None

    held = work_threads.shared().submit(holds_a_connection).result(5)
    on_shared = [name for name in opened if name.startswith("shared")]
    if connection.vendor == "sqlite":
        assert held and len(on_shared) <= 1, opened  # three sends, three ends: one connection
    else:
        assert not held, opened
    assert len([name for name in opened if name.startswith("request")]) == 3, opened


def test_the_end_of_a_sent_reply_is_stored_and_priced_in_one_write_without_reading_it_back(
    alice,
):
    from conversations import generation
    from conversations.live import LiveReply
    from conversations.models import AIModel, Reservation, UsageEntry

    AIModel.objects.update_or_create(
        model_id="gpt-5.5", defaults={"input_price": 1, "output_price": 2, "currency": "USD"}
    )
    reply, _ = Reply.objects.submit(
        alice, Conversation(owner=alice, model="gpt-5.5"), "Hello", uuid.uuid4()
    )
    payload = generation.prepare(reply)
    live = LiveReply(reply.pk, reply.conversation_id, reply.user_id)
    live.reservation = reply.reservation_in_hand
    live.add_text("Hi there.")
    usage = {"input_tokens": 1000, "output_tokens": 500, "total_tokens": 1500}
    outcome = generation.Outcome(Reply.Status.COMPLETED, response={"usage": usage})

    with CaptureQueriesContext(connection) as queries:
        generation._finish(live, payload, outcome)

    statements = [query["sql"] for query in queries]
    # The quota policies are not read again (the reservation holds the limits of the send);
    # the user's first group is, as no group policy applies to her.
    reads = [sql for sql in statements if sql.startswith("SELECT")]
    assert not [sql for sql in reads if "_reply" in sql or "_reservation" in sql], reads
    assert not [sql for sql in reads if "quotapolicy" in sql], reads
    assert [sql for sql in reads if "auth_group" in sql], reads
    assert len([sql for sql in statements if sql.startswith('UPDATE "conversations_reply"')]) == 1
    ended = Reply.objects.get(pk=reply.pk)
    assert ended.status == Reply.Status.COMPLETED and ended.text == "Hi there."
    assert ended.cost == live.ended.cost == ended.price()[0] > 0
    assert Reservation.objects.get(reply=reply).state == Reservation.State.SETTLED
    entry = UsageEntry.objects.get(reply=reply)
    assert entry.total_tokens == 1500 and entry.cost == ended.cost
