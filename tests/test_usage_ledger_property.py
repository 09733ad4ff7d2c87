"""A property test of reserve / settle / release under random sequences: the balance never
goes below zero, every reservation is settled or released exactly once, the ledger's sums
always equal the running totals the quota check reads, and the daily rollups the reports read
always equal the ledger's sums (and what a rebuild from the ledger makes)."""

import datetime
from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from conversations.models import (
    AIModel,
    Conversation,
    DailyConversationUsage,
    DailyUsage,
    QuotaExceeded,
    QuotaPolicy,
    Reply,
    Reservation,
    UsageEntry,
    UsageMonth,
)
from conversations.models.rollup import (
    MonthlyConversationUsage,
    MonthlyUsage,
    rebuild_rollups,
)
from conversations.models.usage import month_start

LIMIT = 5000
TOKEN_FIELDS = (
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
)

operations = st.lists(
    st.one_of(
        st.tuples(st.just("send"), st.integers(min_value=100, max_value=3000)),
        # A reply recorded today or some days ago (in an earlier month too), priced or not.
        st.tuples(
            st.just("settle"),
            st.integers(0, 20),
            st.floats(0, 1),
            st.sampled_from([0, 0, 1, 3, 40]),
            st.booleans(),
        ),
        st.tuples(st.just("join"), st.sampled_from(["Sales", "Research"])),
        st.tuples(st.just("delete"), st.integers(0, 20)),
        st.tuples(st.just("rebuild")),
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


def settle(reply: Reply, fraction: float, days_ago: int, priced: bool) -> None:
    reservation = reply.reservation
    used = max(1, int(reservation.tokens * fraction))
    model = "gpt-5.5" if priced else "gpt-unpriced"
    Reply.objects.filter(pk=reply.pk).update(
        model=model,
        input_tokens=used // 2,
        input_cached_tokens=used // 8,
        output_tokens=used - used // 2,
        reasoning_tokens=used // 5,
        total_tokens=used,
        usage_estimated=fraction < 0.3,
        status=Reply.Status.COMPLETED,
        finished_at=timezone.now() - datetime.timedelta(days=days_ago),
    )
    Reply.objects.get(pk=reply.pk).bill()


def ledger_sums(key) -> dict:
    """The test's own arithmetic: the ledger's entries summed by `key(entry)`."""
    sums = defaultdict(Counter)
    costs = defaultdict(lambda: None)
    for entry in UsageEntry.objects.all():
        row = sums[key(entry)]
        row["replies"] += 1
        row["estimated_replies"] += entry.estimated
        for name in TOKEN_FIELDS:
            row[name] += getattr(entry, name)
        if entry.cost is not None:
            costs[key(entry)] = (costs[key(entry)] or Decimal(0)) + entry.cost
    return {k: (dict(row), costs[k]) for k, row in sums.items()}


def totals_rows(model, period: str) -> dict:
    return {
        (getattr(r, period), r.user_id, r.group_name, r.model, r.currency): (
            {name: getattr(r, name) for name in ("replies", "estimated_replies", *TOKEN_FIELDS)},
            r.cost,
        )
        for r in model.objects.all()
    }


def rollup_rows() -> tuple[dict, dict, dict, dict]:
    daily, monthly_totals = totals_rows(DailyUsage, "day"), totals_rows(MonthlyUsage, "month")
    conversations = {
        (r.day, r.conversation_id): ({"replies": r.replies, "total_tokens": r.total_tokens}, r.cost)
        for r in DailyConversationUsage.objects.all()
    }
    monthly = {
        (r.month, r.conversation_id): (
            {"replies": r.replies, "total_tokens": r.total_tokens},
            r.cost,
        )
        for r in MonthlyConversationUsage.objects.all()
    }
    return daily, monthly_totals, conversations, monthly


def conversation_sums(period) -> dict:
    return {
        k: ({"replies": row["replies"], "total_tokens": row["total_tokens"]}, cost)
        for k, (row, cost) in ledger_sums(lambda e: (period(e), e.conversation_id)).items()
        if k[1] is not None
    }


def totals_sums(period) -> dict:
    expected = ledger_sums(lambda e: (period(e), e.user_id, e.group_name, e.model, e.currency))
    return {k: ({n: row.get(n, 0) for n in daily_fields()}, c) for k, (row, c) in expected.items()}


def check_rollups() -> None:
    daily, monthly_totals, conversations, monthly = rollup_rows()
    assert daily == totals_sums(lambda e: timezone.localdate(e.created_at))
    assert monthly_totals == totals_sums(lambda e: month_start(e.created_at))
    assert conversations == conversation_sums(lambda e: timezone.localdate(e.created_at))
    assert monthly == conversation_sums(lambda e: month_start(e.created_at))


def daily_fields():
    return ("replies", "estimated_replies", *TOKEN_FIELDS)


def check_invariants(user) -> None:
    month = UsageMonth.objects.get(user=user, month=month_start())
    reservations = list(Reservation.objects.filter(user=user))
    entries = list(UsageEntry.objects.filter(user=user))
    assert month.tokens_reserved == sum(r.tokens for r in reservations if r.state == "open")
    for row in UsageMonth.objects.filter(user=user):
        mine = [e for e in entries if e.month == row.month]
        assert row.tokens_used == sum(e.total_tokens for e in mine)
        assert row.cost_used == sum((e.cost or 0) for e in mine)
        # Every entry counts in the month of the day it was recorded in, like the reports.
        assert all(month_start(e.created_at) == e.month for e in mine)
    assert sum(r.tokens_used for r in UsageMonth.objects.filter(user=user)) == sum(
        e.total_tokens for e in entries
    )
    assert LIMIT - month.tokens_used - month.tokens_reserved >= 0
    settled = [r for r in reservations if r.state == "settled"]
    assert len(entries) == len(settled)
    assert {e.reply_id for e in entries} == {r.reply_id for r in settled}
    check_rollups()


@pytest.mark.django_db
@hsettings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ops=operations)
def test_reserve_settle_release_keep_the_books_straight(alice, ops):
    DailyUsage.objects.all().delete()
    DailyConversationUsage.objects.all().delete()
    MonthlyConversationUsage.objects.all().delete()
    MonthlyUsage.objects.all().delete()
    UsageEntry.objects.all().delete()
    Reservation.objects.all().delete()
    UsageMonth.objects.all().delete()
    Conversation.objects.all().delete()
    QuotaPolicy.objects.all().delete()
    QuotaPolicy.objects.create(scope="default", monthly_token_limit=LIMIT)
    UsageMonth.objects.create(user=alice, month=month_start())
    alice.groups.clear()
    AIModel.objects.update_or_create(
        model_id="gpt-5.5", defaults={"input_price": Decimal("1.25"), "output_price": Decimal(10)}
    )

    for op in ops:
        open_replies = list(Reply.objects.filter(reservation__state="open").order_by("created_at"))
        closed = list(Reply.objects.exclude(reservation__state="open").order_by("created_at"))
        if op[0] == "send":
            send(alice, op[1])
        elif op[0] == "settle" and (reply := pick(open_replies, op[1])):
            settle(reply, op[2], op[3], op[4])
        elif op[0] == "join":
            alice.groups.add(Group.objects.get_or_create(name=op[1])[0])
        elif op[0] == "delete" and (reply := pick(closed, op[1])):
            Conversation.objects.filter(pk=reply.conversation_id).delete()
        elif op[0] == "rebuild":
            before = rollup_rows()
            rebuild_rollups()
            assert rollup_rows() == before
        elif op[0] == "release" and (reply := pick(open_replies, op[1])):
            reply.bill()  # no usage recorded: the relay never started it
        elif op[0] == "again" and (reply := pick(closed, op[1])):
            before = sum(
                UsageMonth.objects.filter(user=alice).values_list("tokens_used", flat=True)
            )
            Reply.objects.get(pk=reply.pk).bill()
            assert (
                sum(UsageMonth.objects.filter(user=alice).values_list("tokens_used", flat=True))
                == before
            )
        check_invariants(alice)
