"""One person cannot slow everyone's replies: a user's open streams are capped (the oldest closes
with a sentence, in the place the page can no longer reconnect from), and the process's budget
of live updates is split between users first, then between each user's streams."""

import threading

import pytest
from django.conf import settings as site_settings

from conversations import open_streams
from conversations.open_streams import OpenStream
from tests.conftest import logged_in_http
from tests.test_streaming import read_events, send

TOO_MANY = "too many tabs"


@pytest.fixture
def streams():
    """Streams counted in the registry for the test, removed afterwards."""
    made = []

    def make(user_id, live=True, limit=6):
        stream = OpenStream(user_id, f"session-{user_id}")
        open_streams.register(stream, limit)
        if live:
            open_streams.start_live(stream)
        made.append(stream)
        return stream

    yield make
    for stream in made:
        open_streams.unregister(stream)


def test_the_budget_is_split_between_users_then_between_their_streams(streams):
    bob = streams(2)
    assert open_streams.share(2) == 1  # alone, the whole budget

    alice = [streams(1, limit=50) for _ in range(50)]
    assert open_streams.share(2) == 1 / 2  # alice's fifty tabs count as one user
    assert open_streams.share(1) == 1 / 100
    total = sum(open_streams.share(s.user_id) for s in [*alice, bob])
    assert total == pytest.approx(1)

    streams(3)
    assert open_streams.share(2) == open_streams.share(3) == 1 / 3


def test_streams_not_following_a_live_reply_take_no_share(streams):
    streams(1)
    streams(2, live=False)  # following a reply in the database
    assert open_streams.share(1) == 1


def test_the_oldest_stream_of_a_user_is_closed_beyond_the_cap(streams):
    first, second = streams(1, limit=2), streams(1, limit=2)
    other = streams(2, limit=2)
    assert not first.closed_by_cap

    third = streams(1, limit=2)

    assert first.closed_by_cap
    assert not (second.closed_by_cap or third.closed_by_cap or other.closed_by_cap)
    assert open_streams.open_count(1) == 2


@pytest.mark.asyncio
async def test_a_stream_closed_while_it_switched_to_live_leaves_the_users_other_counts(streams):
    # A stream following a queued reply in the database switches to following it live when
    # it starts here; closed at that moment (the cap, a logout), its count goes exactly once.
    tab_b = streams(1)
    tab_a = streams(1, live=False)

    async def switch_to_live():
        open_streams.start_live(tab_a)
        try:
            yield b"data"
        finally:
            open_streams.stop_live(tab_a)

    events = switch_to_live()
    await anext(events)
    open_streams.unregister(tab_a)  # the stream ends first...
    await events.aclose()  # ...and its events are closed after

    assert tab_b.live and open_streams.share(1) == 1  # the user's one live stream: tab B


def test_the_cap_is_six_streams_by_default():
    assert site_settings.MAX_STREAMS_PER_USER == 6


# --- Over a real server -------------------------------------------------------------------------


class Watcher(threading.Thread):
    """Reads one stream to its end in a thread; `messages` and their arrival `times`."""

    def __init__(self, client, url, limit=20.0):
        super().__init__(daemon=True)
        self.client, self.url, self.limit = client, url, limit
        self.messages, self.times, self.status = [], [], None
        self.opened = threading.Event()

    def run(self):
        with self.client.stream("GET", self.url) as response:
            self.status = response.status_code
            lines = response.iter_lines()

            class First:
                def iter_lines(self):
                    return lines

            self.messages += read_events(First(), until=lambda m: len(m) >= 1, times=self.times)
            self.opened.set()
            self.messages += read_events(First(), limit=self.limit, times=self.times)
        self.opened.set()

    def start_and_wait(self):
        self.start()
        assert self.opened.wait(10)
        return self


def words(n):
    return " ".join(f"word{i}" for i in range(n))


@pytest.mark.django_db(transaction=True)
def test_a_stream_beyond_the_cap_closes_the_users_oldest_with_a_sentence(
    asgi_server, alice, bob, fake_upstream, settings
):
    settings.MAX_STREAMS_PER_USER = 2
    alice_client, bob_client = logged_in_http(asgi_server, alice), logged_in_http(asgi_server, bob)
    fake_upstream.queue(*[{"behaviour": "ok", "text": words(60), "delay_ms": 100}] * 2)
    reply, bobs_reply = send(alice_client), send(bob_client)
    url = f"/r/{reply.pk}/stream/"

    bobs = Watcher(bob_client, f"/r/{bobs_reply.pk}/stream/").start_and_wait()
    oldest = Watcher(alice_client, url).start_and_wait()
    second = Watcher(alice_client, url).start_and_wait()
    newest = Watcher(alice_client, url).start_and_wait()
    oldest.join(3)  # (the reply takes 6 s)

    assert not oldest.is_alive(), "the oldest stream was not closed"
    last = oldest.messages[-1]
    assert f'hx-target="#reply-{reply.pk}-live" hx-swap="outerHTML"' in last
    assert TOO_MANY in last and 'aria-busy="false"' not in last
    for watcher in (second, newest, bobs):
        watcher.join(15)
        assert 'aria-busy="false"' in watcher.messages[-1]  # followed to the finished reply
        assert TOO_MANY not in "".join(watcher.messages)
    alice_client.close()
    bob_client.close()


@pytest.mark.django_db(transaction=True)
def test_many_streams_of_one_user_do_not_slow_another_users_reply(
    asgi_server, alice, bob, fake_upstream, settings
):
    # A budget of 4 messages a second. Bob and alice each get half: bob's one stream an update
    # every 0.5 s however many alice opens (a share per stream gave him 1.5 s against five).
    settings.STREAM_MESSAGES_PER_SECOND = 4
    alice_client, bob_client = logged_in_http(asgi_server, alice), logged_in_http(asgi_server, bob)
    fake_upstream.queue(
        {"behaviour": "ok", "text": words(400), "delay_ms": 25},
        {"behaviour": "ok", "text": words(200), "delay_ms": 25},
    )
    alices_reply = send(alice_client)
    alices = [Watcher(alice_client, f"/r/{alices_reply.pk}/stream/") for _ in range(5)]
    for watcher in alices:
        watcher.start_and_wait()
    bobs_reply = send(bob_client)

    bobs = Watcher(bob_client, f"/r/{bobs_reply.pk}/stream/")
    bobs.run()

    updates = [t for m, t in zip(bobs.messages, bobs.times, strict=True) if "word" in m][1:-1]
    assert len(updates) >= 4
    mean_gap = (updates[-1] - updates[0]) / (len(updates) - 1)
    print(f"bob's mean gap between updates: {mean_gap:.2f} s")
    assert mean_gap < 0.9, f"bob waited {mean_gap:.2f} s between updates"
    for watcher in alices:
        watcher.join(20)
    alice_client.close()
    bob_client.close()
