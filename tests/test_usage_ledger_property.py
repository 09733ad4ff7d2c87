"""A property test of reserve / settle / release under random sequences: the balance never
goes below zero, every reservation is settled or released exactly once, and the ledger's sums
always equal the running totals the quota check reads."""

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from conversations.models import (
    Conversation,
    QuotaExceeded,
    QuotaPolicy,
    Reply,
    Reservation,
    UsageEntry,
    UsageMonth,
)
from conversations.models.usage import month_start

LIMIT = 5000

operations = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.integers(min_value=100, max_value=3000)),
        st.tuples(st.just("settle"), st.integers(0, 20), st.floats(0, 1)),
        st.tuples(st.just("release"), st.integers(0, 20)),
        st.tuples(st.just("again"), st.integers(0, 20)),
    ),
    max_size=25,
)


def send(user, output_tokens: int) -> None:
    conversation = Conversation.objects.create(
        owner=user, model="gpt-5.5", max_output_tokens=output_tokens
    )
    limits = QuotaPolicy.limits_for(user)
    try:
        with transaction.atomic():
            usage = UsageMonth.locked(user, month_start())
            reply = conversation.add_turn("hello there")
            Reservation.hold(reply, usage, limits)
    except QuotaExceeded:
        pass


def pick(replies, index):
    return replies[index % len(replies)] if replies else None


def settle(reply: Reply, fraction: float) -> None:
    reservation = reply.reservation
    used = max(1, int(reservation.tokens * fraction))
    Reply.objects.filter(pk=reply.pk).update(
        input_tokens=used // 2,
        output_tokens=used - used // 2,
        total_tokens=used,
        status=Reply.Status.COMPLETED,
    )
    Reply.objects.get(pk=reply.pk).bill()


def check_invariants(user) -> None:
    month = UsageMonth.objects.get(user=user, month=month_start())
    reservations = list(Reservation.objects.filter(user=user))
    entries = list(UsageEntry.objects.filter(user=user))
    assert month.tokens_reserved == sum(r.tokens for r in reservations if r.state == "open")
    assert month.tokens_used == sum(e.total_tokens for e in entries)
    assert LIMIT - month.tokens_used - month.tokens_reserved >= 0
    settled = [r for r in reservations if r.state == "settled"]
    assert len(entries) == len(settled)
    assert {e.reply_id for e in entries} == {r.reply_id for r in settled}


@pytest.mark.django_db
@hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_reserve_settle_release_keep_the_books_straight(alice, ops):
    UsageEntry.objects.all().delete()
    Reservation.objects.all().delete()
    UsageMonth.objects.all().delete()
    Conversation.objects.all().delete()
    QuotaPolicy.objects.all().delete()
    QuotaPolicy.objects.create(scope="default", monthly_token_limit=LIMIT)
    UsageMonth.objects.create(user=alice, month=month_start())

    for op in ops:
        open_replies = list(Reply.objects.filter(reservation__state="open").order_by("created_at"))
        closed = list(Reply.objects.exclude(reservation__state="open").order_by("created_at"))
        if op[0] == "send":
            send(alice, op[1])
        elif op[0] == "settle" and (reply := pick(open_replies, op[1])):
            settle(reply, op[2])
        elif op[0] == "release" and (reply := pick(open_replies, op[1])):
            reply.bill()  # no usage recorded: the relay never started it
        elif op[0] == "again" and (reply := pick(closed, op[1])):
            before = UsageMonth.objects.get(user=alice).tokens_used
            Reply.objects.get(pk=reply.pk).bill()
            assert UsageMonth.objects.get(user=alice).tokens_used == before
        check_invariants(alice)
