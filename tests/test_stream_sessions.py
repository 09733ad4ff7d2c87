"""A reply's stream lasts no longer than the session that opened it: its address opens nothing
after a logout, an expired session or a deactivation, and a stream already open ends within 5 s
of any of them with a sentence where it was shown (failure-cases.md 8, 11)."""

import html
import re
import time
import uuid
from datetime import timedelta

import httpx
import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.utils import timezone

from conversations import live as live_registry
from conversations.live import LiveReply
from conversations.models import Reply
from conversations.views.stream import _final_message
from tests.conftest import logged_in_http
from tests.test_recovery import generating_reply
from tests.test_streaming import read_events, send

pytestmark = pytest.mark.django_db

STREAM_URL = re.compile(r'hx-sse:connect="([^"]+)"')
SIGNED_OUT = "no longer signed in"


@pytest.fixture
def writing(alice):
    """A reply of alice's, in progress and registered as live in this process."""
    reply = generating_reply(alice, worker="here:1")
    live = LiveReply(reply.pk, reply.conversation_id, alice.pk)
    live_registry.register(live)
    yield reply
    live_registry.unregister(live)


def page_stream_url(client: Client, reply: Reply) -> str:
    page = client.get(reply.conversation.get_absolute_url())
    assert page.status_code == 200
    return html.unescape(STREAM_URL.search(page.text).group(1))


def replay(session_cookie: str, url: str):
    """The stream's address asked for with a session cookie captured earlier."""
    thief = Client()
    thief.cookies["sessionid"] = session_cookie
    return thief.get(url)


def assert_opens_nothing(response):
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    assert not response.streaming


def test_a_live_reply_stream_opens_with_the_login_check_and_no_reply_query(
    alice_client, writing, django_assert_num_queries
):
    url = page_stream_url(alice_client, writing)

    with django_assert_num_queries(2):  # the session and the user: the reply is known here
        response = alice_client.get(url)

    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/event-stream")


def test_another_users_live_reply_is_a_404(alice_client, writing, bob_client):
    url = page_stream_url(alice_client, writing)
    assert bob_client.get(url).status_code == 404
    assert Client().get(url).status_code == 302


def test_the_stream_address_opens_nothing_after_logout(alice_client, writing):
    url = page_stream_url(alice_client, writing)
    cookie = alice_client.cookies["sessionid"].value
    assert replay(cookie, url).status_code == 200

    alice_client.post("/logout/")

    assert_opens_nothing(replay(cookie, url))


def test_the_stream_address_opens_nothing_once_the_session_expired(alice_client, writing):
    url = page_stream_url(alice_client, writing)
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))

    assert_opens_nothing(alice_client.get(url))


def test_the_stream_address_opens_nothing_once_the_user_is_deactivated(
    alice, alice_client, writing
):
    url = page_stream_url(alice_client, writing)
    type(alice).objects.filter(pk=alice.pk).update(is_active=False)

    assert_opens_nothing(alice_client.get(url))


def test_the_stream_address_opens_nothing_after_a_password_change(alice, alice_client, writing):
    url = page_stream_url(alice_client, writing)
    alice.set_password("another correct horse")
    alice.save()

    assert_opens_nothing(alice_client.get(url))


def test_the_finished_reply_is_rendered_from_memory_without_a_query(
    alice, rf, django_assert_num_queries
):
    reply = Reply(
        pk=uuid.uuid4(),
        conversation_id=uuid.uuid4(),
        user_id=alice.pk,
        model="gpt-5.5",
        status=Reply.Status.FAILED,
        text="Half a",
        error_message="The service did not answer in time.",
    ).as_ended()

    with django_assert_num_queries(0):
        message = _final_message(rf.get("/"), reply).decode()

    assert "Half a" in message and "Retry" in message and "did not answer" in message


# --- A stream already open, over a real server ------------------------------------------------


def open_silent_reply(asgi_server, alice, fake_upstream):
    """alice's client on the real server and a reply of hers that the relay keeps silent for
    30 s (so nothing but the session check can end its stream)."""
    client = logged_in_http(asgi_server, alice)
    fake_upstream.queue({"behaviour": "stall_before", "seconds": 30, "text": "late"})
    return client, send(client)


def read_until_end(client, reply, end_it, limit=8.0):
    """Opens the reply's stream, calls `end_it()` once the first message arrived, and reads to
    the end: (seconds from `end_it` to the end of the stream, the messages)."""
    with client.stream("GET", f"/r/{reply.pk}/stream/") as response:
        assert response.status_code == 200
        lines = response.iter_lines()
        messages = read_events_from(lines, until=lambda m: len(m) >= 1)
        ended_at = time.monotonic()
        end_it()
        messages += read_events_from(lines, limit=limit)
        return time.monotonic() - ended_at, messages


def read_events_from(lines, until=None, limit=10.0):
    class Lines:
        def iter_lines(self):
            return lines

    return read_events(Lines(), until=until, limit=limit)


def assert_ended_with_the_sentence(elapsed, messages, reply):
    assert elapsed < 5, f"the stream went on for {elapsed:.1f} s"
    last = messages[-1]
    assert f'hx-target="#reply-{reply.pk}-live" hx-swap="outerHTML"' in last
    assert SIGNED_OUT in last
    # "Writing…" and Stop go too: Stop would only lead to the login page now.
    assert f'hx-target="#reply-{reply.pk}-controls" hx-swap="innerHTML"></hx-partial>' in last
    assert "late" not in "".join(messages)


@pytest.mark.django_db(transaction=True)
def test_logging_out_ends_an_open_stream_within_5_seconds(asgi_server, alice, fake_upstream):
    client, reply = open_silent_reply(asgi_server, alice, fake_upstream)

    elapsed, messages = read_until_end(client, reply, lambda: client.post("/logout/"))

    assert_ended_with_the_sentence(elapsed, messages, reply)
    client.close()


@pytest.mark.django_db(transaction=True)
def test_logging_out_in_another_tab_ends_this_tabs_stream(asgi_server, alice, fake_upstream):
    client, reply = open_silent_reply(asgi_server, alice, fake_upstream)
    other_tab = httpx.Client(base_url=asgi_server.url, cookies=client.cookies, timeout=10)
    other_tab.headers.update(client.headers)

    elapsed, messages = read_until_end(client, reply, lambda: other_tab.post("/logout/"))

    assert_ended_with_the_sentence(elapsed, messages, reply)
    other_tab.close()
    client.close()


@pytest.mark.django_db(transaction=True)
def test_an_open_stream_ends_within_5_seconds_of_its_session_expiring(
    asgi_server, alice, fake_upstream
):
    client, reply = open_silent_reply(asgi_server, alice, fake_upstream)
    key = client.cookies["sessionid"]

    def expire():
        Session.objects.filter(pk=key).update(expire_date=timezone.now())

    elapsed, messages = read_until_end(client, reply, expire)

    assert_ended_with_the_sentence(elapsed, messages, reply)
    client.close()


@pytest.mark.django_db(transaction=True)
def test_deactivating_a_user_ends_their_live_stream_within_5_seconds(
    asgi_server, alice, fake_upstream
):
    client, reply = open_silent_reply(asgi_server, alice, fake_upstream)

    def deactivate():
        type(alice).objects.filter(pk=alice.pk).update(is_active=False)

    elapsed, messages = read_until_end(client, reply, deactivate)

    assert_ended_with_the_sentence(elapsed, messages, reply)
    client.close()


@pytest.mark.django_db(transaction=True)
def test_the_sentence_is_in_the_pages_language(asgi_server, alice, fake_upstream):
    client, reply = open_silent_reply(asgi_server, alice, fake_upstream)
    client.headers["Accept-Language"] = "zh-CN,zh;q=0.9"

    elapsed, messages = read_until_end(client, reply, lambda: client.post("/logout/"))

    assert elapsed < 5
    assert "你已不在登录状态" in messages[-1]
    client.close()
