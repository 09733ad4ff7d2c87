"""Replies a stopped server left generating are marked interrupted at start-up, with their
partial text and an estimated usage, and can be retried (failure-cases.md 35)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation, Reply
from conversations.recovery import interrupt_orphaned_replies

pytestmark = pytest.mark.django_db


def generating_reply(user, worker, beat_ago=0.0):
    conversation = Conversation.objects.create(owner=user, model="gpt-5.5")
    now = timezone.now()
    return Reply.objects.create(
        conversation=conversation,
        user=user,
        user_input="Tell me a story",
        text="Once upon a",
        status=Reply.Status.IN_PROGRESS,
        model="gpt-5.5",
        started_at=now,
        heartbeat_at=now - timedelta(seconds=beat_ago),
        worker=worker,
    )


def test_reply_of_a_dead_process_is_interrupted_with_its_partial_text(alice):
    import socket

    reply = generating_reply(alice, f"{socket.gethostname()}:999999")

    assert interrupt_orphaned_replies() == 1

    reply.refresh_from_db()
    assert reply.status == Reply.Status.INTERRUPTED
    assert reply.text == "Once upon a"
    assert reply.error_code == "server_restart"
    assert reply.usage_estimated and reply.output_tokens > 0
    assert reply.can_retry


def test_reply_of_another_live_host_is_left_alone_until_stale(alice):
    fresh = generating_reply(alice, "other-host:123")
    stale = generating_reply(alice, "other-host:124", beat_ago=3600)

    assert interrupt_orphaned_replies() == 1

    fresh.refresh_from_db()
    stale.refresh_from_db()
    assert fresh.status == Reply.Status.IN_PROGRESS
    assert stale.status == Reply.Status.INTERRUPTED


def test_opening_a_conversation_with_a_stale_reply_offers_retry(alice, alice_client):
    reply = generating_reply(alice, "other-host:1", beat_ago=3600)

    response = alice_client.get(f"/c/{reply.conversation_id}/")

    assert 'aria-busy="false"' in response.text
    assert "Retry" in response.text
    reply.refresh_from_db()
    assert reply.status == Reply.Status.INTERRUPTED
