"""The reviewers' feedback queue (replies their owners marked not helpful; marking one reviewed
with a note is the only change allowed), and the admin's actions on conversations and users:
exports (recorded in the audit record, once per conversation) and legal holds."""

from django import forms
from django.contrib import admin, messages
from django.db.models import F
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from conversations.admin.powers import users_outranking
from conversations.audit import record_access
from conversations.exports import (
    FORMATS,
    JSONL_CONTENT_TYPE,
    conversation_json,
    conversation_markdown,
    conversation_zip,
    conversations_jsonl,
    export_filename,
)
from conversations.models import Feedback, User
from conversations.rendering import render_markdown, render_plain


class ReviewedFilter(admin.SimpleListFilter):
    title = _("review")
    parameter_name = "reviewed"

    def lookups(self, request, model_admin):
        return [("no", _("Awaiting review")), ("yes", _("Reviewed"))]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.awaiting_review()
        if self.value() == "yes":
            return queryset.filter(reviewed_at__isnull=False)
        return queryset


def titled(list_filter: type[admin.FieldListFilter], title) -> type[admin.FieldListFilter]:
    """A field's filter under another title than the field's name ("By date given", not
    "By given"; "By owner", as the column, not "By user")."""

    class Titled(list_filter):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.title = title

    return Titled


class FeedbackReviewForm(forms.ModelForm):
    """The review state is the box's, ticked only when the feedback is reviewed already: Save
    marks a feedback reviewed only when the reviewer ticks it."""

    reviewed = forms.BooleanField(label=_("Reviewed"), required=False)

    class Meta:
        model = Feedback
        fields = ["review_note"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reviewed"].initial = self.instance.is_reviewed


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    """The queue: unhelpful feedback, waiting for review first, oldest first."""

    form = FeedbackReviewForm
    list_display = (
        "conversation_title",
        "owner",
        "reply_model",
        "comment_excerpt",
        "created_at",
        "is_reviewed",
        "reviewed_by",
    )
    list_filter = (
        ReviewedFilter,
        ("created_at", titled(admin.DateFieldListFilter, _("date given"))),
        "reply__model",
        ("reply__user", titled(admin.RelatedOnlyFieldListFilter, _("owner"))),
    )
    search_fields = (
        "comment",
        "review_note",
        "reply__conversation__title",
        "reply__user__username",
    )
    list_select_related = ("reply__conversation", "reply__user", "reviewed_by")
    ordering = (F("reviewed_at").asc(nulls_first=True), "created_at")
    show_full_result_count = False
    readonly_fields = (
        "conversation_link",
        "owner",
        "reply_model",
        "created_at",
        "message",
        "reply_text",
        "comment",
        "reviewed_on",
        "reviewed_by",
    )
    fieldsets = (
        (None, {"fields": ("conversation_link", "owner", "reply_model", "created_at")}),
        (_("Reply and comment"), {"fields": ("message", "reply_text", "comment")}),
        (_("Review"), {"fields": ("reviewed", "review_note", "reviewed_on", "reviewed_by")}),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).unhelpful()

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_fieldsets(self, request, obj=None):
        """Who may only view it reads the review state from "Reviewed on" (the box is a form
        field, which a read-only page cannot show)."""
        if self.has_change_permission(request, obj):
            return self.fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f != "reviewed"]})
            for name, options in self.fieldsets
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The page shows the owner's message and the reply: reading them is a review."""
        feedback = self.get_object(request, admin.utils.unquote(object_id))
        if feedback is not None and self.has_change_permission(request, feedback):
            extra_context = {"title": gettext("Review feedback"), **(extra_context or {})}
        response = super().change_view(request, object_id, form_url, extra_context)
        if response.status_code == 200 and request.method == "GET" and feedback is not None:
            record_access(request.user, feedback.reply.conversation, "viewed")
        return response

    def save_model(self, request, obj: Feedback, form, change) -> None:
        """Ticking marks it reviewed by whoever saves; a reviewed one that stays ticked keeps
        its reviewer and date (only its note may change); unticking sends it back."""
        note = form.cleaned_data["review_note"]
        if not form.cleaned_data["reviewed"]:
            obj.reopen(note)
        elif "reviewed" in form.changed_data:
            obj.mark_reviewed(request.user, note)
        elif "review_note" in form.changed_data:
            obj.review_note = note.strip()
            obj.save(update_fields=["review_note"])

    @admin.display(description=_("conversation"), ordering="reply__conversation__title")
    def conversation_title(self, obj: Feedback) -> str:
        return obj.reply.conversation.display_title

    @admin.display(description=_("conversation"))
    def conversation_link(self, obj: Feedback):
        """To the reply's turn in the conversation's review transcript."""
        url = reverse("admin:conversations_conversation_change", args=[obj.reply.conversation_id])
        return format_html(
            '<a href="{}#review-turn-{}">{}</a>',
            url,
            obj.reply_id,
            obj.reply.conversation.display_title,
        )

    @admin.display(description=_("owner"), ordering="reply__user__username")
    def owner(self, obj: Feedback) -> str:
        return obj.reply.user.get_username()

    # Not `model`: that name is ModelAdmin.model (the Feedback class), which a list_display or
    # readonly_fields entry would find first.
    @admin.display(description=_("model"), ordering="reply__model")
    def reply_model(self, obj: Feedback) -> str:
        return obj.reply.model

    @admin.display(description=_("comment"))
    def comment_excerpt(self, obj: Feedback) -> str:
        return Truncator(obj.comment).chars(80)

    @admin.display(description=_("reviewed"), boolean=True, ordering="reviewed_at")
    def is_reviewed(self, obj: Feedback) -> bool:
        return obj.is_reviewed

    @admin.display(description=_("reviewed on"), ordering="reviewed_at")
    def reviewed_on(self, obj: Feedback) -> str:
        if obj.reviewed_at is None:
            return self.get_empty_value_display()
        return date_format(timezone.localtime(obj.reviewed_at), "DATETIME_FORMAT")

    # Both in the review transcript's classes (static/css/admin.css), so they read the same.
    @admin.display(description=_("message"))
    def message(self, obj: Feedback):
        return format_html(
            '<div class="review-user-text">{}</div>', render_plain(obj.reply.user_input)
        )

    @admin.display(description=_("reply"))
    def reply_text(self, obj: Feedback):
        text = render_markdown(obj.reply.text or obj.reply.refusal)
        return format_html('<div class="review-reply-body markdown">{}</div>', text)


# --- Actions on conversations and users (listed in their admins' `actions`) -----------------


def _download(body, content_type: str, filename: str) -> HttpResponse:
    response_class = StreamingHttpResponse if content_type == JSONL_CONTENT_TYPE else HttpResponse
    return response_class(
        body,
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _exported_one(modeladmin, request, queryset):
    """The one conversation selected, its export recorded in the audit record; None (and a
    warning) when the selection is not one."""
    if queryset.count() != 1:
        modeladmin.message_user(
            request,
            gettext("Select one conversation to export it; use JSON lines for several."),
            messages.WARNING,
        )
        return None
    conversation = queryset.select_related("owner").get()
    record_access(request.user, conversation, "exported")
    return conversation


def _export_one(modeladmin, request, queryset, extension: str, render):
    conversation = _exported_one(modeladmin, request, queryset)
    if conversation is None:
        return None
    return _download(
        render(conversation), FORMATS[extension], export_filename(conversation, extension)
    )


@admin.action(description=_("Export as Markdown"), permissions=["view"])
def export_markdown(modeladmin, request, queryset):
    return _export_one(modeladmin, request, queryset, "md", conversation_markdown)


@admin.action(description=_("Export as JSON"), permissions=["view"])
def export_json(modeladmin, request, queryset):
    return _export_one(modeladmin, request, queryset, "json", conversation_json)


@admin.action(description=_("Export with files (.zip)"), permissions=["view"])
def export_zip(modeladmin, request, queryset):
    """The JSON export with the conversation's files (recorded in the audit record)."""
    conversation = _exported_one(modeladmin, request, queryset)
    if conversation is None:
        return None
    return FileResponse(
        conversation_zip(conversation),
        as_attachment=True,
        filename=export_filename(conversation, "zip"),
        content_type="application/zip",
    )


@admin.action(
    description=_("Export as JSON lines (one conversation per line)"), permissions=["view"]
)
def export_jsonl(modeladmin, request, queryset):
    conversations = list(queryset.select_related("owner").order_by("created_at"))
    for conversation in conversations:
        record_access(request.user, conversation, "exported")
    return _download(conversations_jsonl(conversations), JSONL_CONTENT_TYPE, "conversations.jsonl")


def _set_hold(modeladmin, request, queryset, hold: bool) -> None:
    """Only for those allowed to change the objects (superusers, or a granted permission);
    a user's hold, only for those who may change that user (never one who outranks them)."""
    meta = queryset.model._meta
    if not request.user.has_perm(f"{meta.app_label}.change_{meta.model_name}"):
        modeladmin.message_user(
            request, gettext("You are not allowed to change legal holds."), messages.ERROR
        )
        return
    if queryset.model is User and queryset.filter(pk__in=users_outranking(request.user)).exists():
        modeladmin.message_user(
            request,
            gettext(
                "Nothing was changed: only a superuser may change the legal hold of a "
                "superuser or of someone with permissions you do not have."
            ),
            messages.ERROR,
        )
        return
    count = queryset.update(legal_hold=hold)
    if hold:
        text = gettext("Placed under legal hold: %(count)d.")
    else:
        text = gettext("Legal hold lifted: %(count)d.")
    modeladmin.message_user(request, text % {"count": count}, messages.SUCCESS)


@admin.action(description=_("Place under legal hold (kept through every purge)"))
def place_legal_hold(modeladmin, request, queryset):
    _set_hold(modeladmin, request, queryset, True)


@admin.action(description=_("Lift the legal hold"))
def lift_legal_hold(modeladmin, request, queryset):
    _set_hold(modeladmin, request, queryset, False)


CONVERSATION_ACTIONS = [
    export_markdown,
    export_json,
    export_zip,
    export_jsonl,
    place_legal_hold,
    lift_legal_hold,
]
USER_ACTIONS = [place_legal_hold, lift_legal_hold]
