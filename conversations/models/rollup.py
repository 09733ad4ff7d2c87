"""Daily and monthly totals of the usage ledger, kept in the same transaction as each ledger
entry, so that the reports (dashboard, CSV export, "My usage", usage_report) read one row per
day (or month), user, group, model and currency instead of one per reply, and per conversation
and day (or month) for the costliest conversations. The ledger (UsageEntry) stays the source
of truth: `rebuild_rollups` recomputes every table from it (migration 0009 and
`manage.py rebuild_usage_rollup`)."""

from django.conf import settings
from django.db import connections, models, router, transaction
from django.db.models import Count, Q, Sum, Value
from django.db.models.functions import Coalesce, TruncDate, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

TOKEN_FIELDS = (
    "input_tokens",
    "cached_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
)
COST = {"max_digits": 16, "decimal_places": 6, "null": True, "blank": True}


class UsageTotals(models.Model):
    """The ledger's sums for one user, group, model and currency over a day or a month.
    `cost` is None when none of the replies had a price."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    group_name = models.CharField(_("group"), max_length=150, blank=True)
    model = models.CharField(_("model"), max_length=100)
    currency = models.CharField(max_length=3, blank=True)
    replies = models.PositiveBigIntegerField(default=0)
    estimated_replies = models.PositiveBigIntegerField(default=0)
    input_tokens = models.PositiveBigIntegerField(default=0)
    cached_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    reasoning_tokens = models.PositiveBigIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(**COST)

    class Meta:
        abstract = True


class DailyUsage(UsageTotals):
    """A day's totals (the site's time zone): the per-day charts and any range of days."""

    day = models.DateField(_("day"))

    class Meta:
        verbose_name = _("daily usage")
        verbose_name_plural = _("daily usage")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "user", "group_name", "model", "currency"],
                name="one_daily_usage_row",
            )
        ]
        indexes = [models.Index(fields=["user", "day"], name="daily_usage_user_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.user_id} {self.model}"


class MonthlyUsage(UsageTotals):
    """A month's totals: the breakdowns of a calendar month read a row per user, group, model
    and currency instead of one per day."""

    month = models.DateField(_("month"))

    class Meta:
        verbose_name = _("monthly usage")
        verbose_name_plural = _("monthly usage")
        constraints = [
            models.UniqueConstraint(
                fields=["month", "user", "group_name", "model", "currency"],
                name="one_monthly_usage_row",
            )
        ]
        indexes = [models.Index(fields=["user", "month"], name="monthly_usage_user_month_idx")]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.user_id} {self.model}"


class DailyConversationUsage(models.Model):
    """The ledger's sums for one conversation and day: the costliest conversations of a period
    without grouping the ledger's entries."""

    day = models.DateField(_("day"))
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    replies = models.PositiveBigIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(**COST)
    currency = models.CharField(max_length=3, blank=True)

    class Meta:
        verbose_name = _("daily conversation usage")
        verbose_name_plural = _("daily conversation usage")
        constraints = [
            models.UniqueConstraint(
                fields=["day", "conversation"], name="one_daily_conversation_usage_row"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.conversation_id}"


class MonthlyConversationUsage(models.Model):
    """The ledger's sums for one conversation and month: a month's costliest conversations are
    the first rows of an index (the priced ones; `cost` is None when no reply had a price), with
    nothing to group."""

    month = models.DateField(_("month"))
    conversation = models.ForeignKey(
        "conversations.Conversation", on_delete=models.CASCADE, related_name="+"
    )
    replies = models.PositiveBigIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(**COST)
    currency = models.CharField(max_length=3, blank=True)

    class Meta:
        verbose_name = _("monthly conversation usage")
        verbose_name_plural = _("monthly conversation usage")
        constraints = [
            models.UniqueConstraint(
                fields=["month", "conversation"], name="one_monthly_conversation_usage_row"
            )
        ]
        indexes = [
            models.Index(
                fields=["month", "-cost", "-total_tokens"], name="monthly_conversation_cost_idx"
            )
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.conversation_id}"


CONVERSATION_ROLLUPS = (DailyConversationUsage, MonthlyConversationUsage)


def record_in_rollups(entry) -> None:
    """Adds one new ledger entry to every rollup. Call it in the transaction that saves the
    entry, after the user's month row was updated: that row's lock orders concurrent writers of
    the same user (every rollup row belongs to one user)."""
    day = timezone.localdate(entry.created_at, timezone.get_default_timezone())  # (the site's)
    amounts = {name: getattr(entry, name) for name in TOKEN_FIELDS}
    amounts.update(replies=1, estimated_replies=int(entry.estimated))
    who = {
        "user_id": entry.user_id,
        "group_name": entry.group_name,
        "model": entry.model,
        "currency": entry.currency,
    }
    _add(DailyUsage, {"day": day, **who}, amounts, entry.cost)
    _add(MonthlyUsage, {"month": day.replace(day=1), **who}, amounts, entry.cost)
    if entry.conversation_id is None:
        return
    for model, key in [
        (DailyConversationUsage, {"day": day}),
        (MonthlyConversationUsage, {"month": day.replace(day=1)}),
    ]:
        _add(
            model,
            {**key, "conversation_id": entry.conversation_id},
            {"replies": 1, "total_tokens": entry.total_tokens},
            entry.cost,
            currency=entry.currency,
        )


def _add(model, key: dict, amounts: dict, cost, currency: str = "") -> None:
    """Adds `amounts` (and `cost` when not None) to the row of `key`, creating it if missing,
    in one statement: INSERT ... ON CONFLICT DO UPDATE, which SQLite and PostgreSQL both speak
    (an UPDATE, then an INSERT in a savepoint, was four statements whenever the row was new,
    as it is for the first reply of every conversation each day). Runs in the caller's
    transaction, so concurrent writers of the same row wait for each other."""
    connection = connections[router.db_for_write(model)]
    quote, meta = connection.ops.quote_name, model._meta
    values = {"currency": currency, **key, **amounts, "cost": cost}  # (every rollup has one)
    fields = {meta.get_field(name): value for name, value in values.items()}
    table = quote(meta.db_table)
    column = {name: quote(meta.get_field(name).column) for name in values}
    changes = [f"{column[n]} = {table}.{column[n]} + EXCLUDED.{column[n]}" for n in amounts]
    if cost is not None:
        old, new = f"{table}.{column['cost']}", f"EXCLUDED.{column['cost']}"
        changes.append(f"{column['cost']} = COALESCE({old}, 0) + {new}")
    if currency:  # the greater of the two, as Greatest() would write it on either database
        old, new = f"{table}.{column['currency']}", f"EXCLUDED.{column['currency']}"
        changes.append(f"{column['currency']} = CASE WHEN {old} >= {new} THEN {old} ELSE {new} END")
    # Only names from the model's metadata are written into the SQL; values go as parameters.
    sql = (
        f"INSERT INTO {table} ({', '.join(column.values())}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({', '.join(column[name] for name in key)}) "
        f"DO UPDATE SET {', '.join(changes)}"
    )
    params = [field.get_db_prep_save(value, connection) for field, value in fields.items()]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def rebuild_rollups(apps=None, using: str = "default") -> dict[str, int]:
    """Recomputes every rollup table from the ledger (in the database: INSERT ... SELECT) and
    returns their row counts by table. `apps` is a migration's historical app registry. On
    PostgreSQL the tables are locked against concurrent billing meanwhile (readers go on);
    SQLite's write transaction already excludes other writers."""
    from django.apps import apps as current

    def model(name):
        return (apps or current).get_model("conversations", name)

    site = timezone.get_default_timezone()  # (days and months are the site's, never a person's)
    entries = (
        model("UsageEntry").objects.using(using).annotate(day=TruncDate("created_at", tzinfo=site))
    )
    entries = entries.annotate(
        recorded_month=TruncMonth("created_at", output_field=models.DateField(), tzinfo=site)
    )

    def totals(period: str):
        return entries.values(period, "user_id", "group_name", "model", "currency").annotate(
            replies_=Count("id"),
            estimated_=Count("id", filter=Q(estimated=True)),
            **{f"{name}_": Sum(name) for name in TOKEN_FIELDS},
            cost_=Sum("cost"),
        )

    def per_conversation(period: str):
        return (
            entries.filter(conversation__isnull=False)
            .values(period, "conversation_id")
            .annotate(
                replies_=Count("id"),
                total_tokens_=Sum("total_tokens"),
                cost_=Sum("cost"),
                currency_=Coalesce(models.Max("currency", filter=Q(cost__isnull=False)), Value("")),
            )
        )

    totals_columns = [
        "user_id",
        "group_name",
        "model",
        "currency",
        "replies",
        "estimated_replies",
        *TOKEN_FIELDS,
        "cost",
    ]
    conversation_columns = ["conversation_id", "replies", "total_tokens", "cost", "currency"]
    tables = [
        (model("DailyUsage"), totals("day"), ["day", *totals_columns]),
        (model("MonthlyUsage"), totals("recorded_month"), ["month", *totals_columns]),
        (model("DailyConversationUsage"), per_conversation("day"), ["day", *conversation_columns]),
        (
            model("MonthlyConversationUsage"),
            per_conversation("recorded_month"),
            ["month", *conversation_columns],
        ),
    ]
    connection = connections[using]
    counts = {}
    with transaction.atomic(using=using), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            names = ", ".join(connection.ops.quote_name(t[0]._meta.db_table) for t in tables)
            cursor.execute(f"LOCK TABLE {names} IN EXCLUSIVE MODE")
        for rollup, queryset, columns in tables:
            rollup.objects.using(using).all().delete()
            sql, params = queryset.order_by().query.sql_with_params()
            table = connection.ops.quote_name(rollup._meta.db_table)
            names = ", ".join(connection.ops.quote_name(column) for column in columns)
            cursor.execute(f"INSERT INTO {table} ({names}) {sql}", params)
            counts[rollup._meta.db_table] = rollup.objects.using(using).count()
    return counts
