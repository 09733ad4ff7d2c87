"""Sending a message: stored before the relay is called, one reply per submitted form, one
reply generating per conversation, context carried between turns."""

import asyncio
import time
import uuid

import pytest

from conversations.models import Conversation, Reply
from tests.chat_helpers import latest_reply, logged_in, send
from tests.conftest import wait_for_reply

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def test_reply_streams_from_relay_and_is_stored_complete(alice, fake_upstream):
    fake_upstream.queue({"behaviour": "ok", "text": "Hello **there**, friend."})
    client = await logged_in(alice)

    response = await send(client, "Say hello")

    assert response.status_code == 200
    reply = await latest_reply(alice)
    assert f'id="reply-{reply.pk}"' in response.text
    assert 'aria-busy="true"' in response.text
    reply = await wait_for_reply(reply.pk)
    assert reply.status == Reply.Status.COMPLETED
    assert reply.text == "Hello **there**, friend."
    assert reply.user_input == "Say hello"
    assert reply.upstream_id.startswith("resp_")
    assert reply.output_tokens and reply.input_tokens and not reply.usage_estimated
    assert reply.first_token_at and reply.finished_at and reply.started_at
    sent = fake_upstream.requests[0]["json"]
    assert sent["input"] == "Say hello" and sent["stream"] is True and sent["model"] == "gpt-5.5"


async def test_message_is_stored_even_when_the_relay_fails(alice, fake_upstream):
    fake_upstream.queue(*[{"behaviour": "http_error", "status": 401}])
    client = await logged_in(alice)

    await send(client, "Are you there?")

    reply = await wait_for_reply((await latest_reply(alice)).pk)
    assert reply.user_input == "Are you there?"
    assert reply.status == Reply.Status.FAILED
    assert reply.error_code == "unauthorized"
    assert "administrator" in reply.error_message
    assert len(fake_upstream.requests) == 1  # a 401 is not retried


async def test_replayed_form_makes_one_message_and_one_upstream_call(alice, fake_upstream):
    client = await logged_in(alice)
    token = uuid.uuid4()

    first, second = await asyncio.gather(
        send(client, "Only once", token=token), send(client, "Only once", token=token)
    )

    assert {first.status_code, second.status_code} == {200}
    assert await Reply.objects.filter(user=alice).acount() == 1
    await wait_for_reply((await latest_reply(alice)).pk)
    assert len(fake_upstream.requests) == 1


async def test_sending_while_a_reply_is_generating_is_refused(alice, fake_upstream):
    fake_upstream.queue({"behaviour": "stall_mid", "after_tokens": 2, "seconds": 30})
    client = await logged_in(alice)
    await send(client, "First")
    first = await latest_reply(alice)

    response = await send(client, "Second", conversation=first.conversation_id)

    assert response.status_code == 409
    assert "still being written" in response.text
    assert response["HX-Retarget"] == "#composer-error"
    assert await Reply.objects.filter(conversation_id=first.conversation_id).acount() == 1
    await client.post(f"/r/{first.pk}/stop/")
    stopped = await wait_for_reply(first.pk)
    assert stopped.status == Reply.Status.CANCELLED
    assert len(fake_upstream.requests) == 1


async def test_second_turn_chains_previous_response_and_resends_instructions(alice, fake_upstream):
    client = await logged_in(alice)
    await send(client, "One", instructions="Be brief.")
    first = await wait_for_reply((await latest_reply(alice)).pk)

    await send(client, "Two", conversation=first.conversation_id, instructions="Be brief.")
    second = await wait_for_reply((await latest_reply(alice)).pk)

    assert second.status == Reply.Status.COMPLETED
    request = fake_upstream.requests[1]["json"]
    assert request["previous_response_id"] == first.upstream_id
    assert request["input"] == "Two"
    assert request["instructions"] == "Be brief."
    assert second.position == 1 and second.previous_response_id == first.upstream_id


async def test_previous_response_not_found_resends_full_history_once(alice, fake_upstream):
    client = await logged_in(alice)
    await send(client, "Remember the number 7.")
    first = await wait_for_reply((await latest_reply(alice)).pk)
    fake_upstream.forget_responses()

    await send(client, "Which number?", conversation=first.conversation_id)
    second = await wait_for_reply((await latest_reply(alice)).pk)

    assert second.status == Reply.Status.COMPLETED
    assert second.error_message == ""
    retried = fake_upstream.requests[2]["json"]
    assert "previous_response_id" not in retried
    assert retried["input"] == [
        {"role": "user", "content": "Remember the number 7."},
        {"role": "assistant", "content": first.text},
        {"role": "user", "content": "Which number?"},
    ]
    assert second.sent_full_history


async def test_rate_limit_before_first_token_is_retried_after_retry_after(alice, fake_upstream):
    fake_upstream.queue({"behaviour": "http_error", "status": 429, "retry_after": 0.3}, "ok")
    client = await logged_in(alice)

    await send(client, "Busy?")
    reply = await wait_for_reply((await latest_reply(alice)).pk)

    assert reply.status == Reply.Status.COMPLETED
    first, second = fake_upstream.requests
    assert second["time"] - first["time"] >= 0.3


async def test_retry_wait_is_bounded(alice, fake_upstream, settings):
    settings.UPSTREAM_MAX_RETRY_WAIT = 0.5
    fake_upstream.queue({"behaviour": "http_error", "status": 429, "retry_after": 30})
    client = await logged_in(alice)
    started = time.monotonic()

    await send(client, "Busy?")
    reply = await wait_for_reply((await latest_reply(alice)).pk)

    assert time.monotonic() - started < 5
    assert reply.status == Reply.Status.FAILED and reply.error_code == "rate_limited"
    assert len(fake_upstream.requests) == 1


async def test_new_conversation_is_titled_from_first_message(alice):
    client = await logged_in(alice)

    response = await send(client, "Plan a team offsite in Hangzhou for twelve people next spring")

    conversation = await Conversation.objects.aget(owner=alice)
    assert conversation.title.startswith("Plan a team offsite in Hangzhou")
    assert response["HX-Push-Url"] == f"/c/{conversation.pk}/"
    await wait_for_reply((await latest_reply(alice)).pk)


async def test_plain_form_post_redirects_to_the_conversation(alice):
    client = await logged_in(alice)

    response = await send(client, "No JavaScript here", htmx=False)

    conversation = await Conversation.objects.aget(owner=alice)
    assert response.status_code == 302 and response["Location"] == f"/c/{conversation.pk}/"
    await wait_for_reply((await latest_reply(alice)).pk)


async def test_message_over_the_limit_is_refused_before_any_upstream_call(
    alice, fake_upstream, settings
):
    settings.MAX_MESSAGE_CHARS = 100
    client = await logged_in(alice)

    response = await send(client, "x" * 101, htmx=False)

    assert response.status_code == 400
    assert "too long" in response.text
    assert "x" * 101 in response.text  # the typed text comes back in the box
    assert await Reply.objects.acount() == 0
    assert fake_upstream.requests == []


async def test_a_send_does_not_wait_for_a_busy_loop_to_start_its_reply(alice, fake_upstream):
    """Sends queue on one worker thread (chatsite/asgi.py): starting the reply's task is queued
    on the server's event loop, not waited for, yet the task exists before the view's answer
    is back on the loop."""
    import threading

    from asgiref.sync import sync_to_async

    from conversations import generation, live

    fake_upstream.queue({"behaviour": "ok", "text": "Started."})
    loop = asyncio.get_running_loop()
    generation.server_loop.set(loop)  # as the server's handler does for each request
    loop_free = threading.Event()

    def sync_view():
        reply, _ = Reply.objects.submit(
            alice, Conversation(owner=alice, model="gpt-5.5"), "Hello", uuid.uuid4()
        )
        payload = generation.prepare(reply)
        loop.call_soon_threadsafe(loop_free.wait, 10)  # the loop is busy until we say
        began = time.monotonic()
        generation.start_from_thread(reply, payload)
        waited, live_at_return = time.monotonic() - began, live.get(reply.pk)
        loop_free.set()
        return reply, waited, live_at_return

    reply, waited, live_at_return = await sync_to_async(sync_view)()

    assert waited < 5 and live_at_return is None  # (waiting would have taken 10 s)
    assert live.get(reply.pk) is not None  # started before the view's result reached the loop
    assert (await wait_for_reply(reply.pk)).text == "Started."
