"""The sidebar says when the AI service is in trouble (judged from how the latest reply ended,
site-wide), so staff know a failure is not their doing; a failure about one request's own
settings changes nothing, and demo mode shows no such line."""

import pytest

from conversations import relay_status
from tests.chat_helpers import latest_reply, logged_in, send
from tests.conftest import wait_for_reply

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

TROUBLE = "The AI service is having trouble right now"
ANSWERING = "AI service: answering"


async def _reply_ends(user, fake, *behaviours):
    fake.queue(*behaviours)
    client = await logged_in(user)
    await send(client, "Hello?")
    await wait_for_reply((await latest_reply(user)).pk, timeout=15)
    return client


async def _sidebar(client) -> str:
    return (await client.get("/")).content.decode()


async def test_nothing_is_said_before_any_reply_ends(alice):
    page = await _sidebar(await logged_in(alice))
    assert TROUBLE not in page and ANSWERING not in page


async def test_a_service_failure_shows_trouble_until_a_reply_succeeds(alice, bob, fake_upstream):
    client = await _reply_ends(
        alice, fake_upstream, *[{"behaviour": "http_error", "status": 503}] * 3
    )
    assert relay_status.current() == relay_status.TROUBLE
    # Site-wide: another person sees it too, before sending anything.
    assert TROUBLE in await _sidebar(await logged_in(bob))

    await _reply_ends(bob, fake_upstream, {"behaviour": "ok", "text": "Fine again."})

    page = await _sidebar(client)
    assert TROUBLE not in page and ANSWERING in page


async def test_a_failure_about_the_request_itself_is_not_the_services_trouble(alice, fake_upstream):
    await _reply_ends(alice, fake_upstream, {"behaviour": "ok", "text": "Hi."})
    await _reply_ends(
        alice,
        fake_upstream,
        {"behaviour": "http_error", "status": 400, "code": "context_length_exceeded"},
    )

    assert relay_status.current() == relay_status.OK


async def test_demo_mode_shows_no_service_line(alice, fake_upstream, settings):
    client = await _reply_ends(
        alice, fake_upstream, *[{"behaviour": "http_error", "status": 503}] * 3
    )
    assert TROUBLE in await _sidebar(client)  # (what demo mode must hide)
    settings.DEMO_MODE = True

    assert TROUBLE not in await _sidebar(client)


async def test_an_unreachable_shared_cache_hides_the_notice_and_breaks_nothing(
    alice, fake_upstream, settings
):
    """With REDIS_URL set and Redis down (a restart), replies still end and pages still load."""
    from tests.conftest import free_port

    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",  # nothing listens there
        }
    }
    client = await _reply_ends(
        alice, fake_upstream, *[{"behaviour": "http_error", "status": 503}] * 3
    )
    reply = await latest_reply(alice)
    assert reply.status == "failed"
    page = await client.get("/")
    assert page.status_code == 200
    assert TROUBLE not in page.content.decode()
