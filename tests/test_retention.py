"""Retention and deleting: a conversation its owner deletes is gone for them at once (404, out
of the sidebar) and, by default, kept for reviewers until the purge; `purge_conversations`
deletes what is past CONVERSATION_RETENTION_DAYS except what is under a legal hold (the
conversation's or its owner's), `--dry-run` changes nothing, and the usage ledger survives."""

import asyncio
import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from conversations.models import (
    Conversation,
    Feedback,
    Reply,
    Reservation,
    UsageEntry,
    UsageMonth,
)
from conversations.models.chat import UNDO_WINDOW
from conversations.models.usage import month_start
from tests.chat_helpers import latest_reply, logged_in, send
from tests.review_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db


def conversation(owner, title: str, days_idle: int, **fields) -> Conversation:
    """A conversation with one finished, billed reply, last active `days_idle` days ago."""
    moment = timezone.now() - timedelta(days=days_idle)
    made = Conversation.objects.create(
        owner=owner, title=title, model="gpt-5.5", created_at=moment, updated_at=moment, **fields
    )
    reply = Reply.objects.create(
        conversation=made,
        user=owner,
        user_input=f"Question in {title}",
        text="Answer.",
        status=Reply.Status.COMPLETED,
        model="gpt-5.5",
        total_tokens=42,
        created_at=moment,
    )
    UsageEntry.objects.create(
        reply=reply,
        conversation=made,
        user=owner,
        model="gpt-5.5",
        month=month_start(moment),
        total_tokens=42,
        created_at=moment,
    )
    Feedback.give(reply, helpful=False, comment="meh")
    return made


def purge(*args: str) -> str:
    out = io.StringIO()
    call_command("purge_conversations", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def history(alice, bob, settings):
    """Alice: one stale, one recent, one stale but held, one stale and deleted by her.
    Bob (under a legal hold himself): one stale."""
    settings.CONVERSATION_RETENTION_DAYS = 30
    bob.legal_hold = True
    bob.save()
    deleted = conversation(alice, "Stale and deleted", 45)
    deleted.delete_for_owner()
    return {
        "stale": conversation(alice, "Stale", 31),
        "recent": conversation(alice, "Recent", 29),
        "held": conversation(alice, "Held", 400, legal_hold=True),
        "deleted": deleted,
        "bobs": conversation(bob, "Bob held", 400),
    }


def remaining() -> set[str]:
    return set(Conversation.objects.values_list("title", flat=True))


def test_purge_deletes_what_is_past_retention_except_holds_and_keeps_the_ledger(history):
    output = purge()

    assert remaining() == {"Recent", "Held", "Bob held"}
    for gone in ("stale", "deleted"):
        assert str(history[gone].pk) in output
    assert str(history["held"].pk) not in output and str(history["bobs"].pk) not in output
    assert "(deleted by its owner)" in output
    assert "2 conversation(s) deleted; 2 kept under legal hold." in output
    # Billing history stays whole: five entries, two of them no longer linked to anything.
    assert UsageEntry.objects.count() == 5
    assert UsageEntry.objects.filter(conversation__isnull=True, reply__isnull=True).count() == 2
    assert Reply.objects.count() == 3 and Feedback.objects.count() == 3


def test_dry_run_prints_what_would_go_and_changes_nothing(history):
    before = (Conversation.objects.count(), Reply.objects.count(), Feedback.objects.count())

    output = purge("--dry-run")

    assert (Conversation.objects.count(), Reply.objects.count(), Feedback.objects.count()) == before
    assert f"would delete {history['stale'].pk}" in output
    assert f"would delete {history['deleted'].pk}" in output
    assert "2 conversation(s) would be deleted (dry run: nothing changed)" in output
    assert UsageEntry.objects.filter(conversation__isnull=True).count() == 0


def test_lifting_a_hold_lets_the_next_purge_delete_it(history):
    purge()
    Conversation.objects.filter(pk=history["held"].pk).update(legal_hold=False)

    purge()

    assert remaining() == {"Recent", "Bob held"}


def test_without_a_retention_setting_nothing_is_purged(history, settings):
    settings.CONVERSATION_RETENTION_DAYS = None

    output = purge()

    assert "nothing to purge" in output
    assert len(remaining()) == 5


def test_with_deleted_ones_not_kept_the_purge_removes_leftover_deleted_ones(alice, settings):
    settings.CONVERSATION_RETENTION_DAYS = None
    kept = conversation(alice, "Deleted yesterday", 1)
    kept.delete_for_owner()  # while KEEP_DELETED_CONVERSATIONS was on
    held = conversation(alice, "Deleted but held", 1, legal_hold=True)
    held.delete_for_owner()
    yesterday = timezone.now() - timedelta(days=1)
    Conversation.objects.filter(pk__in=[kept.pk, held.pk]).update(deleted_at=yesterday)
    just_now = conversation(alice, "Deleted just now", 1)
    just_now.delete_for_owner()  # Undo may still bring it back
    conversation(alice, "Alive", 1)
    settings.KEEP_DELETED_CONVERSATIONS = False

    output = purge()

    assert remaining() == {"Deleted but held", "Deleted just now", "Alive"}
    assert "1 conversation(s) deleted; 1 kept under legal hold." in output
    Conversation.objects.filter(pk=just_now.pk).update(deleted_at=yesterday)
    purge()
    assert remaining() == {"Deleted but held", "Alive"}


def test_a_conversation_with_a_reply_being_written_is_never_purged(alice, settings):
    settings.CONVERSATION_RETENTION_DAYS = 30
    busy = conversation(alice, "Busy", 60)
    busy.replies.update(status=Reply.Status.IN_PROGRESS)

    purge()

    assert remaining() == {"Busy"}


# --- Deleting, as the owner sees it and as reviewers see it -----------------------------


def test_deleted_conversation_disappears_for_its_owner_at_once(alice, alice_client):
    gone = conversation(alice, "Secret plan", 0)
    reply = gone.replies.get()

    response = alice_client.post(f"/c/{gone.pk}/delete/")

    assert response.status_code == 302
    sidebar = alice_client.get("/").text.split('id="sidebar-list"')[1].split("</ul>")[0]
    assert "Secret plan" not in sidebar
    for method, url in [
        ("get", f"/c/{gone.pk}/"),
        ("get", f"/c/{gone.pk}/delete/"),
        ("post", f"/c/{gone.pk}/rename/"),
        ("get", f"/c/{gone.pk}/export.md"),
        ("get", f"/r/{reply.pk}/stream/"),
        ("post", f"/r/{reply.pk}/retry/"),
        ("post", f"/r/{reply.pk}/stop/"),
    ]:
        assert getattr(alice_client, method)(url).status_code == 404, url
    gone.refresh_from_db()
    assert gone.deleted_at is not None  # kept for reviewers (the default)


def test_reviewers_still_see_a_deleted_conversation_marked_deleted(
    alice, alice_client, reviewer_client
):
    gone = conversation(alice, "Deleted plan", 0)
    alice_client.post(f"/c/{gone.pk}/delete/")

    listed = reviewer_client.get("/admin/conversations/conversation/", {"state": "deleted"})
    page = reviewer_client.get(f"/admin/conversations/conversation/{gone.pk}/change/")

    assert "Deleted plan" in listed.text
    assert page.status_code == 200 and "Question in Deleted plan" in page.text


def test_with_deleted_ones_not_kept_delete_removes_once_undo_is_over(alice, alice_client, settings):
    settings.KEEP_DELETED_CONVERSATIONS = False
    gone, earlier = conversation(alice, "Gone", 0), conversation(alice, "Earlier", 0)
    alice_client.post(f"/c/{earlier.pk}/delete/")
    Conversation.objects.filter(pk=earlier.pk).update(
        deleted_at=timezone.now() - UNDO_WINDOW - timedelta(seconds=1)
    )

    alice_client.post(f"/c/{gone.pk}/delete/")

    # The earlier one is removed by this delete; this one waits for Undo's time to pass.
    assert not Conversation.objects.filter(pk=earlier.pk).exists()
    assert UsageEntry.objects.filter(conversation__isnull=True).count() == 1
    assert Conversation.objects.get(pk=gone.pk).deleted_at is not None
    assert alice_client.get(f"/c/{gone.pk}/").status_code == 404


def test_a_legal_hold_keeps_a_deleted_conversation_even_when_deleted_ones_are_not_kept(
    alice, alice_client, settings
):
    settings.KEEP_DELETED_CONVERSATIONS = False
    alice.legal_hold = True
    alice.save()
    held = conversation(alice, "Held", 0)

    alice_client.post(f"/c/{held.pk}/delete/")

    held.refresh_from_db()
    assert held.deleted_at is not None
    assert alice_client.get(f"/c/{held.pk}/").status_code == 404


@pytest.mark.parametrize(
    ("keep", "days", "sentence"),
    [
        (True, 30, "A copy is kept for reviewers until it is purged, 30 days after its last"),
        (True, None, "this site keeps conversations until an administrator removes them"),
        (False, 30, "and all its messages will be deleted. Undo is offered for two minutes;"),
    ],
)
def test_the_delete_dialog_says_what_happens(alice, alice_client, settings, keep, days, sentence):
    settings.KEEP_DELETED_CONVERSATIONS, settings.CONVERSATION_RETENTION_DAYS = keep, days
    target = conversation(alice, "Dialog", 0)

    page = alice_client.get(f"/c/{target.pk}/delete/").text

    assert sentence in page
    assert ("cannot be undone" in page) is not keep


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_deleting_mid_reply_stops_it_settles_it_and_keeps_it_for_review(alice, fake_upstream):
    fake_upstream.queue(
        {"behaviour": "stall_mid", "text": "One two three four five six.", "after_tokens": 3}
    )
    client = await logged_in(alice)
    await send(client, "Delete me while you talk")
    reply = await latest_reply(alice)
    await asyncio.sleep(0.5)

    response = await client.post(f"/c/{reply.conversation_id}/delete/")

    assert response.status_code == 302
    await asyncio.sleep(0.3)
    reply = await Reply.objects.aget(pk=reply.pk)
    assert reply.status == Reply.Status.CANCELLED
    assert await Reservation.objects.filter(state="open").acount() == 0
    month = await UsageMonth.objects.aget(user=alice)
    entry = await UsageEntry.objects.aget(user=alice)
    assert month.tokens_reserved == 0 and month.tokens_used == entry.total_tokens
    assert entry.reply_id == reply.pk
    kept = await Conversation.objects.aget(pk=reply.conversation_id)
    assert kept.deleted_at is not None
    assert (await client.get(f"/c/{kept.pk}/")).status_code == 404


# --- Legal holds from the admin ----------------------------------------------------------


def hold_action(client, url: str, action: str, *objects):
    return client.post(url, {"action": action, "_selected_action": [str(o.pk) for o in objects]})


def test_superuser_places_and_lifts_a_legal_hold_on_conversations(alice, superuser_client):
    target = conversation(alice, "Evidence", 0)
    url = "/admin/conversations/conversation/"

    hold_action(superuser_client, url, "place_legal_hold", target)
    target.refresh_from_db()
    assert target.legal_hold

    hold_action(superuser_client, url, "lift_legal_hold", target)
    target.refresh_from_db()
    assert not target.legal_hold


def test_reviewers_cannot_change_legal_holds(alice, reviewer_client):
    target = conversation(alice, "Evidence", 0)

    response = hold_action(
        reviewer_client, "/admin/conversations/conversation/", "place_legal_hold", target
    )

    target.refresh_from_db()
    assert not target.legal_hold
    assert "not allowed to change legal holds" in reviewer_client.get(response["Location"]).text


def test_an_administrator_places_a_user_under_legal_hold(alice, administrator_client, settings):
    settings.CONVERSATION_RETENTION_DAYS = 30
    conversation(alice, "Old", 90)

    hold_action(administrator_client, "/admin/conversations/user/", "place_legal_hold", alice)
    purge()

    alice.refresh_from_db()
    assert alice.legal_hold and remaining() == {"Old"}


def test_an_administrator_cannot_lift_a_superusers_legal_hold(
    alice, superuser, administrator_client
):
    for user in (alice, superuser):
        user.legal_hold = True
        user.save()

    response = hold_action(
        administrator_client, "/admin/conversations/user/", "lift_legal_hold", alice, superuser
    )

    superuser.refresh_from_db()
    alice.refresh_from_db()
    assert superuser.legal_hold and alice.legal_hold  # nothing was changed, alice's neither
    page = administrator_client.get(response["Location"]).text
    assert "only a superuser may change the legal hold of a superuser" in page
