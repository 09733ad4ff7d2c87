"""The accounting rules that every page must agree on: the notice before typing uses the rule that
refuses a send; a reply is charged to the group whose quota policy applies; an empty monthly
limit inherits; a reply counts in the month it is recorded in, everywhere; and the reports read
daily rollups that a command rebuilds from the ledger."""

import csv
import datetime
import io
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from conversations.models import (
    AIModel,
    Conversation,
    DailyUsage,
    QuotaExceeded,
    QuotaPolicy,
    QuotaStatus,
    Reply,
    Reservation,
    UsageEntry,
    UsageMonth,
)
from conversations.models.usage import Limits, charge_group, month_start
from tests import test_usage_pages
from tests.test_usage_pages import DASHBOARD, n, rows_of, text_of

accountant = test_usage_pages.accountant  # the fixture: staff with the dashboard permission

pytestmark = pytest.mark.django_db


def price(model_id="gpt-5.5", input_price="2", output_price="8"):
    AIModel.objects.update_or_create(
        model_id=model_id,
        defaults={"input_price": Decimal(input_price), "output_price": Decimal(output_price)},
    )


def billed_reply(user, tokens=(1000, 500), model="gpt-5.5", reserved_in=None, finished_at=None):
    """A reply sent (reserved in `reserved_in`, this month by default) and billed as the relay's
    end of a reply does it, finished at `finished_at` (now by default); its ledger entry."""
    conversation = Conversation.objects.create(owner=user, model=model, title="Billed")
    with transaction.atomic():
        usage = UsageMonth.locked(user, reserved_in or month_start())
        reply = conversation.add_turn("hello")
        Reservation.hold(reply, usage, QuotaPolicy.limits_for(user))
    input_tokens, output_tokens = tokens
    Reply.objects.filter(pk=reply.pk).update(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
        status=Reply.Status.COMPLETED,
        finished_at=finished_at or timezone.now(),
    )
    Reply.objects.get(pk=reply.pk).bill()
    return UsageEntry.objects.get(reply=reply)


# --- 1. The notice before typing and the refusal of a send are one rule --------------------------


@pytest.mark.parametrize(
    ("limits", "used", "output_price", "refused"),
    [
        (Limits(tokens=1000), {"tokens_used": 744}, "8", False),  # exactly the minimum left
        (Limits(tokens=1000), {"tokens_used": 745}, "8", True),
        (Limits(tokens=1000), {"tokens_used": 600, "tokens_reserved": 200}, "8", True),
        # A cost limit with room for less than the minimum output at the model's price.
        (Limits(cost=Decimal(1)), {"cost_used": Decimal("0.9999")}, "8", True),
        (Limits(cost=Decimal(1)), {"cost_used": Decimal("0.99")}, "8", False),
        (Limits(cost=Decimal(1)), {"cost_used": Decimal("0.9999")}, None, False),  # no price
        (Limits(cost=Decimal(1)), {"cost_used": Decimal(1)}, None, True),
        (Limits(cost=Decimal(1)), {"cost_used": Decimal(1)}, "0", True),  # free output
    ],
)
def test_the_notice_says_over_exactly_when_a_send_is_refused(
    alice, limits, used, output_price, refused
):
    if output_price is not None:
        price(output_price=output_price)
    else:
        model = AIModel.objects.get(model_id="gpt-5.5")
        model.input_price = model.output_price = None
        model.save()
    usage = UsageMonth.objects.create(user=alice, month=month_start(), **used)
    status = QuotaStatus(
        limits=limits,
        month=usage.month,
        tokens_used=usage.tokens_used,
        tokens_reserved=usage.tokens_reserved,
        cost_used=usage.cost_used,
        cost_reserved=usage.cost_reserved,
        model_id="gpt-5.5",
    )
    conversation = Conversation.objects.create(owner=alice, model="gpt-5.5")
    try:
        Reservation.hold(conversation.add_turn(""), usage, limits)  # nothing typed yet
    except QuotaExceeded:
        was_refused = True
    else:
        was_refused = False
    assert was_refused is refused
    assert status.over is refused


def test_the_chat_page_warns_when_the_cost_left_cannot_pay_for_a_reply(alice, alice_client):
    price()  # 8 per million output tokens: the minimum output costs more than what is left
    QuotaPolicy.objects.create(scope="default", monthly_cost_limit=Decimal(1))
    UsageMonth.objects.create(user=alice, month=month_start(), cost_used=Decimal("0.9999"))

    page = alice_client.get("/").text

    assert "quota-notice" in page
    conversation = Conversation.objects.create(owner=alice, model="gpt-5.5")
    with pytest.raises(QuotaExceeded):
        Reply.objects.submit(alice, conversation, "Hi", uuid.uuid4())


# --- 2. The group a reply is charged to -----------------------------------------------------------


def test_replies_are_charged_to_the_group_whose_quota_policy_applies(alice, bob, accountant):
    alpha, sales, research = (Group.objects.create(name=name) for name in ("Alpha", "Sales", "Re"))
    alice.groups.add(alpha, sales, research)
    QuotaPolicy.objects.create(scope="default", monthly_token_limit=1000)
    QuotaPolicy.objects.create(scope="group", group=sales, monthly_token_limit=50_000)
    QuotaPolicy.objects.create(scope="group", group=research, monthly_token_limit=10_000)

    limits = QuotaPolicy.limits_for(alice)
    entry = billed_reply(alice)

    assert (limits.tokens, limits.group) == (50_000, "Sales")
    assert entry.group_name == "Sales"
    page = accountant.get(DASHBOARD).text
    assert list(rows_of(page, "by-groups")) == ["Sales"]
    exported = list(csv.DictReader(io.StringIO(accountant.get("/admin/usage/export.csv").text)))
    assert [row["group"] for row in exported] == ["Sales"]
    # Without a group policy: the first of the user's groups in alphabetical order.
    bob.groups.add(Group.objects.create(name="Zeta"), alpha)
    assert charge_group(bob) == "Alpha"
    assert billed_reply(bob).group_name == "Alpha"


def test_a_reply_billed_by_its_process_is_charged_to_the_group_of_its_send(alice):
    """The reservation made at send keeps its limits in memory: the end of the reply charges
    their group without reading the policies again (one changed meanwhile does not count)."""
    sales, research = Group.objects.create(name="Sales"), Group.objects.create(name="Research")
    alice.groups.add(sales, research)
    policy = QuotaPolicy.objects.create(scope="group", group=sales, monthly_token_limit=50_000)
    reply, _ = Reply.objects.submit(
        alice, Conversation(owner=alice, model="gpt-5.5"), "Hello", uuid.uuid4()
    )
    reservation = reply.reservation_in_hand
    policy.delete()  # after the send: Research (first in alphabetical order) from now on
    Reply.objects.filter(pk=reply.pk).update(
        input_tokens=10, output_tokens=5, total_tokens=15, status=Reply.Status.COMPLETED
    )

    Reply.objects.get(pk=reply.pk).bill(reservation)

    assert reservation.limits.group == "Sales"
    assert UsageEntry.objects.get(reply=reply).group_name == "Sales"
    assert billed_reply(alice).group_name == "Research"  # a reservation read back: as of now


def test_under_a_quota_the_relay_is_asked_for_no_more_output_than_was_reserved(alice):
    """A send and a new version of it alike: the request carries the reservation's output cap,
    taken from the reservation made with the reply (no read)."""
    from conversations import generation

    QuotaPolicy.objects.create(scope="default", monthly_token_limit=3000)
    conversation = Conversation(owner=alice, model="gpt-5.5", max_output_tokens=100_000)
    sent, _ = Reply.objects.submit(alice, conversation, "Hello", uuid.uuid4())
    payload = generation.prepare(sent)
    cap = sent.reservation_in_hand.max_output_tokens
    assert cap is not None and 0 < cap < 3000 and payload["max_output_tokens"] == cap

    Reply.objects.filter(pk=sent.pk).update(status=Reply.Status.FAILED)
    failed = Reply.objects.get(pk=sent.pk)
    failed.bill()  # (no usage: its reservation is released)
    retried = failed.retry()
    assert (
        generation.prepare(retried)["max_output_tokens"]
        == (retried.reservation_in_hand.max_output_tokens)
        < 3000
    )


def test_an_exempt_group_is_the_most_generous(alice):
    small, free = Group.objects.create(name="A-small"), Group.objects.create(name="B-free")
    alice.groups.add(small, free)
    QuotaPolicy.objects.create(scope="group", group=small, monthly_token_limit=10**9)
    QuotaPolicy.objects.create(scope="group", group=free, exempt=True)
    limits = QuotaPolicy.limits_for(alice)
    assert limits.unlimited and limits.group == "B-free" == charge_group(alice)


# --- 3. Empty monthly limits inherit --------------------------------------------------------------


def test_a_policy_for_rate_limits_only_keeps_the_monthly_limits(alice):
    sales = Group.objects.create(name="Sales")
    QuotaPolicy.objects.create(
        scope="default", monthly_token_limit=1000, monthly_cost_limit=Decimal(5)
    )
    QuotaPolicy.objects.create(scope="user", user=alice, max_sends_per_minute=50)

    limits = QuotaPolicy.limits_for(alice)
    assert (limits.tokens, limits.cost, limits.sends_per_minute) == (1000, 5, 50)
    UsageMonth.objects.create(user=alice, month=month_start(), tokens_used=1000)
    assert QuotaStatus.for_user(alice).over

    # A group's token limit applies; the cost limit still comes from the default.
    alice.groups.add(sales)
    group = QuotaPolicy.objects.create(scope="group", group=sales, monthly_token_limit=5000)
    limits = QuotaPolicy.limits_for(alice)
    assert (limits.tokens, limits.cost, limits.sends_per_minute) == (5000, 5, 50)

    # Only "exempt" or an explicit value lifts or changes a limit; the most specific wins.
    QuotaPolicy.objects.filter(pk=group.pk).update(exempt=True)
    assert QuotaPolicy.limits_for(alice).unlimited
    QuotaPolicy.objects.filter(scope="user").update(monthly_token_limit=300)
    limits = QuotaPolicy.limits_for(alice)
    assert (limits.tokens, limits.cost) == (300, None)
    QuotaPolicy.objects.filter(scope="user").update(exempt=True)
    assert QuotaPolicy.limits_for(alice).unlimited


# --- 4. One month everywhere ----------------------------------------------------------------------


def test_a_reply_counts_in_the_month_it_is_recorded_in_everywhere(alice, alice_client, accountant):
    QuotaPolicy.objects.create(scope="default", monthly_token_limit=10**6)
    last_month = (month_start() - datetime.timedelta(days=1)).replace(day=1)
    # Sent (and reserved) in the month before, recorded now: a reply that ran past midnight.
    entry = billed_reply(alice, tokens=(1234, 766), reserved_in=last_month)

    assert entry.month == month_start()
    before = UsageMonth.objects.get(user=alice, month=last_month)
    now = UsageMonth.objects.get(user=alice, month=month_start())
    assert (before.tokens_used, before.tokens_reserved, now.tokens_used) == (0, 0, 2000)
    mine = alice_client.get("/usage/").text
    assert text_of(mine, "month-tokens") == n(2000)
    assert "<dt>Used</dt><dd>2,000</dd>" in mine  # the quota meter: the same month
    assert text_of(accountant.get(DASHBOARD).text, "total-tokens") == n(2000)
    exported = list(csv.DictReader(io.StringIO(accountant.get("/admin/usage/export.csv").text)))
    assert [row["month"] for row in exported] == [f"{month_start():%Y-%m}"]
    out = io.StringIO()
    call_command("usage_report", "--month", f"{last_month:%Y-%m}", stdout=out)
    assert out.getvalue().strip() == "(no usage)"


# --- 5. One table markup for both pages -----------------------------------------------------------


def test_both_usage_pages_draw_their_tables_with_one_include(alice, alice_client, accountant):
    billed_reply(alice)
    for response in [alice_client.get("/usage/"), accountant.get(DASHBOARD)]:
        assert "usage/_breakdown_table.html" in [t.name for t in response.templates]
    assert rows_of(alice_client.get("/usage/").text, "model-table")["gpt-5.5"][:1] == ["1"]


# --- The rollups ----------------------------------------------------------------------------------


def test_rebuild_usage_rollup_fills_the_reports_from_the_ledger(alice, accountant):
    conversation = Conversation.objects.create(owner=alice, title="Restored", model="gpt-5.5")
    for tokens, cost, days_ago in [(1500, "0.5", 0), (700, None, 1), (300, "0.25", 0)]:
        UsageEntry.objects.create(  # as a restored ledger would hold them, with no rollups
            user=alice,
            model="gpt-5.5" if cost else "gpt-free",
            month=month_start(),
            input_tokens=tokens,
            total_tokens=tokens,
            cost=None if cost is None else Decimal(cost),
            currency="USD" if cost else "",
            conversation=conversation,
            created_at=timezone.now() - datetime.timedelta(days=days_ago),
        )
    start = (timezone.localdate() - datetime.timedelta(days=1)).isoformat()
    period = {"start": start, "end": timezone.localdate().isoformat()}
    assert text_of(accountant.get(DASHBOARD, period).text, "total-tokens") == "0"

    out = io.StringIO()
    call_command("rebuild_usage_rollup", stdout=out)

    assert "rebuilt" in out.getvalue() and DailyUsage.objects.exists()
    page = accountant.get(DASHBOARD, period).text
    assert text_of(page, "total-tokens") == n(2500)
    assert rows_of(page, "by-models")["gpt-free"][-1] == "price not set"
    assert rows_of(page, "top-conversations")["Restored"] == ["alice", "3", "2,500", "0.75 USD"]
