"""Metering, prices and quotas: every started reply is recorded (exact or estimated), its cost
is fixed at the moment it is recorded, and quotas hold under concurrent sends (issue 3)."""

import asyncio
from decimal import ROUND_HALF_UP, Decimal

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group
from django.db import IntegrityError

from conversations.models import (
    AIModel,
    QuotaPolicy,
    Reply,
    Reservation,
    UsageEntry,
    UsageMonth,
)
from conversations.models.usage import month_start
from tests.chat_helpers import latest_reply, logged_in, send
from tests.conftest import wait_for_reply

pytestmark = [pytest.mark.django_db(transaction=True)]
TEXT = "One two three four five six seven eight nine ten."


def price(model_id="gpt-5.5", input_price="2.00", cached="0.50", output="8.00"):
    AIModel.objects.update_or_create(
        model_id=model_id,
        defaults={
            "input_price": Decimal(input_price),
            "cached_input_price": Decimal(cached),
            "output_price": Decimal(output),
        },
    )


def ledger_matches_totals(user) -> None:
    for month in UsageMonth.objects.filter(user=user):
        entries = UsageEntry.objects.filter(user=user, month=month.month)
        assert month.tokens_used == sum(e.total_tokens for e in entries)
        assert month.cost_used == sum((e.cost or 0) for e in entries)
        open_ = Reservation.objects.filter(user=user, month=month.month, state="open")
        assert month.tokens_reserved == sum(r.tokens for r in open_)


@pytest.mark.asyncio
async def test_completed_reply_is_priced_and_entered_in_the_ledger(alice, fake_upstream):
    await sync_to_async(price)()
    fake_upstream.queue({"behaviour": "ok", "text": TEXT, "usage": "chat", "cached": 3})
    client = await logged_in(alice)

    await send(client, "Price this rather long message, which has several tokens in it")
    reply = await wait_for_reply((await latest_reply(alice)).pk)

    entry = await UsageEntry.objects.aget(reply=reply)
    expected = (
        Decimal(reply.input_tokens - 3) * Decimal("2.00")
        + 3 * Decimal("0.50")
        + Decimal(reply.output_tokens) * Decimal("8.00")
    ) / 1_000_000
    assert reply.cost == expected.quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)
    assert entry.cost == reply.cost and entry.currency == "USD" and not entry.estimated
    assert entry.total_tokens == reply.total_tokens and entry.cached_tokens == 3
    await sync_to_async(ledger_matches_totals)(alice)


@pytest.mark.asyncio
async def test_price_changes_never_rewrite_history(alice, fake_upstream):
    await sync_to_async(price)(output="8.00")
    client = await logged_in(alice)
    await send(client, "First")
    first = await wait_for_reply((await latest_reply(alice)).pk)

    await sync_to_async(price)(output="80.00")
    await send(client, "Second", conversation=first.conversation_id)
    second = await wait_for_reply((await latest_reply(alice)).pk)

    await first.arefresh_from_db()
    assert first.cost == (await UsageEntry.objects.aget(reply=first)).cost
    assert second.cost > first.cost


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("behaviour", "status"),
    [
        ({"behaviour": "cut", "after_tokens": 4}, "interrupted"),
        ({"behaviour": "ok", "usage": "none"}, "completed"),
    ],
)
async def test_reply_without_relay_usage_gets_an_estimate_marked_as_such(
    alice, fake_upstream, behaviour, status
):
    fake_upstream.queue({**behaviour, "text": TEXT})
    client = await logged_in(alice)

    await send(client, "Estimate me")
    reply = await wait_for_reply((await latest_reply(alice)).pk)

    assert reply.status == status
    assert reply.usage_estimated and reply.input_tokens > 0 and reply.output_tokens > 0
    entry = await UsageEntry.objects.aget(reply=reply)
    assert entry.estimated and entry.total_tokens == reply.total_tokens


@pytest.mark.asyncio
async def test_stopped_reply_gets_an_estimate(alice, fake_upstream):
    fake_upstream.queue({"behaviour": "stall_mid", "text": TEXT, "after_tokens": 3})
    client = await logged_in(alice)
    await send(client, "Stop me")
    reply = await latest_reply(alice)
    await asyncio.sleep(0.5)  # some text has arrived; the relay is now silent

    await client.post(f"/r/{reply.pk}/stop/")
    reply = await wait_for_reply(reply.pk)

    assert reply.status == "cancelled" and reply.usage_estimated and reply.output_tokens > 0
    assert await UsageEntry.objects.filter(reply=reply, estimated=True).aexists()


@pytest.mark.asyncio
async def test_reply_the_relay_never_started_is_not_billed(alice, fake_upstream):
    fake_upstream.queue({"behaviour": "http_error", "status": 401})
    client = await logged_in(alice)

    await send(client, "Nope")
    reply = await wait_for_reply((await latest_reply(alice)).pk)

    assert not reply.has_usage
    assert not await UsageEntry.objects.filter(reply=reply).aexists()
    reservation = await Reservation.objects.aget(reply=reply)
    assert reservation.state == "released"
    month = await UsageMonth.objects.aget(user=alice)
    assert month.tokens_reserved == 0 and month.tokens_used == 0


def test_prices_cannot_be_negative_and_never_credit():
    with pytest.raises(IntegrityError):
        AIModel.objects.create(model_id="m-neg", input_price=Decimal("-1"), output_price=1)
    free = AIModel(model_id="free", input_price=0, output_price=0)
    assert free.cost_of(1000, 0, 1000) == 0
    unpriced = AIModel(model_id="unpriced")
    assert unpriced.cost_of(1000, 0, 1000) is None and not unpriced.has_price
    assert AIModel(model_id="x", input_price=1, output_price=1).cost_of(-5, 10, -5) == 0


def test_the_most_specific_policy_wins(alice, bob):
    sales = Group.objects.create(name="Sales")
    alice.groups.add(sales)
    QuotaPolicy.objects.create(scope="default", monthly_token_limit=1000)
    assert QuotaPolicy.limits_for(bob).tokens == 1000
    QuotaPolicy.objects.create(scope="group", group=sales, monthly_token_limit=5000)
    assert QuotaPolicy.limits_for(alice).tokens == 5000
    QuotaPolicy.objects.create(scope="user", user=alice, monthly_token_limit=200)
    assert QuotaPolicy.limits_for(alice).tokens == 200
    QuotaPolicy.objects.filter(scope="user").update(exempt=True)
    limits = QuotaPolicy.limits_for(alice)
    assert limits.tokens is None and limits.exempt and limits.unlimited
    assert QuotaPolicy.limits_for(bob).tokens == 1000


def test_the_catalogue_replaces_the_environment_list_when_filled(settings):
    settings.RESPONSES_MODELS = ["env-a", "env-b"]
    AIModel.objects.all().delete()
    assert [c[0] for c in AIModel.choices()] == ["env-a", "env-b"]
    AIModel.seed_from_settings()
    AIModel.objects.create(model_id="catalogue-only", display_name="Fancy", sort_order=-1)
    env_b = AIModel.objects.get(model_id="env-b")
    env_b.enabled = False
    env_b.save()  # as the admin saves it: this process's copy of the catalogue is renewed
    assert AIModel.choices() == [("catalogue-only", "Fancy"), ("env-a", "env-a")]


def test_a_change_made_by_another_process_shows_within_the_catalogue_ttl(settings):
    AIModel.objects.all().delete()
    AIModel.objects.create(model_id="kept", sort_order=0)
    AIModel.objects.create(model_id="retired", sort_order=1)
    assert [c[0] for c in AIModel.choices()] == ["kept", "retired"]
    # Another process's save sends no signal here: an UPDATE stands in for it.
    AIModel.objects.filter(model_id="retired").update(enabled=False)
    assert [c[0] for c in AIModel.choices()] == ["kept", "retired"]  # this process's copy
    settings.MODEL_CATALOGUE_TTL = 0  # ... until its time is up
    assert [c[0] for c in AIModel.choices()] == ["kept"]


@pytest.mark.asyncio
async def test_over_quota_send_is_refused_with_the_reset_date_and_no_call(alice, fake_upstream):
    await QuotaPolicy.objects.acreate(scope="default", monthly_token_limit=100)
    await UsageMonth.objects.acreate(user=alice, month=month_start(), tokens_used=100)
    client = await logged_in(alice)

    response = await send(client, "Please?", htmx=False)

    assert response.status_code == 403
    assert "quota" in response.text and "Please?" in response.text
    assert fake_upstream.requests == []
    assert not await Reply.objects.aexists()


@pytest.mark.asyncio
async def test_ten_simultaneous_sends_with_room_for_one_start_one_upstream_call(
    alice, fake_upstream
):
    # Room for one reply (its input estimate plus 300 tokens of output); after it, less than
    # QUOTA_MIN_OUTPUT_TOKENS (256) is left for a second. The reply is slow (about 2 s): one
    # that ended before the last send was read would leave room, rightly, for another.
    await QuotaPolicy.objects.acreate(scope="default", monthly_token_limit=400)
    fake_upstream.queue(*[{"behaviour": "ok", "text": TEXT, "delay_ms": 150}] * 10)
    client = await logged_in(alice)

    responses = await asyncio.gather(
        *[send(client, f"Race {i}", max_output_tokens="300") for i in range(10)]
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [403] * 9
    reply = await wait_for_reply((await latest_reply(alice)).pk)
    assert len(fake_upstream.requests) == 1
    assert await Reply.objects.acount() == 1
    month = await UsageMonth.objects.aget(user=alice)
    assert month.tokens_used + month.tokens_reserved <= 400
    assert month.tokens_used == reply.total_tokens
    await sync_to_async(ledger_matches_totals)(alice)


@pytest.mark.asyncio
async def test_too_many_replies_at_once_get_429_with_retry_after(alice, fake_upstream):
    await QuotaPolicy.objects.acreate(scope="default", max_concurrent_replies=2)
    fake_upstream.queue(*[{"behaviour": "stall_mid", "after_tokens": 1}] * 2)
    client = await logged_in(alice)
    await send(client, "one")
    await send(client, "two")

    third = await send(client, "three")

    assert third.status_code == 429 and int(third["Retry-After"]) > 0
    assert "several replies" in third.text
    for reply in [r async for r in Reply.objects.all()]:
        await client.post(f"/r/{reply.pk}/stop/")
        await wait_for_reply(reply.pk)


@pytest.mark.asyncio
async def test_too_many_sends_per_minute_get_429(alice, fake_upstream):
    await QuotaPolicy.objects.acreate(scope="default", max_sends_per_minute=2)
    client = await logged_in(alice)
    for message in ("a", "b"):
        await send(client, message)
        await wait_for_reply((await latest_reply(alice)).pk)

    third = await send(client, "c")

    assert third.status_code == 429
    assert 1 <= int(third["Retry-After"]) <= 60
    assert "faster than allowed" in third.text


def test_the_message_box_says_when_the_quota_is_used_up_before_typing(alice, alice_client):
    QuotaPolicy.objects.create(scope="default", monthly_token_limit=1000)
    assert "quota-notice" not in alice_client.get("/").text

    UsageMonth.objects.create(user=alice, month=month_start(), tokens_used=990)
    page = alice_client.get("/").text

    assert "You have used this month&#x27;s quota" in page or "used this month's quota" in page
    from django.utils.formats import date_format

    from conversations.models.usage import next_month

    assert date_format(next_month(month_start()), "DATE_FORMAT") in page


def test_a_free_output_model_does_not_bypass_a_spent_cost_limit(alice):
    from conversations.models import Conversation
    from conversations.models.usage import Limits, QuotaExceeded

    AIModel.objects.update_or_create(
        model_id="gpt-5.5", defaults={"input_price": Decimal(1), "output_price": Decimal(0)}
    )
    usage = UsageMonth.objects.create(user=alice, month=month_start(), cost_used=Decimal(5))
    conversation = Conversation.objects.create(owner=alice, model="gpt-5.5")
    reply = conversation.add_turn("hello")
    with pytest.raises(QuotaExceeded):
        Reservation.hold(reply, usage, Limits(cost=Decimal(5)))


@pytest.mark.asyncio
async def test_deleting_a_conversation_mid_reply_settles_its_reservation(
    alice, fake_upstream, settings
):
    # Removed once the Undo window is over (kept: see test_retention.py); the reply ends at once.
    settings.KEEP_DELETED_CONVERSATIONS = False
    fake_upstream.queue({"behaviour": "stall_mid", "text": TEXT, "after_tokens": 3})
    client = await logged_in(alice)
    await send(client, "Delete me while you talk")
    reply = await latest_reply(alice)
    await asyncio.sleep(0.5)

    response = await client.post(f"/c/{reply.conversation_id}/delete/")

    assert response.status_code == 302
    await asyncio.sleep(0.3)  # the task notices the stop and finds nothing left to store
    month = await UsageMonth.objects.aget(user=alice)
    assert month.tokens_reserved == 0
    assert await Reservation.objects.filter(state="open").acount() == 0
    entry = await UsageEntry.objects.aget(user=alice)
    assert entry.estimated and month.tokens_used == entry.total_tokens
    stopped = await Reply.objects.aget(pk=reply.pk)  # (kept for Undo, no longer generating)
    assert not stopped.is_generating and entry.reply_id == reply.pk
