"""A process whose database writes queue behind a burst of sends writes its heartbeats late; its
replies must not be ended by another process for that. With Redis each serving process beats in
the live channel (a key with a time to live), and a late heartbeat in the database ends a reply
only when its process's key is gone too (killed, machine lost)."""

import asyncio

import pytest
import redis

from conversations import live, live_channel
from conversations.models import Reply
from conversations.recovery import interrupt_if_stale
from conversations.stale_sweep import interrupt_stale_replies
from tests.test_recovery import generating_reply

REDIS_URL = "redis://127.0.0.1:6379/15"
OTHER = "other-machine:4242"


@pytest.fixture
def redis_channel(settings):
    settings.REDIS_URL = REDIS_URL
    settings.REPLY_STALE_AFTER = 20
    client = redis.Redis.from_url(REDIS_URL)
    key = live_channel.get().worker_key(OTHER)
    yield client, key
    client.delete(key, live_channel.get().worker_key(live.WORKER))
    client.close()


@pytest.mark.django_db
def test_a_late_heartbeat_of_a_beating_process_ends_nothing(alice, redis_channel):
    client, key = redis_channel
    reply = generating_reply(alice, OTHER, beat_ago=60)  # stale in the database
    client.set(key, "1", ex=20)  # ...yet its process beats in Redis

    assert interrupt_stale_replies() == 0
    assert not interrupt_if_stale(reply)
    assert Reply.objects.get(pk=reply.pk).status == Reply.Status.IN_PROGRESS

    client.delete(key)  # the process is gone: no beat for REPLY_STALE_AFTER
    assert interrupt_stale_replies() == 1
    assert Reply.objects.get(pk=reply.pk).status == Reply.Status.INTERRUPTED


@pytest.mark.django_db
def test_without_redis_the_database_heartbeat_decides(alice, settings):
    settings.REDIS_URL = ""
    reply = generating_reply(alice, OTHER, beat_ago=60)
    assert interrupt_stale_replies() == 1
    assert Reply.objects.get(pk=reply.pk).status == Reply.Status.INTERRUPTED


@pytest.mark.django_db(transaction=True)
def test_a_serving_process_beats_until_it_closes(redis_channel, settings):
    settings.REPLY_STALE_AFTER = 4  # a beat every second
    client, _ = redis_channel
    channel = live_channel.get()
    own = channel.worker_key(live.WORKER)

    async def serve() -> tuple[int, int]:
        await channel.start()
        await asyncio.sleep(0.2)
        ttl_while_serving = client.ttl(own)
        await channel.close()
        return ttl_while_serving, client.exists(own)

    ttl_while_serving, exists_after = asyncio.run(serve())
    assert 0 < ttl_while_serving <= 4
    assert exists_after == 0
    # Another process asks about this one: it is known alive only while it beats.
    assert not live_channel.RedisChannel(REDIS_URL).worker_alive("gone-machine:1")


@pytest.mark.django_db
def test_this_process_sweeps_its_own_reply_only_when_no_task_writes_it(alice, settings):
    """A reply this process prepared but whose task never started (or died) is swept like any
    other; one it is writing is not, however late its heartbeat in the database."""
    settings.REDIS_URL = ""
    written = generating_reply(alice, live.WORKER, beat_ago=60)
    abandoned = generating_reply(alice, live.WORKER, beat_ago=60)
    writing = live.LiveReply(written.pk, written.conversation_id, alice.pk)
    live.register(writing)
    try:
        assert interrupt_stale_replies() == 1
    finally:
        live.unregister(writing)
    assert Reply.objects.get(pk=abandoned.pk).status == Reply.Status.INTERRUPTED
    assert Reply.objects.get(pk=written.pk).status == Reply.Status.IN_PROGRESS
