"""A live reply's stream key (conversations/stream_keys.py): with it, the owner's browser opens the
stream of a reply this process is writing with no database query; without it, with another
session's key, or once the reply is not live here, the usual login check and lookup apply."""

import html
import re
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conversations import live as live_registry
from conversations.live import LiveReply
from conversations.models import Reply
from tests.test_recovery import generating_reply
from tests.test_streaming import post_send, read_events

pytestmark = pytest.mark.django_db

STREAM_URL = re.compile(r'hx-sse:connect="([^"]+)"')


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


def test_the_page_gives_a_keyed_url_that_opens_the_live_stream_with_no_query(
    alice_client, writing, django_assert_num_queries
):
    url = page_stream_url(alice_client, writing)
    assert url.startswith(f"/r/{writing.pk}/stream/?key=")

    with django_assert_num_queries(0):
        response = alice_client.get(url)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    assert response.streaming


def test_without_the_key_the_login_check_and_lookup_run(alice_client, writing):
    # (No count of queries here: the session, the user and the reply are read.)
    response = alice_client.get(f"/r/{writing.pk}/stream/")
    assert response.status_code == 200 and response.streaming


def test_a_key_without_its_session_cookie_is_refused(alice_client, writing, django_user_model):
    url = page_stream_url(alice_client, writing)

    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")

    # Another user's session with alice's key: the lookup answers as for any other reply.
    intruder = Client()
    intruder.force_login(django_user_model.objects.create_user("eve"))
    assert intruder.get(url).status_code == 404


def test_a_key_made_for_another_session_of_the_same_user_is_not_used(alice, writing):
    first, second = Client(), Client()
    first.force_login(alice)
    second.force_login(alice)
    url = page_stream_url(first, writing)

    with CaptureQueriesContext(connection) as queries:
        response = second.get(url)

    assert response.status_code == 200  # alice's own reply, through the login check
    assert len(queries) > 0


def test_a_key_for_a_reply_no_longer_live_goes_through_the_login_check(alice_client, writing):
    url = page_stream_url(alice_client, writing)
    live_registry.unregister(live_registry.get(writing.pk))
    Reply.objects.filter(pk=writing.pk).update(status=Reply.Status.COMPLETED, text="Done.")

    with CaptureQueriesContext(connection) as queries:
        response = alice_client.get(url)

    assert response.status_code == 200 and response.streaming
    assert any(str(writing.pk).replace("-", "") in query["sql"] for query in queries)


def test_an_old_key_goes_through_the_login_check(alice_client, writing, settings):
    url = page_stream_url(alice_client, writing)
    settings.STREAM_KEY_MAX_AGE = -1  # (every key is older than that)

    with CaptureQueriesContext(connection) as queries:
        response = alice_client.get(url)

    assert response.status_code == 200 and len(queries) > 0


def test_a_post_with_the_key_is_not_a_stream(alice_client, writing):
    url = page_stream_url(alice_client, writing)
    assert alice_client.post(url).status_code == 405
    assert Client().post(url).status_code == 302  # anonymous: to the login page, as everywhere


def test_the_last_message_of_a_keyed_stream_is_the_finished_reply(browser_session, fake_upstream):
    fake_upstream.queue({"behaviour": "ok", "text": "One two **three**.", "delay_ms": 20})
    sent = post_send(browser_session, "Count")
    url = html.unescape(STREAM_URL.search(sent.text).group(1))
    assert "?key=" in url

    with browser_session.stream("GET", url) as response:
        messages = read_events(response)

    final = messages[-1]
    assert 'aria-busy="false"' in final and "<strong>three</strong>" in final
    assert "Regenerate" in final and "Helpful" in final and "csrfmiddlewaretoken" in final


def test_the_finished_reply_is_rendered_from_memory_without_a_query(
    alice, rf, django_assert_num_queries
):
    from conversations.views.stream import _final_message

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
