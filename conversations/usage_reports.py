"""The usage reports: every figure of "My usage", the admin usage dashboard, the chargeback CSV
and `manage.py usage_report` is an aggregate query over the ledger's daily rollups (DailyUsage,
DailyConversationUsage; equal to the ledger's sums), grouped in the database. Nothing here loops
over entries, and the number of queries never depends on them. A reply belongs to the day, and
so to the month, it was recorded in (site time zone): the same month its quota was charged to."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from defusedcsv import csv
from django.db.models import F, Max, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from conversations.models import Conversation
from conversations.models.rollup import (
    DailyConversationUsage,
    DailyUsage,
    MonthlyConversationUsage,
    MonthlyUsage,
)
from conversations.models.usage import month_start, next_month

TOKEN_FIELDS = (
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
)
# The columns of the chargeback export, in order.
CSV_COLUMNS = (
    "month",
    "group",
    "user",
    "model",
    "replies",
    *TOKEN_FIELDS,
    "cost",
    "currency",
)
# The columns a breakdown table sorts by (?sort=cost, ?sort=-total_tokens, ...).
SORT_KEYS = ("name", "replies", *TOKEN_FIELDS, "cost")
DEFAULT_SORT = "-cost"


def _sums() -> dict:
    sums = {name: Sum(name) for name in TOKEN_FIELDS}
    sums["cost"] = Sum("cost")
    sums["replies"] = Sum("replies")
    return sums


@dataclass(frozen=True)
class Period:
    """Days from `start` to `end`, both included, in the site's time zone. An entry belongs to
    the day it was recorded (created_at), and to that day's month."""

    start: datetime.date
    end: datetime.date

    @classmethod
    def month(cls, month: datetime.date) -> "Period":
        return cls(month, next_month(month) - datetime.timedelta(days=1))

    @classmethod
    def this_month(cls) -> "Period":
        return cls.month(month_start())

    @classmethod
    def last_days(cls, count: int) -> "Period":
        today = timezone.localdate(timezone=timezone.get_default_timezone())  # (the site's)
        return cls(today - datetime.timedelta(days=count - 1), today)

    @property
    def days(self) -> list[datetime.date]:
        return [
            self.start + datetime.timedelta(days=n) for n in range((self.end - self.start).days + 1)
        ]

    def days_rows(self):
        """The daily rollup rows of the period (for the per-day figures)."""
        return DailyUsage.objects.filter(day__gte=self.start, day__lte=self.end)

    def entries(self):
        """The rollup rows the totals and breakdowns aggregate: a calendar month's monthly
        rows (one per user, group, model and currency), else the daily rows."""
        if self.is_one_month:
            return MonthlyUsage.objects.filter(month=self.start)
        return self.days_rows()

    @property
    def is_one_month(self) -> bool:
        return self.start.day == 1 and self.end == next_month(self.start) - datetime.timedelta(1)


@dataclass(frozen=True)
class Totals:
    replies: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0
    total_tokens: int = 0
    # One (currency, amount) per currency used; replies without a price add no cost.
    costs: tuple[tuple[str, Decimal], ...] = ()
    unpriced_replies: int = 0


def totals(entries) -> Totals:
    """Sums of the entries: one row per currency (usually one, plus "" for unpriced replies)."""
    rows = list(entries.values("currency").annotate(**_sums()).order_by("currency"))
    counts = {name: sum(row[name] for row in rows) for name in ("replies", *TOKEN_FIELDS)}
    return Totals(
        **counts,
        costs=tuple((row["currency"], row["cost"]) for row in rows if row["cost"] is not None),
        unpriced_replies=sum(row["replies"] for row in rows if row["cost"] is None),
    )


def parse_sort(value: str | None) -> str:
    """A valid sort key (optionally with "-" for descending), else the default."""
    if value and value.removeprefix("-") in SORT_KEYS:
        return value
    return DEFAULT_SORT


def _breakdown(entries, key: str, sort: str, **extra) -> list[dict]:
    """One row per value of `key` with the sums, as dicts with "name" for the key's value."""
    descending, column = sort.startswith("-"), sort.removeprefix("-")
    column = key if column == "name" else column
    order = F(column).desc(nulls_last=True) if descending else F(column).asc(nulls_first=True)
    rows = (
        entries.values(key)
        .annotate(name=F(key), currency=_currency(), **_sums(), **extra)
        .order_by(order, key)
    )
    return list(rows)


def _currency():
    # Unpriced entries have "" for currency; the greatest is the priced one.
    return Max("currency")


def by_user(entries, sort: str = DEFAULT_SORT) -> list[dict]:
    # Grouped by the (unique) username alone; the id comes along as an aggregate, so the
    # database does not expect a group per (username, id) pair and hashes instead of sorting.
    return _breakdown(entries, "user__username", sort, user_id=Max("user_id"))


def by_group(entries, sort: str = DEFAULT_SORT) -> list[dict]:
    return _breakdown(entries, "group_name", sort)


def by_model(entries, sort: str = DEFAULT_SORT) -> list[dict]:
    return _breakdown(entries, "model", sort)


@dataclass(frozen=True)
class Day:
    day: datetime.date
    total_tokens: int
    cost: Decimal | None


def per_day(entries, period: Period) -> list[Day]:
    """Tokens and cost for every day of the period (from daily rows), days without replies
    included as zero."""
    rows = entries.values("day").annotate(total_tokens=Sum("total_tokens"), cost=Sum("cost"))
    found = {row["day"]: row for row in rows.order_by()}
    days = []
    for day in period.days:
        row = found.get(day, {"total_tokens": 0, "cost": None})
        days.append(Day(day, row["total_tokens"], row["cost"]))
    return days


def top_conversations(period: Period, limit: int = 10) -> list[dict]:
    """The conversations that cost the most, with their title and owner (at most three
    queries): for a calendar month, the first rows of the monthly totals' index; else the
    daily totals summed."""
    if period.is_one_month:
        rows = _top_of_month(period.start, limit)
    else:
        rows = list(
            DailyConversationUsage.objects.filter(day__gte=period.start, day__lte=period.end)
            .values("conversation_id")
            .annotate(
                replies=Sum("replies"),
                total_tokens=Sum("total_tokens"),
                cost=Sum("cost"),
                currency=_currency(),
            )
            .order_by(F("cost").desc(nulls_last=True), "-total_tokens", "conversation_id")[:limit]
        )
    conversations = Conversation.objects.select_related("owner").in_bulk(
        [row["conversation_id"] for row in rows]
    )
    for row in rows:
        row["conversation"] = conversations.get(row["conversation_id"])
    return rows


def _top_of_month(month: datetime.date, limit: int) -> list[dict]:
    """The priced conversations by cost (in the order of the monthly totals' index), then, if
    fewer than `limit`, the unpriced ones by tokens."""
    rows = MonthlyConversationUsage.objects.filter(month=month).values(
        "conversation_id", "replies", "total_tokens", "cost", "currency"
    )
    top = list(
        rows.filter(cost__isnull=False).order_by("-cost", "-total_tokens", "conversation_id")[
            :limit
        ]
    )
    if len(top) < limit:
        unpriced = rows.filter(cost__isnull=True).order_by("-total_tokens", "conversation_id")
        top += list(unpriced[: limit - len(top)])
    return top


def chargeback_rows(period: Period) -> list[dict]:
    """One row per month, group, user, model and currency, as the CSV export writes them. The
    month is the one the reply was recorded in, like the period that selects the entries."""
    entries = period.entries()
    month = F("month") if entries.model is MonthlyUsage else TruncMonth("day")
    rows = (
        entries.annotate(recorded=month)
        .values("recorded", "group_name", "user__username", "model", "currency")
        .annotate(**_sums())
        .order_by("recorded", "group_name", "user__username", "model", "currency")
    )
    return [
        {
            "month": row["recorded"].strftime("%Y-%m"),
            "group": row["group_name"],
            "user": row["user__username"],
            "model": row["model"],
            "replies": row["replies"],
            **{name: row[name] for name in TOKEN_FIELDS},
            "cost": "" if row["cost"] is None else f"{row['cost']:.6f}",
            "currency": row["currency"],
        }
        for row in rows
    ]


def write_csv(rows: list[dict], file) -> None:
    """The chargeback rows as CSV that no spreadsheet runs as formulas: defusedcsv puts an
    apostrophe before a text cell starting with = + - @ | % (numbers stay numbers), and a cell
    starting with a tab or a carriage return, which OWASP lists too, gets one here."""
    writer = csv.DictWriter(file, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(
        {name: _apostrophe_before_blank(value) for name, value in row.items()} for row in rows
    )


def _apostrophe_before_blank(value):
    if isinstance(value, str) and value.startswith(("\t", "\r")):
        return "'" + value
    return value


def month_entries(month: datetime.date, user=None):
    """The rollup rows of a month (the month a reply was recorded in, which its quota used)."""
    entries = Period.month(month).entries()
    return entries if user is None else entries.filter(user=user)


def user_last_days(user, count: int = 30) -> tuple[Period, list[Day]]:
    period = Period.last_days(count)
    return period, per_day(period.days_rows().filter(user=user), period)
