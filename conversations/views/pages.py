"""Pages for reading and managing one's conversations: the chat page, settings, rename and
delete. Each works as a plain form post; htmx requests get just the part that changed."""

import uuid

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import prefetch_related_objects
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversations import live, live_channel, relay_status, undo
from conversations.attachments.intake import limits_context as attachment_limits
from conversations.forms import ConversationSettingsForm, RenameForm, SendForm, first_error
from conversations.models import Conversation, QuotaStatus, Reply
from conversations.recovery import interrupt, interrupt_if_stale
from conversations.sidebar import (
    SIDEBAR_FIRST,
    SIDEBAR_MAX,
    generating_conversation_ids,
    mark_generating,
    sidebar_conversations,
)
from conversations.views.lookups import get_conversation_for_user
from conversations.views.organise import conversation_in_address, shown_conversation


def chat_context(request, conversation: Conversation | None, form=None) -> dict:
    replies = conversation.transcript() if conversation else []
    # One query each for every reply's feedback control and files.
    prefetch_related_objects(replies, "feedback", "attachments")
    for reply in replies:
        current = live.get(reply.id)
        if current is not None:
            reply.text, reply.reasoning_summary = current.text, current.reasoning
        elif reply.is_generating and interrupt_if_stale(reply):
            reply.refresh_from_db()
    if form is None:
        form = SendForm.for_conversation(conversation)
    quota = QuotaStatus.for_user(request.user)
    return {
        "conversation": conversation,
        "replies": replies,
        "generating": any(reply.is_generating for reply in replies),
        # The reply being written, which the composer's Stop stops (its Send comes back after).
        "writing": next((reply for reply in replies if reply.is_generating), None),
        "slow_notice_seconds": settings.REPLY_SLOW_NOTICE_SECONDS,
        "attachment_limits": attachment_limits(),
        "sidebar": sidebar_conversations(
            request.user,
            limit=SIDEBAR_MAX if request.GET.get("more") else SIDEBAR_FIRST,
            through=conversation,
        ),
        "quota": quota,
        "quota_share": quota_share(quota),
        "relay_status": relay_status.current(),
        "form": form,
        "client_token": uuid.uuid4(),
        # Without JavaScript: the header's title as a box to rename it (the menu's Rename).
        "renaming": conversation is not None and "rename" in request.GET,
        "toast": undo.take(request),
    }


def quota_share(quota: QuotaStatus) -> int | None:
    """This month's used and reserved share of the tightest monthly limit, in percent (None
    when no monthly limit applies)."""
    limits = quota.limits
    if limits.unlimited:
        return None
    shares = [
        float(used) / float(limit) if limit > 0 else 1.0
        for used, limit in [
            (quota.tokens_used + quota.tokens_reserved, limits.tokens),
            (quota.cost_used + quota.cost_reserved, limits.cost),
        ]
        if limit is not None
    ]
    return min(100, round(100 * max(shares)))


@login_required
@require_GET
def home(request):
    Conversation.objects.purge_lapsed_deletes(request.user)
    return render(request, "conversations/chat.html", chat_context(request, None))


@login_required
@require_GET
def conversation_page(request, conversation_id: uuid.UUID):
    Conversation.objects.purge_lapsed_deletes(request.user)
    conversation = get_conversation_for_user(request.user, conversation_id)
    return render(request, "conversations/chat.html", chat_context(request, conversation))


@login_required
@require_POST
def conversation_settings(request, conversation_id: uuid.UUID):
    conversation = get_conversation_for_user(request.user, conversation_id)
    form = ConversationSettingsForm(request.POST)
    if not form.is_valid():
        return _refused(request, conversation, first_error(form), "#settings-status")
    form.apply_to(conversation)
    conversation.save()
    if request.htmx:
        return TemplateResponse(request, "conversations/chat.html#settings-status", {"saved": True})
    messages.success(request, _("Settings saved."))
    return redirect(conversation)


@login_required
@require_POST
def rename(request, conversation_id: uuid.UUID):
    conversation = get_conversation_for_user(request.user, conversation_id)
    form = RenameForm(request.POST)
    if not form.is_valid():
        return _refused(request, conversation, first_error(form), "#rename-status")
    conversation.title = form.cleaned_data["title"].strip() or conversation.title
    conversation.save(update_fields=["title"])
    if request.htmx:  # its sidebar entry, and the header's title when it is the one open
        mark_generating([conversation], generating_conversation_ids(request.user))
        open_conversation = shown_conversation(request, request.POST.get("open"))
        context = {"conversation": open_conversation, "item": conversation}
        return TemplateResponse(request, "conversations/chat.html#renamed", context)
    return redirect(conversation)


@login_required
@require_http_methods(["GET", "POST"])
def delete(request, conversation_id: uuid.UUID):
    conversation = get_conversation_for_user(request.user, conversation_id)
    if request.method == "POST":
        for reply in conversation.replies.generating():
            # Stop it and settle its reservation now: its task will find nothing to store.
            live_channel.get().request_stop_from_thread(reply.id)
            interrupt(reply, code="", status=Reply.Status.CANCELLED)
        conversation.delete_for_owner()
        Conversation.objects.purge_lapsed_deletes(request.user)
        shown = conversation_in_address(request.htmx.current_url or "") if request.htmx else None
        if request.htmx and shown != conversation.pk:
            # From the list, on another page: the entry goes, the page stays, and a notice
            # offers Undo.
            context = {
                "conversation": shown_conversation(request, None),
                "item": conversation,
                "toast": undo.notice("delete", conversation),
            }
            return TemplateResponse(request, "conversations/chat.html#deleted", context)
        # The page showed it: a new chat, with the notice (kept for that page).
        undo.keep_for_next_page(request, "delete", conversation)
        if request.htmx:
            response = HttpResponse()
            response["HX-Redirect"] = reverse("home")
            return response
        return redirect("home")
    context = {"conversation": conversation, "retention_days": settings.CONVERSATION_RETENTION_DAYS}
    return render(request, "conversations/confirm_delete.html", context)


def _refused(request, conversation, message: str, target: str):
    """A refused form: htmx gets the sentence in the form's status area; without JavaScript
    the page comes back with the sentence on top."""
    if request.htmx:
        response = TemplateResponse(
            request, "conversations/chat.html#error", {"error": message}, status=400
        )
        response["HX-Retarget"] = target
        response["HX-Reswap"] = "innerHTML"
        return response
    context = chat_context(request, conversation)
    context["error"] = message
    return render(request, "conversations/chat.html", context, status=400)
