"""Usage accounting: the model catalogue with prices, monthly quotas (a default, per group, per
user), the reservation taken before a reply starts and settled when it ends, and the ledger
(one immutable entry per billed reply) whose sums are the totals shown everywhere."""

import datetime
import time
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models, transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import Round
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversations.models.attachments import Attachment
from conversations.models.rollup import record_in_rollups
from conversations.tokens import estimate_tokens

MILLION = Decimal(1_000_000)
CENT_FRACTION = Decimal("0.000001")
ZERO = Decimal(0)


def month_start(moment: datetime.datetime | None = None) -> datetime.date:
    """The first day of the month (in the site's time zone, whatever the person's) that quotas
    and reports use."""
    return timezone.localdate(moment, timezone.get_default_timezone()).replace(day=1)


def next_month(month: datetime.date) -> datetime.date:
    return (month.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)


class QuotaExceeded(Exception):
    """The user's monthly limit has no room for this reply."""

    def __init__(self, resets_on: datetime.date):
        self.resets_on = resets_on
        super().__init__(f"monthly quota reached; resets on {resets_on}")


class RateLimited(Exception):
    """Too many replies at once or sends per minute; retry after `retry_after` seconds."""

    def __init__(self, reason: str, retry_after: int):
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(f"{reason}; retry after {retry_after}s")


PRICE = {"max_digits": 12, "decimal_places": 6, "null": True, "blank": True}


class AIModel(models.Model):
    """A model staff may pick, with its prices per million tokens. When the catalogue is empty
    the RESPONSES_MODELS list is used; `seed_from_settings` copies that list in."""

    model_id = models.CharField(_("model id"), max_length=100, unique=True)
    display_name = models.CharField(_("display name"), max_length=100, blank=True)
    enabled = models.BooleanField(_("enabled"), default=True)
    sort_order = models.IntegerField(_("sort order"), default=0)
    input_price = models.DecimalField(_("input price per million tokens"), **PRICE)
    cached_input_price = models.DecimalField(_("cached input price per million tokens"), **PRICE)
    output_price = models.DecimalField(_("output price per million tokens"), **PRICE)
    currency = models.CharField(_("currency"), max_length=3, default="USD")

    class Meta:
        verbose_name = _("model")
        verbose_name_plural = _("models")
        ordering = ["sort_order", "model_id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(input_price__isnull=True) | Q(input_price__gte=0))
                & (Q(cached_input_price__isnull=True) | Q(cached_input_price__gte=0))
                & (Q(output_price__isnull=True) | Q(output_price__gte=0)),
                name="aimodel_prices_not_negative",
            )
        ]

    def __str__(self) -> str:
        return self.display_name or self.model_id

    @property
    def has_price(self) -> bool:
        return self.input_price is not None and self.output_price is not None

    def cost_of(self, input_tokens: int, cached_tokens: int, output_tokens: int) -> Decimal | None:
        """The cost of a reply at today's prices; None when the price is not set. Reasoning
        tokens are part of output_tokens and bill as output. Never negative."""
        if not self.has_price:
            return None
        input_tokens = max(input_tokens, 0)
        cached = min(max(cached_tokens, 0), input_tokens)
        cached_rate = (
            self.input_price if self.cached_input_price is None else self.cached_input_price
        )
        cost = (
            Decimal(input_tokens - cached) * max(self.input_price, ZERO)
            + Decimal(cached) * max(cached_rate, ZERO)
            + Decimal(max(output_tokens, 0)) * max(self.output_price, ZERO)
        ) / MILLION
        return max(cost, ZERO).quantize(CENT_FRACTION, rounding=ROUND_HALF_UP)

    @classmethod
    def cached(cls, model_id: str) -> "AIModel | None":
        """The model from this process's copy of the catalogue (see `catalogue`): for what a
        send reserves and what a finished reply is billed, both at most MODEL_CATALOGUE_TTL
        seconds behind a price changed in another process."""
        return next((model for model in catalogue() if model.model_id == model_id), None)

    @classmethod
    def choices(cls) -> list[tuple[str, str]]:
        enabled = [(m.model_id, str(m)) for m in catalogue() if m.enabled]
        return enabled or [(name, name) for name in settings.RESPONSES_MODELS]

    @classmethod
    def default_model_id(cls) -> str:
        return cls.choices()[0][0]

    @classmethod
    def seed_from_settings(cls) -> int:
        """Adds the RESPONSES_MODELS list to the catalogue (without prices). Idempotent."""
        created = 0
        for order, name in enumerate(settings.RESPONSES_MODELS):
            created += cls.objects.get_or_create(model_id=name, defaults={"sort_order": order})[1]
        return created


_catalogue: tuple[float, list[AIModel]] | None = None


def catalogue() -> list[AIModel]:
    """Every model, in order, as read at most MODEL_CATALOGUE_TTL seconds ago by this process.
    Every send reads it (the model picker's choices, the reservation's price), and it changes a
    few times a year: a query per send was a tenth of the send's work. A change saved in this
    process shows at once; one saved by another process within the TTL."""
    global _catalogue
    now = time.monotonic()
    if _catalogue is None or now - _catalogue[0] > settings.MODEL_CATALOGUE_TTL:
        _catalogue = (now, list(AIModel.objects.all()))
    return _catalogue[1]


def forget_catalogue(**_signal) -> None:
    global _catalogue
    _catalogue = None


models.signals.post_save.connect(forget_catalogue, sender=AIModel)
models.signals.post_delete.connect(forget_catalogue, sender=AIModel)


@dataclass(frozen=True)
class Limits:
    """The limits that apply to one user. `tokens` and `cost` are the monthly limits in force
    (None: none, also when an exempt policy lifted it); `group` is the group whose policy
    applied, the one the user's replies are charged to ("" when no group policy applies)."""

    tokens: int | None = None
    cost: Decimal | None = None
    exempt: bool = False
    max_concurrent: int = 3
    sends_per_minute: int = 20
    group: str = ""

    @property
    def unlimited(self) -> bool:
        return self.tokens is None and self.cost is None


class QuotaPolicy(models.Model):
    """Monthly limits in tokens and/or cost, and rate limits, for everyone (the default), a
    group or a user. For each limit the most specific policy that sets it wins (the user's own,
    then their group's, then the default): an empty field inherits from the next level, and
    "exempt" lifts the monthly limits it has not already been given at a more specific level.
    Among several groups with a policy, the most generous one applies (see `_group_policy`)."""

    class Scope(models.TextChoices):
        DEFAULT = "default", _("Everyone (default)")
        GROUP = "group", _("Group (department)")
        USER = "user", _("User")

    scope = models.CharField(_("applies to"), max_length=10, choices=Scope.choices)
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.CASCADE)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    monthly_token_limit = models.PositiveBigIntegerField(
        _("monthly token limit"),
        null=True,
        blank=True,
        help_text=_("Empty: as the group's or the default policy says."),
    )
    monthly_cost_limit = models.DecimalField(
        _("monthly cost limit"),
        max_digits=12,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_(
            "In the catalogue's currency. Empty: as the group's or the default policy says."
        ),
    )
    exempt = models.BooleanField(_("exempt from monthly limits"), default=False)
    max_concurrent_replies = models.PositiveSmallIntegerField(
        _("replies generating at once"), null=True, blank=True
    )
    max_sends_per_minute = models.PositiveSmallIntegerField(
        _("sends per minute"), null=True, blank=True
    )

    class Meta:
        verbose_name = _("quota")
        verbose_name_plural = _("quotas")
        constraints = [
            models.UniqueConstraint(
                fields=["scope"], condition=Q(scope="default"), name="one_default_quota"
            ),
            models.UniqueConstraint(
                fields=["group"], condition=Q(scope="group"), name="one_quota_per_group"
            ),
            models.UniqueConstraint(
                fields=["user"], condition=Q(scope="user"), name="one_quota_per_user"
            ),
            models.CheckConstraint(
                condition=Q(scope="default", group__isnull=True, user__isnull=True)
                | Q(scope="group", group__isnull=False, user__isnull=True)
                | Q(scope="user", group__isnull=True, user__isnull=False),
                name="quota_scope_matches_target",
            ),
            models.CheckConstraint(
                condition=Q(monthly_cost_limit__isnull=True) | Q(monthly_cost_limit__gte=0),
                name="quota_cost_not_negative",
            ),
        ]

    def __str__(self) -> str:
        target = self.user or self.group or _("everyone")
        return f"{self.get_scope_display()}: {target}"

    @classmethod
    def limits_for(cls, user) -> Limits:
        """One query, whatever the history's size."""
        policies = list(
            cls.objects.filter(
                Q(scope=cls.Scope.USER, user_id=user.pk)
                | Q(scope=cls.Scope.GROUP, group__user=user.pk)
                | Q(scope=cls.Scope.DEFAULT)
            )
            .select_related("group")
            .distinct()
        )
        mine = [p for p in policies if p.scope == cls.Scope.USER]
        default = [p for p in policies if p.scope == cls.Scope.DEFAULT]
        group = _group_policy([p for p in policies if p.scope == cls.Scope.GROUP], default)
        chain = mine + ([group] if group else []) + default  # the most specific first
        tokens, tokens_lifted = _monthly(chain, "monthly_token_limit")
        cost, cost_lifted = _monthly(chain, "monthly_cost_limit")
        return Limits(
            tokens=tokens,
            cost=cost,
            exempt=tokens_lifted or cost_lifted,
            max_concurrent=_first_set(chain, "max_concurrent_replies")
            or settings.MAX_CONCURRENT_REPLIES,
            sends_per_minute=_first_set(chain, "max_sends_per_minute")
            or settings.MAX_SENDS_PER_MINUTE,
            group=group.group.name if group else "",
        )


def _first_set(chain: list[QuotaPolicy], field: str):
    return next((getattr(p, field) for p in chain if getattr(p, field) is not None), None)


def _monthly(chain: list[QuotaPolicy], field: str) -> tuple[object, bool]:
    """(limit, lifted): the most specific value set, unless an exempt policy comes first."""
    for policy in chain:
        if policy.exempt:
            return None, True
        if getattr(policy, field) is not None:
            return getattr(policy, field), False
    return None, False


def _group_policy(groups: list[QuotaPolicy], default: list[QuotaPolicy]) -> QuotaPolicy | None:
    """The most generous of the user's group policies, as each would apply over the default:
    exempt first, then the higher token limit, then the higher cost limit (no limit counts as
    the highest), then the group's name in alphabetical order."""

    def generosity(policy: QuotaPolicy):
        chain = [policy, *default]
        tokens, cost = _monthly(chain, "monthly_token_limit"), _monthly(chain, "monthly_cost_limit")
        unlimited = Decimal("Infinity")
        return (
            policy.exempt,
            unlimited if tokens[0] is None else Decimal(tokens[0]),
            unlimited if cost[0] is None else Decimal(cost[0]),
        )

    ranked = sorted(groups, key=lambda p: p.group.name)  # ties: the first name wins
    return max(ranked, key=generosity, default=None)


def charge_group(user, limits: Limits | None = None) -> str:
    """The group a user's replies are charged to (the ledger's group_name, used by the dashboard,
    the export and the report): the group whose quota policy applies to the user; when none of
    their groups has a policy, their first group in alphabetical order; "" for none."""
    limits = limits or QuotaPolicy.limits_for(user)
    if limits.group:
        return limits.group
    return user.groups.order_by("name").values_list("name", flat=True).first() or ""


def _money(expression):
    """Sums of money in the database, rounded to the column's six places: SQLite computes
    decimals as floats, and without this a reserve-then-release could leave -1e-18 behind
    (which the not-negative constraint rightly refuses)."""
    return Round(expression, 6)


class UsageMonth(models.Model):
    """Running totals of one user's month, kept equal to the ledger's sums: the quota check
    reads this one row instead of the history."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    month = models.DateField()
    tokens_used = models.PositiveBigIntegerField(default=0)
    cost_used = models.DecimalField(max_digits=14, decimal_places=6, default=ZERO)
    tokens_reserved = models.PositiveBigIntegerField(default=0)
    cost_reserved = models.DecimalField(max_digits=14, decimal_places=6, default=ZERO)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "month"], name="one_usage_row_per_user_month"),
            models.CheckConstraint(
                condition=Q(cost_used__gte=0, cost_reserved__gte=0),
                name="usage_month_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.month:%Y-%m}"

    @classmethod
    def locked(cls, user, month: datetime.date) -> "UsageMonth":
        """The row, locked for this transaction (PostgreSQL row lock; SQLite's IMMEDIATE
        transactions already hold the write lock). One query once the row exists: a row
        made here is locked by its own insert."""
        return cls.objects.select_for_update().get_or_create(user=user, month=month)[0]


@dataclass(frozen=True)
class QuotaStatus:
    """Where a user stands this month, for the message box and the usage page."""

    limits: Limits
    month: datetime.date
    tokens_used: int
    tokens_reserved: int
    cost_used: Decimal
    cost_reserved: Decimal
    model_id: str = ""

    @property
    def resets_on(self) -> datetime.date:
        return next_month(self.month)

    @cached_property
    def over(self) -> bool:
        """No room left for a reply: the rule that refuses a send (`quota_room`), for an empty
        message to the model the user would send to."""
        if self.limits.unlimited:
            return False
        model = None
        if self.limits.cost is not None:  # only a cost limit depends on the model's prices
            model = AIModel.cached(self.model_id or AIModel.default_model_id())
        return quota_room(self, self.limits, model, 0) == 0

    @classmethod
    def for_user(cls, user, model_id: str = "") -> "QuotaStatus":
        """Two queries whatever the history's size: the policies and the month's row (and the
        model's prices for `over` under a cost limit; the catalogue's default model when none
        is given)."""
        month = month_start()
        row = UsageMonth.objects.filter(user=user, month=month).first() or UsageMonth()
        return cls(
            limits=QuotaPolicy.limits_for(user),
            month=month,
            tokens_used=row.tokens_used,
            tokens_reserved=row.tokens_reserved,
            cost_used=row.cost_used,
            cost_reserved=row.cost_reserved,
            model_id=model_id,
        )


class Reservation(models.Model):
    """The worst case of one reply, held against the quota while it generates; settled to the
    real usage, or released, exactly once."""

    class State(models.TextChoices):
        OPEN = "open", _("Open")
        SETTLED = "settled", _("Settled")
        RELEASED = "released", _("Released")

    reply = models.OneToOneField(
        "conversations.Reply", null=True, on_delete=models.SET_NULL, related_name="reservation"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    month = models.DateField()
    tokens = models.PositiveBigIntegerField()
    cost = models.DecimalField(max_digits=14, decimal_places=6, default=ZERO)
    max_output_tokens = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    created_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)
    # Not stored: the limits the reservation was held under, when it was made in this process.
    limits: Limits | None = None

    class Meta:
        indexes = [models.Index(fields=["state"], name="reservation_state_idx")]

    def __str__(self) -> str:
        return f"{self.tokens} tokens for {self.user} ({self.state})"

    @classmethod
    def hold(cls, reply, usage: UsageMonth, limits: Limits) -> "Reservation":
        """Reserves the reply's worst case (its input estimate plus the output it may write)
        on the user's locked month row. Under a limit, the output allowed shrinks to the room
        left; with less room than QUOTA_MIN_OUTPUT_TOKENS, QuotaExceeded."""
        input_tokens = context_tokens(reply)
        output_tokens = reply.conversation.max_output_tokens or settings.QUOTA_RESERVE_OUTPUT_TOKENS
        model = AIModel.cached(reply.model)
        limited = not limits.unlimited
        room = quota_room(usage, limits, model, input_tokens)
        if room == 0:
            raise QuotaExceeded(next_month(usage.month))
        if room is not None:
            output_tokens = min(output_tokens, room)
        cost = (model.cost_of(input_tokens, 0, output_tokens) if model else None) or ZERO
        tokens = input_tokens + output_tokens
        UsageMonth.objects.filter(pk=usage.pk).update(
            tokens_reserved=F("tokens_reserved") + tokens,
            cost_reserved=_money(F("cost_reserved") + cost),
        )
        reservation = cls.objects.create(
            reply=reply,
            user_id=reply.user_id,
            month=usage.month,
            tokens=tokens,
            cost=cost,
            max_output_tokens=output_tokens if limited else None,
        )
        reservation.limits = limits  # billing charges their group, with no second read
        return reservation

    def _close(self, state: str) -> bool:
        """Moves an open reservation to `state` and gives back what it held; False if it was
        already closed (so nothing is ever counted twice)."""
        closed = Reservation.objects.filter(pk=self.pk, state=self.State.OPEN).update(
            state=state, closed_at=timezone.now()
        )
        if closed:
            UsageMonth.objects.filter(user_id=self.user_id, month=self.month).update(
                tokens_reserved=F("tokens_reserved") - self.tokens,
                cost_reserved=_money(F("cost_reserved") - self.cost),
            )
        return bool(closed)

    @transaction.atomic
    def release(self) -> bool:
        return self._close(self.State.RELEASED)

    @transaction.atomic
    def settle(self, entry: "UsageEntry") -> bool:
        """Charges the real usage (the ledger entry) and gives back the reservation. The entry
        counts in the month it is recorded in (its created_at, in the site's time zone), the
        one month every report uses; usually the reservation's, unless the reply ran past
        midnight at the end of a month. The daily rollups are updated in the same transaction."""
        if not self._close(self.State.SETTLED):
            return False
        entry.user_id, entry.month = self.user_id, month_start(entry.created_at)
        if entry.month != self.month:
            UsageMonth.objects.get_or_create(user_id=self.user_id, month=entry.month)
        UsageMonth.objects.filter(user_id=self.user_id, month=entry.month).update(
            tokens_used=F("tokens_used") + entry.total_tokens,
            cost_used=_money(F("cost_used") + (entry.cost or ZERO)),
        )
        entry.save()
        record_in_rollups(entry)
        return True


def context_tokens(reply) -> int:
    """Input tokens the relay will count for this turn: the instructions and message, plus the
    context it prepends (the previous turn's input and output, or the history's estimate)."""
    conversation = reply.conversation
    tokens = estimate_tokens(conversation.instructions) + estimate_tokens(reply.user_input)
    tokens += attachment_tokens([reply.pk])
    previous = reply.parent  # the turn this one follows, new turn or new version alike
    if previous is None:
        return tokens
    if previous.input_tokens is not None and previous.output_tokens is not None:
        return tokens + previous.input_tokens + previous.output_tokens
    earlier = list(conversation.visible_replies().filter(position__lt=reply.position))
    for turn in earlier:
        tokens += estimate_tokens(turn.user_input) + estimate_tokens(turn.text)
    return tokens + attachment_tokens([turn.pk for turn in earlier])


def attachment_tokens(reply_ids) -> int:
    """The input tokens counted for the files attached to these turns (the README's rule,
    worked out when each was attached: Attachment.estimated_tokens)."""
    total = Attachment.objects.filter(
        reply_id__in=reply_ids, origin=Attachment.Origin.UPLOADED
    ).aggregate(total=Sum("estimated_tokens"))["total"]
    return total or 0


def quota_room(usage, limits: Limits, model, input_tokens: int) -> int | None:
    """The one rule of the monthly limits, for the refusal of a send (Reservation.hold) and the
    notice before typing (QuotaStatus.over): the output tokens a reply of `input_tokens` may
    write in the room left (`usage`: a UsageMonth or a QuotaStatus); 0 when that is less than
    QUOTA_MIN_OUTPUT_TOKENS (refused); None when no monthly limit applies."""
    if limits.unlimited:
        return None
    allowed = _affordable_output(usage, limits, model, input_tokens)
    if allowed is not None and allowed < settings.QUOTA_MIN_OUTPUT_TOKENS:
        return 0
    return allowed


def _affordable_output(usage, limits: Limits, model, input_tokens: int) -> int | None:
    """The most output tokens the room left under the limits pays for (None: no limit)."""
    allowed: list[int] = []
    if limits.tokens is not None:
        allowed.append(limits.tokens - usage.tokens_used - usage.tokens_reserved - input_tokens)
    if limits.cost is not None and model is not None and model.has_price:
        room = limits.cost - usage.cost_used - usage.cost_reserved
        room -= model.cost_of(input_tokens, 0, 0) or ZERO
        per_token = max(model.output_price, ZERO) / MILLION
        if per_token > 0:
            allowed.append(int(room / per_token))
        else:  # free output: the room left (after the input) must still be positive
            allowed.append(settings.QUOTA_RESERVE_OUTPUT_TOKENS if room > 0 else 0)
    elif limits.cost is not None:
        room = limits.cost - usage.cost_used - usage.cost_reserved
        allowed.append(settings.QUOTA_RESERVE_OUTPUT_TOKENS if room > 0 else 0)
    return min(allowed) if allowed else None


class UsageEntry(models.Model):
    """The ledger: one row per billed reply, never changed. Names are copied so that reports
    stay true after a rename or a deleted conversation."""

    reply = models.OneToOneField(
        "conversations.Reply", null=True, on_delete=models.SET_NULL, related_name="usage_entry"
    )
    conversation = models.ForeignKey(
        "conversations.Conversation", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT)
    group_name = models.CharField(_("group"), max_length=150, blank=True)
    model = models.CharField(_("model"), max_length=100)
    month = models.DateField(_("month"))
    input_tokens = models.PositiveBigIntegerField(default=0)
    cached_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    reasoning_tokens = models.PositiveBigIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    estimated = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("usage entry")
        verbose_name_plural = _("usage ledger")
        permissions = [("view_usage_dashboard", _("Can view the usage dashboard"))]
        indexes = [
            models.Index(fields=["month", "user"], name="usage_month_user_idx"),
            models.Index(fields=["month", "model"], name="usage_month_model_idx"),
            models.Index(fields=["created_at"], name="usage_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.model} {self.total_tokens} tokens"
