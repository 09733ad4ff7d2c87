"""Users, conversations and the replies (responses) generated in them, with the rules that
keep them consistent: one reply generating per conversation, one message per submitted form."""

import math
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import IntegrityError, models, transaction
from django.db.models import Max, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from conversations.models.usage import (
    AIModel,
    Limits,
    QuotaPolicy,
    RateLimited,
    Reservation,
    UsageEntry,
    UsageMonth,
    month_start,
)


class User(AbstractUser):
    """The site's user. Custom from the first migration so fields can be added later."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"


class ConversationBusy(Exception):
    """A reply is already being generated in this conversation."""


class ConversationQuerySet(models.QuerySet):
    def for_user(self, user):
        return self.filter(owner=user)

    def visible(self):
        return self.filter(archived=False)


class Conversation(models.Model):
    class ReasoningEffort(models.TextChoices):
        DEFAULT = "", _("Model default")
        LOW = "low", _("Low")
        MEDIUM = "medium", _("Medium")
        HIGH = "high", _("High")

    class Truncation(models.TextChoices):
        DISABLED = "disabled", _("Off: fail when the conversation is too long")
        AUTO = "auto", _("Auto: drop the oldest turns when too long")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversations"
    )
    title = models.CharField(_("title"), max_length=200, blank=True)
    model = models.CharField(_("model"), max_length=100)
    instructions = models.TextField(_("instructions"), blank=True)
    temperature = models.FloatField(_("temperature"), null=True, blank=True)
    top_p = models.FloatField(_("top p"), null=True, blank=True)
    max_output_tokens = models.PositiveIntegerField(_("max output tokens"), null=True, blank=True)
    reasoning_effort = models.CharField(
        _("reasoning effort"), max_length=10, choices=ReasoningEffort.choices, blank=True
    )
    reasoning_summary = models.BooleanField(_("show reasoning summary"), default=False)
    truncation = models.CharField(
        _("truncation"), max_length=10, choices=Truncation.choices, default=Truncation.AUTO
    )
    # Request fields of the relay that the chat page does not edit, kept so every field of the
    # API has a home (set through the admin or future tools).
    tools = models.JSONField(_("tools"), default=list, blank=True)
    tool_choice = models.JSONField(_("tool choice"), null=True, blank=True)
    archived = models.BooleanField(_("archived"), default=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("last activity"), default=timezone.now)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at"]
        indexes = [
            models.Index(fields=["owner", "archived", "-updated_at"], name="conv_owner_recent_idx")
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(temperature__isnull=True) | Q(temperature__gte=0, temperature__lte=2),
                name="conv_temperature_range",
            ),
            models.CheckConstraint(
                condition=Q(top_p__isnull=True) | Q(top_p__gte=0, top_p__lte=1),
                name="conv_top_p_range",
            ),
        ]

    def __str__(self) -> str:
        return self.display_title

    def get_absolute_url(self) -> str:
        return reverse("conversation", args=[self.pk])

    @property
    def display_title(self) -> str:
        return self.title or str(_("New chat"))

    def title_from_message(self, message: str) -> str:
        """A short title from the first message: its first line, cut at a word near 60 chars."""
        first_line = " ".join(message.strip().split())[:80]
        if len(first_line) > 60:
            cut = first_line.rfind(" ", 30, 60)
            first_line = first_line[: cut if cut > 0 else 60].rstrip() + "…"
        return first_line

    def add_turn(self, user_input: str, client_token=None) -> "Reply":
        """Stores the user's message as a new queued turn (before any call to the relay)."""
        last = self.replies.filter(is_latest=True).aggregate(last=Max("position"))["last"]
        if not self.title:
            self.title = self.title_from_message(user_input)
        self.updated_at = timezone.now()
        self.save(update_fields=["title", "updated_at", *SETTINGS_FIELDS])
        return Reply.objects.create(
            conversation=self,
            user=self.owner,
            client_token=client_token,
            position=0 if last is None else last + 1,
            user_input=user_input,
            model=self.model,
        )

    def visible_replies(self):
        """The transcript as the owner sees it: the latest version of each turn, in order."""
        return self.replies.filter(is_latest=True).order_by("position")


SETTINGS_FIELDS = (
    "model",
    "instructions",
    "temperature",
    "top_p",
    "max_output_tokens",
    "reasoning_effort",
    "reasoning_summary",
    "truncation",
)


class ReplyQuerySet(models.QuerySet):
    def generating(self):
        return self.filter(status__in=Reply.GENERATING)

    def submit(self, owner, conversation: Conversation, user_input: str, client_token):
        """Adds a turn unless this form was submitted before. Returns (reply, created).
        In one transaction: the per-user limits are checked and the reply's worst case is
        reserved against the monthly quota. Raises ConversationBusy (a reply is generating in
        the conversation), RateLimited or QuotaExceeded."""
        existing = self.filter(user=owner, client_token=client_token).first()
        if existing is not None:
            return existing, False
        limits = QuotaPolicy.limits_for(owner)
        try:
            with transaction.atomic():
                usage = UsageMonth.locked(owner, month_start())
                _check_rates(owner, limits)
                if conversation._state.adding:
                    conversation.save()
                reply = conversation.add_turn(user_input, client_token)
                Reservation.hold(reply, usage, limits)
                return reply, True
        except IntegrityError:
            existing = self.filter(user=owner, client_token=client_token).first()
            if existing is not None:
                return existing, False
            raise ConversationBusy from None


def _check_rates(owner, limits: Limits) -> None:
    """Replies generating at once and sends in the last minute, counted under the user's lock."""
    replies = Reply.objects.filter(user=owner)
    if replies.generating().count() >= limits.max_concurrent:
        raise RateLimited("concurrent", retry_after=5)
    minute_ago = timezone.now() - timedelta(seconds=60)
    recent = replies.filter(created_at__gte=minute_ago).order_by("created_at")
    if recent.count() >= limits.sends_per_minute:
        oldest = recent.values_list("created_at", flat=True).first()
        wait = 60 - (timezone.now() - oldest).total_seconds()
        raise RateLimited("per_minute", retry_after=max(1, math.ceil(wait)))


class Reply(models.Model):
    """One turn: the user's message and the model's reply, with everything the relay said."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        IN_PROGRESS = "in_progress", _("Generating")
        COMPLETED = "completed", _("Completed")
        INCOMPLETE = "incomplete", _("Incomplete")
        FAILED = "failed", _("Failed")
        INTERRUPTED = "interrupted", _("Interrupted")
        CANCELLED = "cancelled", _("Stopped")

    GENERATING = (Status.QUEUED, Status.IN_PROGRESS)
    RETRYABLE = (Status.FAILED, Status.INTERRUPTED, Status.INCOMPLETE, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="replies")
    # Denormalised from the conversation so usage per user needs no join, and so a submitted
    # form's token is unique per user (a replayed POST finds the reply it already made).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="replies"
    )
    client_token = models.UUIDField(null=True, blank=True, editable=False)
    position = models.PositiveIntegerField(default=0)
    is_latest = models.BooleanField(default=True)
    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries"
    )

    user_input = models.TextField(_("message"))
    text = models.TextField(_("reply"), blank=True)
    reasoning_summary = models.TextField(_("reasoning summary"), blank=True)
    refusal = models.TextField(_("refusal"), blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.QUEUED
    )

    # What was sent: the model and parameters of the request (never the key), and the chain.
    model = models.CharField(_("model"), max_length=100)
    request_params = models.JSONField(_("parameters sent"), default=dict, blank=True)
    previous_response_id = models.CharField(max_length=200, blank=True)
    sent_full_history = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)

    # What came back.
    upstream_id = models.CharField(_("upstream response id"), max_length=200, blank=True)
    upstream_model = models.CharField(max_length=100, blank=True)
    upstream_status = models.CharField(max_length=20, blank=True)
    upstream_created_at = models.BigIntegerField(null=True, blank=True)
    output_items = models.JSONField(default=list, blank=True)
    incomplete_reason = models.CharField(max_length=100, blank=True)
    error_code = models.CharField(_("error code"), max_length=100, blank=True)
    # error_message is the plain sentence shown to the user (stored in English, translated when
    # shown); error_detail is what the relay said, for the log and reviewers, never the browser.
    error_message = models.TextField(_("error message"), blank=True)
    error_detail = models.TextField(_("error detail"), blank=True)

    # Usage, in both of the relay's naming schemes mapped onto one set of columns. Null means
    # the relay did not say; usage_estimated means we counted it ourselves (see README).
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    input_cached_tokens = models.PositiveIntegerField(null=True, blank=True)
    input_text_tokens = models.PositiveIntegerField(null=True, blank=True)
    input_audio_tokens = models.PositiveIntegerField(null=True, blank=True)
    input_image_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_text_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_audio_tokens = models.PositiveIntegerField(null=True, blank=True)
    reasoning_tokens = models.PositiveIntegerField(null=True, blank=True)
    total_tokens = models.PositiveIntegerField(null=True, blank=True)
    usage_estimated = models.BooleanField(default=False)
    usage_raw = models.JSONField(null=True, blank=True)
    # Computed when the reply is recorded, at that moment's prices (None: price not set).
    cost = models.DecimalField(_("cost"), max_digits=14, decimal_places=6, null=True, blank=True)
    cost_currency = models.CharField(max_length=3, blank=True)

    # Timings, and the heartbeat of the worker generating it (to find replies a crash left).
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    first_token_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)
    # Set by "Stop" when the reply is generated by another process; its worker sees it on its
    # next write and stops.
    stop_requested = models.BooleanField(default=False)

    objects = ReplyQuerySet.as_manager()

    class Meta:
        verbose_name = _("reply")
        verbose_name_plural = _("replies")
        ordering = ["conversation", "position", "created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(status__in=["queued", "in_progress"]),
                name="one_generating_reply_per_conversation",
            ),
            models.UniqueConstraint(
                fields=["conversation", "position"],
                condition=Q(is_latest=True),
                name="one_latest_reply_per_position",
            ),
            models.UniqueConstraint(
                fields=["user", "client_token"], name="one_reply_per_submitted_form"
            ),
        ]
        indexes = [
            models.Index(fields=["status"], name="reply_status_idx"),
            models.Index(fields=["user", "created_at"], name="reply_user_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id} #{self.position} ({self.status})"

    @property
    def is_generating(self) -> bool:
        return self.status in self.GENERATING

    @property
    def can_retry(self) -> bool:
        return self.status in self.RETRYABLE and self.is_latest

    @property
    def has_usage(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None

    def retry(self) -> "Reply":
        """A new attempt at the same message in the same place; this one stays as history.
        Checked and reserved like a send. Raises ConversationBusy, RateLimited or
        QuotaExceeded."""
        limits = QuotaPolicy.limits_for(self.user)
        try:
            with transaction.atomic():
                usage = UsageMonth.locked(self.user, month_start())
                _check_rates(self.user, limits)
                Reply.objects.filter(pk=self.pk).update(is_latest=False)
                reply = Reply.objects.create(
                    conversation=self.conversation,
                    user=self.user,
                    position=self.position,
                    user_input=self.user_input,
                    model=self.conversation.model,
                    retry_of=self,
                )
                Reservation.hold(reply, usage, limits)
                return reply
        except IntegrityError:
            raise ConversationBusy from None

    def bill(self) -> None:
        """Prices the recorded usage at today's prices and settles the reply's reservation (or
        releases it when the relay never started the reply). Safe to call twice."""
        reservation = Reservation.objects.filter(reply=self, state=Reservation.State.OPEN).first()
        if reservation is None:
            return
        if not self.has_usage:
            reservation.release()
            return
        model = AIModel.for_model_id(self.model)
        input_tokens, output_tokens = self.input_tokens or 0, self.output_tokens or 0
        cached = self.input_cached_tokens or 0
        cost = model.cost_of(input_tokens, cached, output_tokens) if model else None
        currency = model.currency if cost is not None else ""
        Reply.objects.filter(pk=self.pk).update(cost=cost, cost_currency=currency)
        group = self.user.groups.order_by("name").values_list("name", flat=True).first()
        reservation.settle(
            UsageEntry(
                reply=self,
                conversation_id=self.conversation_id,
                group_name=group or "",
                model=self.model,
                input_tokens=input_tokens,
                cached_tokens=cached,
                output_tokens=output_tokens,
                reasoning_tokens=self.reasoning_tokens or 0,
                total_tokens=self.total_tokens or input_tokens + output_tokens,
                cost=cost,
                currency=currency,
                estimated=self.usage_estimated,
                created_at=self.finished_at or timezone.now(),
            )
        )

    def is_stale(self, now=None) -> bool:
        """True when a generating reply's worker has stopped beating (a crash or a restart)."""
        if not self.is_generating:
            return False
        beat = self.heartbeat_at or self.created_at
        now = now or timezone.now()
        return now - beat > timedelta(seconds=settings.REPLY_STALE_AFTER)
