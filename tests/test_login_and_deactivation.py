"""Repeated failed logins are throttled with a clear message (per username and per address,
in Redis when configured); deactivating a user ends their session and open streams
(failure-cases.md 11, 17)."""

import time

import httpx
import pytest
from django.core.cache import caches
from django.test import Client
from django.utils import timezone

from conversations.models import Conversation, Reply
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def clean_cache():
    caches["default"].clear()
    yield
    caches["default"].clear()


def fail_logins(client, username, times):
    for _ in range(times):
        client.post("/login/", {"username": username, "password": "wrong"})


def test_repeated_failed_logins_are_throttled_with_a_clear_message(alice, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    client = Client()
    fail_logins(client, "alice", 3)

    response = client.post("/login/", {"username": "alice", "password": PASSWORD})

    assert response.status_code == 200
    assert "Too many failed attempts to log in" in response.text
    assert "_auth_user_id" not in client.session


def test_the_throttle_counts_per_address_across_usernames(alice, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    client = Client()
    for name in ("x", "y", "z"):
        fail_logins(client, name, 1)

    response = client.post("/login/", {"username": "alice", "password": PASSWORD})

    assert "Too many failed attempts" in response.text


def test_a_successful_login_clears_earlier_failures(alice, settings):
    settings.LOGIN_FAILURE_LIMIT = 3
    client = Client()
    fail_logins(client, "alice", 2)
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302
    client.post("/logout/")
    fail_logins(client, "alice", 2)
    assert client.post("/login/", {"username": "alice", "password": PASSWORD}).status_code == 302


def test_the_throttle_works_through_redis(alice, settings):
    settings.LOGIN_FAILURE_LIMIT = 2
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/15",
        }
    }
    caches["default"].clear()
    client = Client()
    fail_logins(client, "alice", 2)
    response = client.post("/login/", {"username": "alice", "password": PASSWORD})
    assert "Too many failed attempts" in response.text
    caches["default"].clear()


def test_deactivating_a_user_ends_their_session(alice, alice_client):
    assert alice_client.get("/").status_code == 200
    alice.is_active = False
    alice.save()
    response = alice_client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


@pytest.mark.django_db(transaction=True)
def test_deactivating_a_user_cuts_their_open_stream(asgi_server, alice):
    # (A reply another process is writing: this stream follows it in the database.)
    conversation = Conversation.objects.create(owner=alice, model="gpt-5.5")
    reply = Reply.objects.create(
        conversation=conversation,
        user=alice,
        user_input="hi",
        status=Reply.Status.IN_PROGRESS,
        model="gpt-5.5",
        worker="elsewhere:1",
    )
    Reply.objects.filter(pk=reply.pk).update(heartbeat_at=timezone.now())  # alive elsewhere
    django_client = Client()
    django_client.force_login(alice)
    with httpx.Client(base_url=asgi_server.url, timeout=10) as client:
        client.cookies.set("sessionid", django_client.cookies["sessionid"].value)
        started = time.monotonic()
        with client.stream("GET", f"/r/{reply.pk}/stream/") as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            next(lines)
            type(alice).objects.filter(pk=alice.pk).update(is_active=False)
            for _ in lines:
                pass
        assert time.monotonic() - started < 5
