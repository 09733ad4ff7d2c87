"""Pinning, archiving and restoring (Undo of a delete) conversations, the sidebar's poll while
replies are being written, its next entries, and an entry's place for a page that learned of a
change from another tab. Each action is a plain form post that comes back to the page; htmx
requests get the one entry moved instead (conversations/sidebar.py)."""

import uuid
from urllib.parse import urlsplit

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import Resolver404, get_script_prefix, resolve
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from conversations import undo
from conversations.models import Conversation
from conversations.sidebar import (
    generating_conversation_ids,
    sidebar_changes,
    sidebar_conversations,
    sidebar_place,
    uuids_in,
    watched_ids,
)
from conversations.views.lookups import get_conversation_for_user


@login_required
@require_POST
def pin(request, conversation_id: uuid.UUID):
    conversation = get_conversation_for_user(request.user, conversation_id)
    conversation.set_pinned(True)
    return _organised(request, conversation)


@login_required
@require_POST
def unpin(request, conversation_id: uuid.UUID):
    conversation = get_conversation_for_user(request.user, conversation_id)
    conversation.set_pinned(False)
    return _organised(request, conversation)


@login_required
@require_POST
def archive(request, conversation_id: uuid.UUID):
    conversation = get_conversation_for_user(request.user, conversation_id)
    conversation.set_archived(True)
    return _organised(request, conversation, undo_action="archive")


@login_required
@require_POST
def unarchive(request, conversation_id: uuid.UUID):
    conversation = get_conversation_for_user(request.user, conversation_id)
    conversation.set_archived(False)
    return _organised(request, conversation)


@login_required
@require_POST
def restore(request, conversation_id: uuid.UUID):
    """Undo of a delete, within a short window (Conversation.restore_for_owner): the entry
    comes back where it belongs. Later, or for anyone but the owner, a 404."""
    try:
        conversation = Conversation.objects.restorable(request.user).get(pk=conversation_id)
    except Conversation.DoesNotExist:
        raise Http404 from None
    conversation.restore_for_owner()
    return _organised(request, conversation)


@login_required
@require_GET
def place(request, conversation_id: uuid.UUID):
    """The conversation's entry put where it now belongs, for a page told by another tab of
    the same browser that it was pinned, unpinned, archived, unarchived or renamed there
    (layout.js). Changes nothing; without htmx, the conversation's page."""
    conversation = get_conversation_for_user(request.user, conversation_id)
    if not request.htmx:
        return redirect(conversation)
    return _organised(request, conversation)


@login_required
@require_GET
def sidebar(request):
    """Polled by the page every few seconds, only while one of the user's replies is being
    written (`generating` names those the page shows). Unchanged: 204 and one query. Changed:
    only what changed (sidebar.sidebar_changes)."""
    watched = watched_ids(request.GET.getlist("generating"))
    generating = generating_conversation_ids(request.user)
    if request.htmx and watched == generating:
        return HttpResponse(status=204)
    open_conversation = shown_conversation(request, request.GET.get("open"))
    context = {
        "conversation": open_conversation,
        **sidebar_changes(request.user, watched, generating, open_conversation),
    }
    return TemplateResponse(request, "conversations/chat.html#sidebar-refresh", context)


@login_required
@require_GET
def sidebar_more(request):
    """The next entries of the sidebar (`after`: a cursor the page was given), asked for when
    the list is scrolled to its end; pinned ones go to the end of their group."""
    try:
        sidebar = sidebar_conversations(request.user, after=request.GET.get("after", ""))
    except ValueError:
        return HttpResponseBadRequest()
    context = {
        "sidebar": sidebar,
        "conversation": shown_conversation(request, request.GET.get("open")),
    }
    return TemplateResponse(request, "conversations/chat.html#sidebar-page", context)


def _organised(request, conversation: Conversation, undo_action: str = ""):
    """htmx: the entry taken out and put where it now belongs (the rest of the list, however
    far it was scrolled, stays), the open conversation's header when it is that one, and the
    notice with Undo (`undo_action`). A plain post goes back: to `next` when it is a page of
    this site, else to the conversation that was open, else to a new chat; the notice is
    kept for that page."""
    open_conversation = shown_conversation(request, request.POST.get("open"))
    if request.htmx:
        context = {"conversation": open_conversation, **sidebar_place(request.user, conversation)}
        if undo_action:
            context["toast"] = undo.notice(undo_action, conversation)
        return TemplateResponse(request, "conversations/chat.html#sidebar-placed", context)
    if undo_action:
        undo.keep_for_next_page(request, undo_action, conversation)
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        return redirect(next_url)
    return redirect(open_conversation or "home")


def shown_conversation(request, field: str | None) -> Conversation | None:
    """The conversation the page shows. htmx says so in the page's address (HX-Current-URL):
    after the first send of a new chat the page is that conversation's, while the sidebar's
    other entries, not re-rendered, still carry the empty `open` field of the new-chat page.
    A plain post has only the field."""
    if request.htmx and request.htmx.current_url:
        value = conversation_in_address(request.htmx.current_url)
    else:
        value = field
    ids = uuids_in([value])
    return Conversation.objects.for_user(request.user).filter(pk__in=ids).first() if ids else None


def conversation_in_address(url: str):
    """The conversation id in one of this site's addresses (under its script prefix), if any."""
    try:
        path = urlsplit(url).path
    except ValueError:  # e.g. "http://[::1/"
        return None
    prefix = get_script_prefix()
    if not path.startswith(prefix):
        return None
    try:
        match = resolve("/" + path.removeprefix(prefix))
    except Resolver404:
        return None
    return match.kwargs.get("conversation_id") if match.url_name == "conversation" else None
