"""The admin for conversations: the review workspace (conversations listed with their usage, and
each one's transcript as its owner saw it, with every detail the relay sent back).
Conversations and replies are read-only here; opening someone else's is recorded in the audit
record."""

import json

from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import connections, router
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    IntegerField,
    Max,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from conversations.admin.base import ReadOnlyAdmin
from conversations.admin.feedback import CONVERSATION_ACTIONS
from conversations.admin.search import CappedSearchCount, conversations_matching
from conversations.audit import record_access
from conversations.models import Conversation, Feedback, Reply, User
from conversations.templatetags.usage import money, tokens


def _replies_of_each_conversation():
    return Reply.objects.filter(conversation=OuterRef("pk")).order_by().values("conversation")


def _per_conversation(aggregate, output_field):
    """A correlated subquery per row: only the page's rows are computed, whatever the total
    (so these columns do not sort the list: that would compute them for every row; the
    usage dashboard lists the top conversations by cost)."""
    return Coalesce(
        Subquery(_replies_of_each_conversation().annotate(value=aggregate).values("value")),
        0,
        output_field=output_field,
    )


def _feedback_count(**condition):
    feedback = Feedback.objects.filter(reply__conversation=OuterRef("pk"), **condition)
    counted = feedback.order_by().values("reply__conversation").annotate(value=Count("pk"))
    return Coalesce(Subquery(counted.values("value")), 0, output_field=IntegerField())


def _owner_group():
    """The owner's first group by name (groups are departments). The usage ledger charges the
    group whose quota policy applies first (`charge_group`), so the two can differ."""
    memberships = User.groups.through.objects.filter(user_id=OuterRef("owner_id"))
    return Subquery(memberships.order_by("group__name").values("group__name")[:1])


class GroupFilter(admin.SimpleListFilter):
    title = _("group")
    parameter_name = "group"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in Group.objects.values_list("pk", "name")]

    def queryset(self, request, queryset):
        if not self.value():
            return queryset
        return queryset.filter(owner__groups__pk=self.value())


class ReplyStatusFilter(admin.SimpleListFilter):
    """Conversations with at least one reply in a status (e.g. failed)."""

    title = _("reply status")
    parameter_name = "reply_status"

    def lookups(self, request, model_admin):
        return Reply.Status.choices

    def queryset(self, request, queryset):
        if self.value() not in Reply.Status.values:
            return queryset
        replies = Reply.objects.filter(conversation=OuterRef("pk"), status=self.value())
        return queryset.filter(Exists(replies))


class ConversationStateFilter(admin.SimpleListFilter):
    """Where the conversation stands for its owner: in the sidebar, archived, or deleted
    (kept for reviewers until the retention purge), and whether it is under a legal hold."""

    title = _("status")
    parameter_name = "state"
    STATES = {
        "active": Q(archived=False, deleted_at__isnull=True),
        "archived": Q(archived=True, deleted_at__isnull=True),
        "deleted": Q(deleted_at__isnull=False),
        "legal_hold": Q(legal_hold=True),
    }

    def lookups(self, request, model_admin):
        return [
            ("active", _("Active")),
            ("archived", _("Archived")),
            ("deleted", _("Deleted by the owner")),
            ("legal_hold", _("Under legal hold")),
        ]

    def queryset(self, request, queryset):
        condition = self.STATES.get(self.value())
        return queryset if condition is None else queryset.filter(condition)


class FeedbackFilter(admin.SimpleListFilter):
    """Conversations by the feedback their owner gave on any reply."""

    title = _("feedback")
    parameter_name = "feedback"
    CONDITIONS = {
        "unhelpful": Q(helpful=False),
        "helpful": Q(helpful=True),
        "awaiting_review": Q(helpful=False, reviewed_at__isnull=True),
    }

    def lookups(self, request, model_admin):
        return [
            ("unhelpful", _("Not helpful")),
            ("helpful", _("Helpful")),
            ("awaiting_review", _("Not helpful, awaiting review")),
            ("none", _("No feedback")),
        ]

    def queryset(self, request, queryset):
        feedback = Feedback.objects.filter(reply__conversation=OuterRef("pk"))
        if self.value() == "none":
            return queryset.filter(~Exists(feedback))
        condition = self.CONDITIONS.get(self.value())
        if condition is None:
            return queryset
        return queryset.filter(Exists(feedback.filter(condition)))


@admin.register(Conversation)
class ConversationAdmin(CappedSearchCount, ReadOnlyAdmin):
    change_form_template = "admin/conversations/conversation/change_form.html"
    actions = CONVERSATION_ACTIONS  # exports (recorded in the audit record), legal holds
    list_display = (
        "display_title",
        "owner",
        "owner_group",
        "model",
        "reply_count",
        "token_total",
        "cost_total",
        "updated_at",
        "feedback_summary",
    )
    list_filter = (
        "owner",
        GroupFilter,
        "model",
        ConversationStateFilter,
        ReplyStatusFilter,
        ("updated_at", admin.DateFieldListFilter),
        FeedbackFilter,
    )
    # What the search box looks in (get_search_results: the replies through a subquery).
    search_fields = ("title", "owner__username", "replies__user_input", "replies__text")
    list_select_related = ("owner",)
    show_full_result_count = False
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "owner",
                    "title",
                    "model",
                    "archived",
                    "deleted_at",
                    "legal_hold",
                    "created_at",
                    "updated_at",
                )
            },
        ),
        (
            _("Settings"),
            {
                "fields": (
                    "instructions",
                    "temperature",
                    "top_p",
                    "max_output_tokens",
                    "reasoning_effort",
                    "reasoning_summary",
                    "truncation",
                    "tools",
                    "tool_choice",
                ),
                "classes": ("collapse",),
            },
        ),
    )

    # A conversation's page is for reading someone else's chat: "View on site" would open the
    # owner's own page, a 404 for anyone else.
    view_on_site = False

    def get_fieldsets(self, request, obj=None):
        """The owner links to their user page only for those who may open it (a reviewer may
        not: for them it is a name, not a link to a refusal)."""
        if request.user.has_perm("conversations.view_user"):
            return self.fieldsets
        (name, options), *others = self.fieldsets
        fields = tuple("owner_name" if field == "owner" else field for field in options["fields"])
        return ((name, {**options, "fields": fields}), *others)

    @admin.display(description=_("owner"))
    def owner_name(self, obj: Conversation) -> str:
        return obj.owner.get_username()

    def get_search_results(self, request, queryset, search_term):
        if not search_term:
            return queryset, False
        return conversations_matching(queryset, search_term), False  # each conversation once

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                group_name=_owner_group(),
                reply_total=_per_conversation(Count("pk"), IntegerField()),
                tokens_total=_per_conversation(Sum("total_tokens"), IntegerField()),
                cost_sum=Subquery(
                    _replies_of_each_conversation().annotate(value=Sum("cost")).values("value"),
                    output_field=DecimalField(max_digits=20, decimal_places=6),
                ),
                helpful_count=_feedback_count(helpful=True),
                unhelpful_count=_feedback_count(helpful=False),
                cost_currency=Subquery(
                    _replies_of_each_conversation()
                    .annotate(value=Max("cost_currency"))
                    .values("value")
                ),
            )
        )

    @admin.display(description=_("title"), ordering="title")
    def display_title(self, obj: Conversation) -> str:
        return obj.display_title

    @admin.display(description=_("group"))
    def owner_group(self, obj: Conversation) -> str:
        return obj.group_name or ""

    @admin.display(description=_("replies"))
    def reply_count(self, obj: Conversation) -> str:
        return tokens(obj.reply_total)

    @admin.display(description=_("tokens"))
    def token_total(self, obj: Conversation) -> str:
        return tokens(obj.tokens_total)

    @admin.display(description=_("cost"))
    def cost_total(self, obj: Conversation) -> str:
        if obj.cost_sum is None:
            return ""
        return f"{money(obj.cost_sum)} {obj.cost_currency or ''}".strip()

    @admin.display(description=_("feedback"))
    def feedback_summary(self, obj: Conversation) -> str:
        """How many of the conversation's replies the owner marked helpful and not helpful."""
        marks = []
        if obj.helpful_count:
            marks.append(gettext("%(count)s helpful") % {"count": obj.helpful_count})
        if obj.unhelpful_count:
            marks.append(gettext("%(count)s not helpful") % {"count": obj.unhelpful_count})
        return ", ".join(marks)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        conversation = self.get_object(request, admin.utils.unquote(object_id))
        if conversation is not None and self.has_view_permission(request, conversation):
            extra_context = {**(extra_context or {}), **transcript_context(conversation)}
        response = super().change_view(request, object_id, form_url, extra_context)
        if response.status_code == 200 and request.method == "GET" and conversation:
            record_access(request.user, conversation, "viewed")
        return response


def transcript_context(conversation: Conversation) -> dict:
    """The turns as the owner sees them, and the other versions (retries, edits, branches not
    shown), each with its details and feedback for the reviewer."""
    turns = list(
        conversation.visible_replies().select_related("feedback").prefetch_related("attachments")
    )
    shown = {reply.pk for reply in turns}
    others = list(
        conversation.replies.exclude(pk__in=shown)
        .select_related("feedback")
        .prefetch_related("attachments")
        .order_by("position", "created_at")
    )
    for reply in turns + others:
        reply.request_json = _pretty(reply.request_params)
        reply.response_json = _pretty(stored_response(reply))
        reply.first_token_seconds = _seconds(reply.started_at, reply.first_token_at)
        reply.duration_seconds = _seconds(reply.started_at, reply.finished_at)
    return {"turns": turns, "replaced": others}


def stored_response(reply: Reply) -> dict:
    """What the relay answered, as stored: its ids and status, the output items and the usage
    exactly as sent."""
    return {
        "id": reply.upstream_id,
        "model": reply.upstream_model,
        "status": reply.upstream_status,
        "created_at": reply.upstream_created_at,
        "incomplete_details": {"reason": reply.incomplete_reason}
        if reply.incomplete_reason
        else None,
        "output": reply.output_items,
        "usage": reply.usage_raw,
    }


def _seconds(start, end) -> float | None:
    return (end - start).total_seconds() if start and end else None


def _pretty(value) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def reply_models() -> list[str]:
    """The models replies name, in order: a walk down the reply table's model index, one probe
    per model, where a DISTINCT would read every reply (a third of a second for a million)."""
    connection = connections[router.db_for_read(Reply)]
    quote = connection.ops.quote_name
    table, column = quote(Reply._meta.db_table), quote(Reply._meta.get_field("model").column)
    sql = (
        f"WITH RECURSIVE models (name) AS (SELECT MIN({column}) FROM {table} "  # noqa: S608
        f"UNION ALL SELECT (SELECT MIN({column}) FROM {table} WHERE {column} > name) "
        f"FROM models WHERE name IS NOT NULL) SELECT name FROM models WHERE name IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [name for (name,) in cursor.fetchall()]


class ReplyModelFilter(admin.SimpleListFilter):
    """Replies by the model they were sent to (the same choices and URL as a plain field
    filter, found through the index)."""

    title = _("model")
    parameter_name = "model__exact"

    def lookups(self, request, model_admin):
        return [(name, name) for name in reply_models()]

    def queryset(self, request, queryset):
        return queryset if self.value() is None else queryset.filter(model=self.value())


@admin.register(Reply)
class ReplyAdmin(CappedSearchCount, ReadOnlyAdmin):
    list_display = ("conversation", "position", "status", "model", "total_tokens", "created_at")
    list_filter = ("status", ReplyModelFilter, "usage_estimated")
    search_fields = ("user_input", "text", "upstream_id")
    list_select_related = ("conversation",)
    show_full_result_count = False
    readonly_fields = [field.name for field in Reply._meta.fields]

    def get_fields(self, request, obj=None):
        """The user is a name, not a link, for those who may not open the user admin."""
        fields = super().get_fields(request, obj)
        if request.user.has_perm("conversations.view_user"):
            return fields
        return ["user_name" if field == "user" else field for field in fields]

    @admin.display(description=_("owner"))
    def user_name(self, obj: Reply) -> str:
        return obj.user.get_username()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        response = super().change_view(request, object_id, form_url, extra_context)
        reply = self.get_object(request, admin.utils.unquote(object_id))
        if response.status_code == 200 and request.method == "GET" and reply is not None:
            record_access(request.user, reply.conversation, "viewed")
        return response
