"""Users, conversations and the replies (responses) generated in them, with the rules that
keep them consistent: one reply generating per conversation, one message per submitted form."""

import math
import uuid
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import IntegrityError, connections, models, router, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext_lazy as _

from conversations.models.usage import (
    AIModel,
    Limits,
    QuotaPolicy,
    RateLimited,
    Reservation,
    UsageEntry,
    UsageMonth,
    charge_group,
    month_start,
)


class User(AbstractUser):
    """The site's user. Custom from the first migration so fields can be added later."""

    # Everything this user owns is kept through retention purges while the hold is on.
    legal_hold = models.BooleanField(_("legal hold"), default=False)

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"


class ConversationBusy(Exception):
    """A reply is already being generated in this conversation."""


# How long after its owner deletes a conversation Undo brings it back (the notice offers it
# for a few seconds; another tab, or a page without JavaScript, may be slower). Until then it
# is only marked deleted, whatever KEEP_DELETED_CONVERSATIONS says.
UNDO_WINDOW = timedelta(minutes=2)


class ConversationQuerySet(models.QuerySet):
    def for_user(self, user):
        """The owner's conversations; deleted ones are gone for them at once."""
        return self.filter(owner=user, deleted_at__isnull=True)

    def restorable(self, user):
        """The owner's conversations deleted so recently that Undo may still bring them back."""
        return self.filter(owner=user, deleted_at__gte=timezone.now() - UNDO_WINDOW)

    def due_for_purge(self, cutoff=None, deleted_too: bool = False):
        """Past retention: last activity before `cutoff` (deleted or not), and with
        `deleted_too` every conversation its owner deleted longer ago than Undo allows.
        Holds are not looked at here."""
        due = Q(updated_at__lt=cutoff) if cutoff is not None else Q(pk__in=[])
        if deleted_too:
            due |= Q(deleted_at__lt=timezone.now() - UNDO_WINDOW)
        return self.filter(due)

    def purge_lapsed_deletes(self, user) -> None:
        """With KEEP_DELETED_CONVERSATIONS off: removes for good what `user` deleted longer
        ago than Undo allows (holds and replies being written excepted, as in every purge).
        Called when the owner deletes or opens the chat; purge_conversations does the rest."""
        if not settings.KEEP_DELETED_CONVERSATIONS:
            self.purgeable(deleted_too=True).filter(owner=user).delete()

    def under_hold(self):
        return self.filter(Q(legal_hold=True) | Q(owner__legal_hold=True))

    def purgeable(self, cutoff=None, deleted_too: bool = False):
        """What a retention purge removes: what is due, never anything under a legal hold (the
        conversation's or its owner's), never one whose reply is still being written."""
        return (
            self.due_for_purge(cutoff, deleted_too)
            .filter(legal_hold=False, owner__legal_hold=False)
            .exclude(replies__status__in=Reply.GENERATING)
        )

    def visible(self):
        return self.filter(archived=False)


class Conversation(models.Model):
    class ReasoningEffort(models.TextChoices):
        DEFAULT = "", _("Model default")
        LOW = "low", _("Low")
        MEDIUM = "medium", _("Medium")
        HIGH = "high", _("High")

    class WebSearch(models.TextChoices):
        AUTO = "auto", _("Automatic")
        ALWAYS = "always", _("Always")
        OFF = "off", _("Off")

    class Truncation(models.TextChoices):
        DISABLED = "disabled", _("Off: fail when the conversation is too long")
        AUTO = "auto", _("Auto: drop the oldest turns when too long")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        related_name="conversations",
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
    # Whether the model may search the web (only where its catalogue entry allows it).
    web_search = models.CharField(
        _("web search"), max_length=6, choices=WebSearch.choices, default=WebSearch.AUTO
    )
    # Stored, never sent: a turn's tools are the hosted ones its model's catalogue entry allows
    # (generation.hosted_tools), and the site runs no code for a model. Shown in the admin for
    # conversations that stored some before that rule.
    tools = models.JSONField(_("tools"), default=list, blank=True)
    tool_choice = models.JSONField(_("tool choice"), null=True, blank=True)
    archived = models.BooleanField(_("archived"), default=False)
    pinned = models.BooleanField(_("pinned"), default=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("last activity"), default=timezone.now)
    # Deleted by its owner: gone from their pages, kept for reviewers until the retention purge
    # (KEEP_DELETED_CONVERSATIONS). A legal hold keeps it through every purge.
    deleted_at = models.DateTimeField(_("deleted"), null=True, blank=True)
    legal_hold = models.BooleanField(_("legal hold"), default=False)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        verbose_name = _("conversation")
        verbose_name_plural = _("conversations")
        ordering = ["-updated_at"]
        indexes = [
            models.Index(fields=["owner", "archived", "-updated_at"], name="conv_owner_recent_idx"),
            # The admin's list, newest first (its search walks it for common words).
            models.Index(fields=["-updated_at", "-id"], name="conv_recent_idx"),
            # Search (views/search.py): a person's conversations newest first, archived or not.
            models.Index(fields=["owner", "-updated_at"], name="conv_owner_updated_idx"),
            # The sidebar: pinned first, then newest first.
            models.Index(
                fields=["owner", "archived", "-pinned", "-updated_at"],
                name="conv_owner_sidebar_idx",
            ),
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

    @property
    def on_hold(self) -> bool:
        return self.legal_hold or self.owner.legal_hold

    @property
    def kept_after_delete(self) -> bool:
        return settings.KEEP_DELETED_CONVERSATIONS or self.on_hold

    def delete_for_owner(self) -> None:
        """The owner's delete: it disappears for them at once, and Undo (restore_for_owner)
        can bring it back for UNDO_WINDOW. It stays for reviewers until the retention purge
        when KEEP_DELETED_CONVERSATIONS is on (or under a legal hold), else it is removed once
        the window has passed (purge_lapsed_deletes, purge_conversations)."""
        self.deleted_at = timezone.now()
        self.save(update_fields=["deleted_at"])

    def restore_for_owner(self) -> None:
        """Undo of the owner's delete (within UNDO_WINDOW: see ConversationQuerySet.restorable)."""
        self.deleted_at = None
        self.save(update_fields=["deleted_at"])

    def title_from_message(self, message: str) -> str:
        """A short title from the first message: its first line, cut at a word near 60 chars."""
        first_line = " ".join(message.strip().split())[:80]
        if len(first_line) > 60:
            cut = first_line.rfind(" ", 30, 60)
            first_line = first_line[: cut if cut > 0 else 60].rstrip() + "…"
        return first_line

    def add_turn(self, user_input: str, client_token=None) -> "Reply":
        """Stores the user's message as a new queued turn (before any call to the relay),
        after the last turn shown; saves the conversation first when it is new. The turn it
        follows comes loaded with what the request and the reservation read of it."""
        if not self.title:
            self.title = self.title_from_message(user_input)
        self.updated_at = timezone.now()
        if self._state.adding:
            self.save()
            last = None
        else:
            path = self.visible_path(*Reply.CONTEXT_FIELDS)
            last = path[-1] if path else None
            self.save(update_fields=["title", "updated_at", *SETTINGS_FIELDS])
        return Reply.objects.create(
            conversation=self,
            user=self.owner,
            client_token=client_token,
            parent=last,
            position=0 if last is None else last.position + 1,
            user_input=user_input,
            model=self.model,
        )

    def set_pinned(self, pinned: bool) -> None:
        self.pinned = pinned
        self.save(update_fields=["pinned"])

    def set_archived(self, archived: bool) -> None:
        """Archived conversations leave the sidebar (search still finds them); archiving also
        unpins, so an unarchived conversation comes back among the others."""
        self.archived = archived
        self.pinned = self.pinned and not archived
        self.save(update_fields=["archived", "pinned"])

    def visible_path(self, *only: str) -> list["Reply"]:
        """The transcript as the owner sees it: from the first turn, the selected version of
        each turn's follow-ups, in order (one query; other branches are left out). `only`
        limits the fields loaded."""
        replies = self.replies.filter(selected=True)
        if only:
            replies = replies.only("id", "parent_id", *only)
        selected = {reply.parent_id: reply for reply in replies}
        path: list[Reply] = []
        node = selected.get(None)
        while node is not None:
            path.append(node)
            node = selected.get(node.pk)
        return path

    def visible_replies(self):
        """The turns shown, as a queryset in order."""
        shown = [reply.pk for reply in self.visible_path("id")]
        return self.replies.filter(pk__in=shown).order_by("position")

    def transcript(self) -> list["Reply"]:
        """The turns shown, each told its place among its versions (for the "2 / 3" arrows):
        version_number, version_count, previous_version_id, next_version_id."""
        path = self.visible_path()
        parents = [reply.parent_id for reply in path if reply.parent_id is not None]
        versions: dict = {}
        siblings = (
            self.replies.filter(Q(parent__isnull=True) | Q(parent_id__in=parents))
            .order_by("created_at", "pk")
            .values_list("parent_id", "pk")
        )
        for parent_id, pk in siblings:
            versions.setdefault(parent_id, []).append(pk)
        for reply in path:
            ids = versions.get(reply.parent_id, [reply.pk])
            index = ids.index(reply.pk)
            reply.version_number, reply.version_count = index + 1, len(ids)
            reply.previous_version_id = ids[index - 1] if index > 0 else None
            reply.next_version_id = ids[index + 1] if index + 1 < len(ids) else None
        return path


# The settings an administrator can hide from everyone (SHOW_ADVANCED_SETTINGS).
ADVANCED_SETTINGS_FIELDS = (
    "temperature",
    "top_p",
    "max_output_tokens",
    "reasoning_effort",
    "reasoning_summary",
    "truncation",
)
SETTINGS_FIELDS = ("model", "instructions", "web_search", *ADVANCED_SETTINGS_FIELDS)


class ReplyQuerySet(models.QuerySet):
    def generating(self):
        return self.filter(status__in=Reply.GENERATING)

    def save_progress(self, writes: list[tuple[uuid.UUID, dict]]) -> list[uuid.UUID]:
        """Writes the progress of many generating replies, [(id, {field: value})], in a few
        statements whatever their number: one read of who was asked to stop, then one
        executemany per set of fields (an UPDATE per reply was a tenth of the server's work
        with 200 replies streaming). Call in a transaction. Returns the ids asked to stop, or
        gone, whose fields were not written."""
        ids = [reply_id for reply_id, _ in writes]
        going = set(self.filter(pk__in=ids, stop_requested=False).values_list("pk", flat=True))
        by_fields: dict[tuple, list] = {}
        for reply_id, fields in writes:
            if reply_id in going:
                by_fields.setdefault(tuple(fields), []).append((reply_id, fields))
        connection = connections[router.db_for_write(Reply)]
        quote, meta = connection.ops.quote_name, Reply._meta
        with connection.cursor() as cursor:
            for names, rows in by_fields.items():
                columns = [meta.get_field(name) for name in names]
                assignments = ", ".join(f"{quote(field.column)} = %s" for field in columns)
                # Only names from the model's metadata are in the SQL; values are parameters.
                sql = (
                    f"UPDATE {quote(meta.db_table)} SET {assignments} "  # noqa: S608
                    f"WHERE {quote(meta.pk.column)} = %s AND {quote('stop_requested')} = %s"
                )
                params = []
                for reply_id, fields in rows:
                    values = [col.get_db_prep_save(fields[col.name], connection) for col in columns]
                    params.append([*values, meta.pk.get_db_prep_value(reply_id, connection), False])
                cursor.executemany(sql, params)
        return [reply_id for reply_id in ids if reply_id not in going]

    def submit(self, owner, conversation: Conversation, user_input: str, client_token, attach=None):
        """Adds a turn unless this form was submitted before. Returns (reply, created).
        In one transaction: the per-user limits are checked, `attach(reply)` stores the turn's
        files (under the person's lock, so their storage allowance is checked there), and the
        reply's worst case, files included, is reserved against the monthly quota. Raises
        ConversationBusy (a reply is generating in the conversation), RateLimited or
        QuotaExceeded, or what `attach` raises."""
        if self.filter(user=owner, client_token=client_token).exists():  # (cheaper than .first())
            return self.get(user=owner, client_token=client_token), False
        limits = QuotaPolicy.limits_for(owner)
        try:
            with transaction.atomic():
                usage = UsageMonth.locked(owner, month_start())
                _check_rates(owner, limits)
                reply = conversation.add_turn(user_input, client_token)
                if attach is not None:
                    attach(reply)
                Reservation.hold(reply, usage, limits)
                return reply, True
        except IntegrityError:
            existing = self.filter(user=owner, client_token=client_token).first()
            if existing is not None:
                return existing, False
            raise ConversationBusy from None

    def submit_version(self, original: "Reply", user_input: str, client_token, retry_of=None):
        """A new version of `original` unless this form was submitted before (a double click,
        a replayed POST). Returns (reply, created); raises like Reply.new_version."""
        existing = self.filter(user=original.user_id, client_token=client_token).first()
        if existing is not None:
            return existing, False
        try:
            return original.new_version(user_input, client_token, retry_of), True
        except ConversationBusy:
            existing = self.filter(user=original.user_id, client_token=client_token).first()
            if existing is not None:
                return existing, False
            raise


def _check_rates(owner, limits: Limits) -> None:
    """Replies generating at once and sends in the last minute, counted under the user's lock
    (in one query: it runs on every send)."""
    now = timezone.now()
    since = now - timedelta(seconds=60)
    # The rows themselves, counted here: a handful (refused sends make none), and a plain
    # query costs Django less to build than an aggregate with FILTER clauses.
    rows = Reply.objects.filter(
        Q(status__in=Reply.GENERATING) | Q(created_at__gte=since), user=owner
    ).values_list("status", "created_at")
    generating = sum(status in Reply.GENERATING for status, _ in rows)
    recent = sorted(created for _, created in rows if created >= since)
    if generating >= limits.max_concurrent:
        raise RateLimited("concurrent", retry_after=5)
    if len(recent) >= limits.sends_per_minute:
        wait = 60 - (now - recent[0]).total_seconds()
        raise RateLimited("per_minute", retry_after=max(1, math.ceil(wait)))


class OutputLimit(models.TextChoices):
    """The length limit that applied to a reply: the conversation's max output tokens, what the
    monthly quota left room for (or held for one reply), or, with neither, the model's own."""

    CONVERSATION = "conversation", _("The conversation's settings")
    QUOTA = "quota", _("The monthly quota")
    MODEL = "model", _("The model's own limit")


# The sentences a reply cut short by its length limit ends with, by the limit that applied.
LENGTH_LIMIT_NOTES = {
    OutputLimit.CONVERSATION: _(
        "The reply reached the length limit set in this conversation's settings "
        "(%(tokens)s tokens)."
    ),
    OutputLimit.QUOTA: _(
        "The reply reached the length your monthly quota left room for (%(tokens)s tokens)."
    ),
    OutputLimit.MODEL: _("The reply reached the longest reply this model can write."),
}


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
    # What the next turn's request (previous_response_id) and reservation (its usage) read of
    # the turn it follows.
    CONTEXT_FIELDS = ("position", "status", "upstream_id", "input_tokens", "output_tokens")
    RETRYABLE = (Status.FAILED, Status.INTERRUPTED, Status.INCOMPLETE, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="replies")
    # Denormalised from the conversation so usage per user needs no join, and so a submitted
    # form's token is unique per user (a replayed POST finds the reply it already made).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="replies"
    )
    client_token = models.UUIDField(null=True, blank=True, editable=False)
    # Turns form a tree: each follows its parent (None: the first turn); versions of a turn
    # (retries, regenerations, edits) are siblings, one of them selected (the one shown), so
    # the transcript is the selected path and a branch left behind comes back when selected.
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="follow_ups"
    )
    selected = models.BooleanField(_("version shown"), default=True)
    position = models.PositiveIntegerField(default=0)  # turns before this one on its path
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
    # The url_citation annotations of the reply's text, as they came ({url, title, start_index,
    # end_index}); kept for a partial reply as far as they came.
    citations = models.JSONField(_("citations"), default=list, blank=True)
    incomplete_reason = models.CharField(max_length=100, blank=True)
    # Where the max_output_tokens sent came from (empty for replies from before it was kept), so
    # a reply cut short by the length limit can say which limit applied.
    output_limit = models.CharField(
        _("length limit"), max_length=12, choices=OutputLimit.choices, blank=True
    )
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
                fields=["conversation", "parent"],
                condition=Q(selected=True, parent__isnull=False),
                name="one_selected_version_per_turn",
            ),
            models.UniqueConstraint(
                fields=["conversation"],
                condition=Q(selected=True, parent__isnull=True),
                name="one_selected_first_turn",
            ),
            models.UniqueConstraint(
                fields=["user", "client_token"], name="one_reply_per_submitted_form"
            ),
        ]
        indexes = [
            models.Index(fields=["status"], name="reply_status_idx"),
            models.Index(fields=["user", "created_at"], name="reply_user_created_idx"),
            # The admin's filter of replies by model lists the models from it.
            models.Index(fields=["model"], name="reply_model_idx"),
            # The versions left behind, where search starts finding the turns not shown.
            models.Index(
                fields=["user"], condition=Q(selected=False), name="reply_user_unselected_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.conversation_id} #{self.position} ({self.status})"

    @property
    def is_generating(self) -> bool:
        return self.status in self.GENERATING

    @property
    def length_limit_note(self) -> str:
        """For a reply cut short by its length limit, the sentence that names the limit that
        applied (translated); empty otherwise, or when it is not known (older replies)."""
        if self.error_code != "max_output_tokens" or self.output_limit not in LENGTH_LIMIT_NOTES:
            return ""
        tokens = self.request_params.get("max_output_tokens")
        if self.output_limit != OutputLimit.MODEL and not isinstance(tokens, int):
            return ""
        return str(LENGTH_LIMIT_NOTES[self.output_limit]) % {
            "tokens": number_format(tokens, force_grouping=True)
        }

    @property
    def can_retry(self) -> bool:
        return self.status in self.RETRYABLE and self.selected

    def as_ended(self) -> "Reply":
        """This reply as built in memory by the task that has just stored its end, ready to be
        rendered without a query: it has no feedback yet, and it is the version shown (no
        other version can be shown while one generates; `selected` defaults to True)."""
        Reply.feedback.related.set_cached_value(self, None)
        return self

    @property
    def used_unknown_tool(self) -> bool:
        """The relay's output holds an item of a type this site does not show (said in one
        plain line under the reply, never dropped silently)."""
        from conversations.upstream import KNOWN_ITEM_TYPES

        return any(
            isinstance(item, dict) and str(item.get("type") or "message") not in KNOWN_ITEM_TYPES
            for item in self.output_items or []
        )

    @property
    def made_images(self) -> bool:
        return any(
            isinstance(item, dict) and item.get("type") == "image_generation_call"
            for item in self.output_items or []
        )

    def uploaded_files(self) -> list:
        """The files the person attached to this turn (not the images a tool made in the
        reply), from the page's prefetch when there is one."""
        from conversations.models.attachments import Attachment

        uploaded = Attachment.Origin.UPLOADED
        return [file for file in self.attachments.all() if file.origin == uploaded]

    def generated_images(self):
        """The images a hosted tool made in this reply, as stored (no query when it made none,
        or when the task that stored them handed them over: `images_in_hand`)."""
        in_hand = getattr(self, "images_in_hand", None)
        if in_hand is not None:
            return in_hand
        if not self.made_images:
            return []
        from conversations.models.attachments import Attachment

        generated = Attachment.Origin.GENERATED
        return [file for file in self.attachments.all() if file.origin == generated]

    @property
    def has_usage(self) -> bool:
        return self.input_tokens is not None or self.output_tokens is not None

    @property
    def billed_tokens(self) -> tuple[int, int, int]:
        """(input, cached input, output) tokens as they are priced and charged."""
        return self.input_tokens or 0, self.input_cached_tokens or 0, self.output_tokens or 0

    @property
    def reservation_in_hand(self) -> "Reservation | None":
        """The reservation made with this reply when this object holds it (the reply just
        submitted), else None: never a query."""
        return Reply.reservation.related.get_cached_value(self, None)

    def versions(self):
        """This turn's versions (itself included), oldest first."""
        return Reply.objects.filter(
            conversation_id=self.conversation_id, parent_id=self.parent_id
        ).order_by("created_at", "pk")

    def retry(self) -> "Reply":
        """A new attempt at the same message in the same place; this one stays as history."""
        return self.new_version(self.user_input, retry_of=self)

    def new_version(self, user_input: str, client_token=None, retry_of=None) -> "Reply":
        """A new version of this turn (same place in the conversation, same context), shown
        from now on; the turns that followed this one stay on their branch. Checked and
        reserved like a send, in one transaction. Raises ConversationBusy (a reply is being
        generated in the conversation), RateLimited or QuotaExceeded. The new version
        carries copies of this turn's files."""
        limits = QuotaPolicy.limits_for(self.user)
        try:
            with transaction.atomic():
                usage = UsageMonth.locked(self.user, month_start())
                _check_rates(self.user, limits)
                reply = Reply.objects.create(
                    conversation=self.conversation,
                    user=self.user,
                    client_token=client_token,
                    parent_id=self.parent_id,
                    position=self.position,
                    selected=False,
                    user_input=user_input,
                    model=self.conversation.model,
                    retry_of=retry_of,
                )
                reply.show()
                Conversation.objects.filter(pk=self.conversation_id).update(
                    updated_at=timezone.now()
                )
                copy_attachments(self, reply)
                Reservation.hold(reply, usage, limits)
                return reply
        except IntegrityError:
            raise ConversationBusy from None

    @transaction.atomic
    def show(self) -> None:
        """Selects this version, and its ancestors, so the transcript passes through it."""
        shown = {reply.pk for reply in self.conversation.visible_path("id")}
        node: Reply | None = self
        while node is not None and node.pk not in shown:
            node.versions().exclude(pk=node.pk).update(selected=False)
            Reply.objects.filter(pk=node.pk).update(selected=True)
            node.selected = True
            node = node.parent

    def select(self) -> None:
        """Shows this version instead of the one shown (with the turns that followed it).
        Raises ConversationBusy while a reply is being generated in the conversation."""
        with transaction.atomic():
            # The owner's lock, as a send takes it: no turn is added while the path changes.
            UsageMonth.locked(self.user, month_start())
            if Reply.objects.filter(conversation_id=self.conversation_id).generating().exists():
                raise ConversationBusy
            self.show()

    def price(self) -> tuple[Decimal | None, str]:
        """(cost, currency) of the recorded usage at today's prices (the catalogue as this
        process read it, at most MODEL_CATALOGUE_TTL seconds ago); (None, "") without a price."""
        model = AIModel.cached(self.model)
        cost = model.cost_of(*self.billed_tokens) if model else None
        return cost, (model.currency if cost is not None else "")

    def bill(self, reservation: "Reservation | None" = None) -> None:
        """Stores the price of the recorded usage (unless this object already holds the price
        that was stored with it) and settles the reply's reservation (or releases it when the
        relay never started the reply). `reservation`: the one held at send, when the caller
        has it in hand (else it is read). Safe to call twice: a reservation closes once."""
        if reservation is None:
            reservation = Reservation.objects.filter(
                reply=self, state=Reservation.State.OPEN
            ).first()
            if reservation is None:
                return
        if not self.has_usage:
            reservation.release()
            return
        cost, currency = self.price()
        if (cost, currency) != (self.cost, self.cost_currency):
            Reply.objects.filter(pk=self.pk).update(cost=cost, cost_currency=currency)
            self.cost, self.cost_currency = cost, currency
        input_tokens, cached, output_tokens = self.billed_tokens
        reservation.settle(
            UsageEntry(
                reply=self,
                conversation_id=self.conversation_id,
                # (by id: a reply built from a finished task has no user loaded; with the
                # limits the reservation was held under when it was made in this process)
                group_name=charge_group(User(pk=self.user_id), reservation.limits),
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


def copy_attachments(original: Reply, reply: Reply) -> None:
    """A new version of a turn carries the files of the turn it replaces (copies of them)."""
    from conversations.attachments.store import copy_to

    copy_to(original, reply)
