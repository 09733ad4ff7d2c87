"""Versions of a turn: regenerate and edit-and-resend make a new version in the same place with
the same context; earlier versions and the turns that followed them stay reachable; the next
message continues from the version shown; nothing of this happens while a reply generates."""

import asyncio
import uuid

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from conversations.models import Conversation, Reply, UsageEntry, UsageMonth
from tests.chat_helpers import latest_reply, logged_in, send
from tests.conftest import wait_for_reply

pytestmark = [pytest.mark.django_db(transaction=True)]

HTMX = {"HX-Request": "true"}


async def say(client, message: str, conversation="") -> Reply:
    """Sends a message and waits for its reply to end."""
    response = await send(client, message, conversation=conversation)
    assert response.status_code == 200, response.text
    reply = await Reply.objects.order_by("-created_at").afirst()
    return await wait_for_reply(reply.pk)


async def regenerate(client, reply: Reply, token=None):
    data = {"client_token": str(token or uuid.uuid4())}
    return await client.post(f"/r/{reply.pk}/regenerate/", data, headers=HTMX)


async def edit(client, reply: Reply, message: str, token=None, htmx=True):
    data = {"message": message, "client_token": str(token or uuid.uuid4())}
    return await client.post(f"/r/{reply.pk}/edit/", data, headers=HTMX if htmx else {})


async def newest(conversation_id) -> Reply:
    return (
        await Reply.objects.filter(conversation_id=conversation_id).order_by("-created_at").afirst()
    )


async def shown(conversation_id) -> list[str]:
    """The messages of the transcript as the owner sees it now."""
    conversation = await Conversation.objects.aget(pk=conversation_id)
    path = await sync_to_async(conversation.visible_path)()
    return [reply.user_input for reply in path]


async def page_of(client: AsyncClient, conversation_id) -> str:
    response = await client.get(f"/c/{conversation_id}/")
    assert response.status_code == 200
    return response.text


@pytest.mark.asyncio
async def test_regenerate_makes_a_new_version_sent_with_the_same_context(alice, fake_upstream):
    client = await logged_in(alice)
    fake_upstream.queue({"text": "First answer."}, {"text": "Second answer."})
    first = await say(client, "One")
    second = await say(client, "Two", first.conversation_id)
    fake_upstream.queue({"text": "Second answer, again."})

    response = await regenerate(client, second)

    assert response.status_code == 200
    again = await wait_for_reply((await newest(first.conversation_id)).pk)
    assert again.pk != second.pk and again.text == "Second answer, again."
    assert (again.user_input, again.parent_id, again.position) == ("Two", first.pk, 1)
    assert again.retry_of_id == second.pk and again.selected
    await second.arefresh_from_db()
    assert not second.selected and second.text == "Second answer."
    original, regenerated = fake_upstream.requests[1]["json"], fake_upstream.requests[2]["json"]
    assert regenerated["previous_response_id"] == first.upstream_id
    assert regenerated["input"] == original["input"] == "Two"
    assert again.previous_response_id == first.upstream_id
    assert (
        f'id="reply-{again.pk}"' in response.text and f'id="reply-{second.pk}"' not in response.text
    )
    page = await page_of(client, first.conversation_id)
    assert "Version 2 of 2" in page and "Second answer, again." in page
    assert "Second answer." not in page.replace("Second answer, again.", "")
    assert f'action="/r/{second.pk}/show/"' in page  # the arrow back to version 1


@pytest.mark.asyncio
async def test_edit_stores_the_new_message_as_a_version_before_the_relay_is_called(
    alice, fake_upstream
):
    client = await logged_in(alice)
    first = await say(client, "Plan a trip")
    second = await say(client, "To Paris", first.conversation_id)
    fake_upstream.queue({"behaviour": "stall_before", "seconds": 30})

    response = await edit(client, second, "To Hangzhou")

    assert response.status_code == 200
    for _ in range(250):  # until the relay has the request (5 s at most)
        if len(fake_upstream.requests) == 3:
            break
        await asyncio.sleep(0.02)
    # The relay has the request and has not answered: the message is already stored.
    assert fake_upstream.requests[2]["json"]["input"] == "To Hangzhou"
    edited = await Reply.objects.aget(user_input="To Hangzhou")
    assert edited.status == Reply.Status.IN_PROGRESS
    assert (edited.parent_id, edited.position, edited.retry_of_id) == (first.pk, 1, None)
    assert fake_upstream.requests[2]["json"]["previous_response_id"] == first.upstream_id
    assert await shown(first.conversation_id) == ["Plan a trip", "To Hangzhou"]
    await client.post(f"/r/{edited.pk}/stop/")
    assert (await wait_for_reply(edited.pk)).status == Reply.Status.CANCELLED
    await second.arefresh_from_db()
    assert second.user_input == "To Paris" and not second.selected


@pytest.mark.asyncio
async def test_flipping_to_version_one_brings_back_the_turns_that_followed_it(alice, fake_upstream):
    client = await logged_in(alice)
    fake_upstream.queue({"text": "A-answer"}, {"text": "B-answer"}, {"text": "C-answer"})
    a = await say(client, "A")
    b = await say(client, "B", a.conversation_id)
    await say(client, "C", a.conversation_id)
    fake_upstream.queue({"text": "B2-answer"})
    await edit(client, b, "B2")
    b2 = await wait_for_reply((await newest(a.conversation_id)).pk)
    assert await shown(a.conversation_id) == ["A", "B2"]
    page = await page_of(client, a.conversation_id)
    assert "C-answer" not in page and "B2-answer" in page and "Version 2 of 2" in page

    response = await client.post(f"/r/{b.pk}/show/", headers=HTMX)

    assert response.status_code == 200
    assert "C-answer" in response.text and "B-answer" in response.text
    assert "B2-answer" not in response.text and "Version 1 of 2" in response.text
    assert await shown(a.conversation_id) == ["A", "B", "C"]
    page = await page_of(client, a.conversation_id)
    assert page.index("A-answer") < page.index("B-answer") < page.index("C-answer")
    assert f'action="/r/{b2.pk}/show/"' in page  # the arrow forward to version 2

    response = await client.post(f"/r/{b2.pk}/show/")  # without JavaScript
    assert response.status_code == 302 and response["Location"] == f"/c/{a.conversation_id}/"
    assert await shown(a.conversation_id) == ["A", "B2"]
    assert len(fake_upstream.requests) == 4  # showing a version calls nobody


@pytest.mark.asyncio
async def test_a_version_of_a_turn_on_a_hidden_branch_brings_its_branch_back(alice, fake_upstream):
    """A page left open on the old branch: regenerating its last turn shows that branch."""
    client = await logged_in(alice)
    a = await say(client, "A")
    b = await say(client, "B", a.conversation_id)
    c = await say(client, "C", a.conversation_id)
    await edit(client, b, "B2")
    await wait_for_reply((await newest(a.conversation_id)).pk)
    assert await shown(a.conversation_id) == ["A", "B2"]

    await regenerate(client, c)

    again = await wait_for_reply((await newest(a.conversation_id)).pk)
    assert (again.parent_id, again.user_input) == (b.pk, "C")
    assert fake_upstream.requests[-1]["json"]["previous_response_id"] == b.upstream_id
    conversation = await Conversation.objects.aget(pk=a.conversation_id)
    path = await sync_to_async(conversation.visible_path)()
    assert [r.pk for r in path] == [a.pk, b.pk, again.pk]


@pytest.mark.asyncio
async def test_a_message_sent_while_version_one_is_shown_continues_from_it(alice, fake_upstream):
    client = await logged_in(alice)
    a = await say(client, "A")
    b = await say(client, "B", a.conversation_id)
    c = await say(client, "C", a.conversation_id)
    await edit(client, b, "B2")
    await wait_for_reply((await newest(a.conversation_id)).pk)
    await client.post(f"/r/{b.pk}/show/", headers=HTMX)

    d = await say(client, "D", a.conversation_id)

    assert (d.parent_id, d.position) == (c.pk, 3)
    assert fake_upstream.requests[-1]["json"]["previous_response_id"] == c.upstream_id
    assert await shown(a.conversation_id) == ["A", "B", "C", "D"]

    # When the relay has lost the chain, the whole history resent is that branch's.
    fake_upstream.forget_responses()
    e = await say(client, "E", a.conversation_id)
    assert e.sent_full_history and e.status == Reply.Status.COMPLETED
    history = fake_upstream.requests[-1]["json"]["input"]
    assert [m["content"] for m in history if m["role"] == "user"] == ["A", "B", "C", "D", "E"]
    assert b.text in [m["content"] for m in history if m["role"] == "assistant"]


@pytest.mark.asyncio
async def test_no_version_is_made_or_shown_while_a_reply_generates(alice, fake_upstream):
    client = await logged_in(alice)
    first = await say(client, "First")
    fake_upstream.queue({"behaviour": "stall_mid", "after_tokens": 2, "seconds": 30})
    await send(client, "Second", conversation=first.conversation_id)
    generating = await latest_reply(alice)
    before = await Reply.objects.acount()

    refusals = [
        await regenerate(client, first),
        await edit(client, first, "First, edited"),
        await client.post(f"/r/{first.pk}/show/", headers=HTMX),
    ]

    for response in refusals:
        assert response.status_code == 409
        assert "still being written" in response.text and "try again" in response.text
        assert response["HX-Retarget"] == "#composer-error"
    plain = await edit(client, first, "First, edited", htmx=False)
    assert plain.status_code == 409 and "First, edited" not in await shown(first.conversation_id)
    assert await Reply.objects.acount() == before
    assert len(fake_upstream.requests) == 2
    await client.post(f"/r/{generating.pk}/stop/")
    await wait_for_reply(generating.pk)


@pytest.mark.asyncio
async def test_double_submitted_regenerate_makes_one_version_and_one_call(alice, fake_upstream):
    client = await logged_in(alice)
    first = await say(client, "Once")
    token = uuid.uuid4()

    responses = await asyncio.gather(
        regenerate(client, first, token), regenerate(client, first, token)
    )

    assert {r.status_code for r in responses} <= {200, 409}
    assert await Reply.objects.acount() == 2
    await wait_for_reply((await newest(first.conversation_id)).pk)
    again = await regenerate(client, first, token)  # replayed later: finds what it made
    assert again.status_code == 200
    assert await Reply.objects.acount() == 2
    assert len(fake_upstream.requests) == 2


@pytest.mark.asyncio
async def test_retry_of_a_failed_turn_in_the_middle_makes_a_version_of_it(alice, fake_upstream):
    client = await logged_in(alice)
    fake_upstream.queue({"behaviour": "http_error", "status": 401})
    failed = await say(client, "Hello?")
    later = await say(client, "Still there?", failed.conversation_id)
    assert failed.status == Reply.Status.FAILED

    response = await client.post(f"/r/{failed.pk}/retry/", headers=HTMX)

    assert response.status_code == 200
    retried = await wait_for_reply((await Reply.objects.aget(retry_of=failed)).pk)
    assert retried.status == Reply.Status.COMPLETED and retried.parent_id is None
    assert await shown(failed.conversation_id) == ["Hello?"]
    await client.post(f"/r/{failed.pk}/show/", headers=HTMX)
    assert await shown(failed.conversation_id) == ["Hello?", "Still there?"]
    assert (await Reply.objects.aget(pk=later.pk)).parent_id == failed.pk


@pytest.mark.asyncio
async def test_every_version_is_billed_and_the_totals_match_the_ledger(alice, fake_upstream):
    client = await logged_in(alice)
    first = await say(client, "One")
    second = await say(client, "Two", first.conversation_id)
    await regenerate(client, second)
    await wait_for_reply((await newest(first.conversation_id)).pk)
    await edit(client, second, "Two, edited")
    await wait_for_reply((await newest(first.conversation_id)).pk)

    replies = [r async for r in Reply.objects.filter(user=alice)]
    assert len(replies) == 4 and await UsageEntry.objects.acount() == 4
    month = await UsageMonth.objects.aget(user=alice)
    assert month.tokens_used == sum(r.total_tokens for r in replies) > 0
    assert month.tokens_reserved == 0
    page = (await client.get("/usage/")).text
    assert f"{month.tokens_used:,}" in page or str(month.tokens_used) in page


def test_the_admin_shows_the_transcript_shown_and_every_other_version(
    alice, admin_client, fake_upstream
):
    conversation = Conversation.objects.create(owner=alice, model="gpt-5.5")
    a = Reply.objects.create(
        conversation=conversation, user=alice, user_input="A", text="a", status="completed"
    )
    b = Reply.objects.create(
        conversation=conversation,
        user=alice,
        parent=a,
        position=1,
        user_input="B version one",
        status="completed",
        selected=False,
    )
    Reply.objects.create(
        conversation=conversation,
        user=alice,
        parent=b,
        position=2,
        user_input="C after version one",
        status="completed",
    )
    Reply.objects.create(
        conversation=conversation,
        user=alice,
        parent=a,
        position=1,
        user_input="B version two",
        status="completed",
    )

    page = admin_client.get(f"/admin/conversations/conversation/{conversation.pk}/change/").text

    transcript, others = page.split("Retries, edits and branches")[:2]
    assert "B version two" in transcript and "B version one" not in transcript
    assert "B version one" in others and "C after version one" in others


@pytest.mark.parametrize("action", ["regenerate", "edit", "show"])
def test_another_users_reply_is_404_with_nothing_changed(alice, bob_client, fake_upstream, action):
    conversation = Conversation.objects.create(owner=alice, model="gpt-5.5")
    reply = Reply.objects.create(
        conversation=conversation, user=alice, user_input="secret", status="completed"
    )
    data = {"message": "pwned", "client_token": str(uuid.uuid4())}

    response = bob_client.post(f"/r/{reply.pk}/{action}/", data)

    assert response.status_code == 404 and b"secret" not in response.content
    assert list(Reply.objects.values_list("user_input", flat=True)) == ["secret"]
    assert fake_upstream.requests == []


@pytest.mark.parametrize("action", ["regenerate", "edit", "show"])
def test_anonymous_is_sent_to_log_in_and_get_is_refused(alice, alice_client, action):
    conversation = Conversation.objects.create(owner=alice, model="gpt-5.5")
    reply = Reply.objects.create(conversation=conversation, user=alice, user_input="x")
    from django.test import Client

    anonymous = Client().post(f"/r/{reply.pk}/{action}/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    assert alice_client.get(f"/r/{reply.pk}/{action}/").status_code == 405
    assert Reply.objects.count() == 1


@pytest.mark.parametrize(
    "body, sentence",
    [
        ({}, "out of date"),
        ({"client_token": "nope", "message": "hi"}, "out of date"),
        ({"client_token": str(uuid.uuid4()), "message": "   "}, "Type a message first"),
        ({"client_token": str(uuid.uuid4()), "message": "x" * 101}, "too long"),
    ],
)
def test_malformed_edits_get_400_with_a_sentence(
    alice, alice_client, fake_upstream, settings, body, sentence
):
    settings.MAX_MESSAGE_CHARS = 100
    conversation = Conversation.objects.create(owner=alice, model="gpt-5.5")
    reply = Reply.objects.create(
        conversation=conversation, user=alice, user_input="x", status="completed"
    )

    response = alice_client.post(f"/r/{reply.pk}/edit/", body, headers=HTMX)

    assert response.status_code == 400 and sentence in response.text
    assert Reply.objects.count() == 1 and fake_upstream.requests == []


def test_the_migration_turns_positions_into_a_path_with_retries_as_versions(alice):
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("conversations", "0006_organise")]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes("conversations")
    executor.migrate(before)
    try:
        old = MigrationExecutor(connection).loader.project_state(before).apps
        conversation = old.get_model("conversations", "Conversation").objects.create(
            owner_id=alice.pk, model="gpt-5.5"
        )
        OldReply = old.get_model("conversations", "Reply")

        def turn(position, text, latest=True):
            return OldReply.objects.create(
                conversation=conversation,
                user_id=alice.pk,
                position=position,
                is_latest=latest,
                user_input=text,
                status="completed",
                model="gpt-5.5",
            ).pk

        first, failed = turn(0, "A"), turn(1, "B failed", latest=False)
        retried, third = turn(1, "B retried"), turn(2, "C")
        MigrationExecutor(connection).migrate(latest)

        rows = {
            r.pk: (r.parent_id, r.selected, r.position)
            for r in Reply.objects.filter(conversation_id=conversation.pk)
        }
        assert rows == {
            first: (None, True, 0),
            failed: (first, False, 1),
            retried: (first, True, 1),
            third: (retried, True, 2),
        }
        assert [
            r.user_input for r in Conversation.objects.get(pk=conversation.pk).transcript()
        ] == [
            "A",
            "B retried",
            "C",
        ]
    finally:
        MigrationExecutor(connection).migrate(latest)
