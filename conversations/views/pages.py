"""Pages for reading and managing one's conversations: the chat page, settings, rename and
delete. Each works as a plain form post; htmx requests get just the part that changed."""

import uuid
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q, prefetch_related_objects
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from conversations import live, relay_status
from conversations.forms import ConversationSettingsForm, RenameForm, SendForm, first_error
from conversations.models import Conversation, QuotaStatus, Reply
from conversations.recovery import interrupt, interrupt_if_stale
from conversations.views.lookups import get_conversation_for_user


def chat_context(request, conversation: Conversation | None, form=None) -> dict:
    replies = conversation.transcript() if conversation else []
    prefetch_related_objects(replies, "feedback")  # one query for every reply's feedback control
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
        "sidebar": sidebar_conversations(
            request.user, limit=SIDEBAR_MAX if request.GET.get("more") else SIDEBAR_FIRST
        ),
        "quota": quota,
        "quota_share": quota_share(quota),
        "relay_status": relay_status.current(),
        "form": form,
        "client_token": uuid.uuid4(),
    }


# Entries a page shows at first; the next ones load as the list is scrolled to its end. A page
# asked for with ?more=1 (the "Show more" link, for browsers without JavaScript) shows up to
# SIDEBAR_MAX.
SIDEBAR_FIRST = 50
SIDEBAR_MAX = 200


class Sidebar(list):
    """The sidebar's conversations; `generating`: the ids of the user's conversations with a
    reply being written (the page watches for changes only while there are some); `more`: where
    the next entries start (a cursor for sidebar_conversations' `after`), or "" at the end."""

    generating: set[uuid.UUID]
    more: str = ""


def sidebar_conversations(
    user, generating: set[uuid.UUID] | None = None, after: str = "", limit: int = SIDEBAR_FIRST
) -> Sidebar:
    """Pinned first, then newest first; archived ones left out. The first page: every pinned
    one and `limit` others; a later one: `limit` from `after` on. Three queries at most,
    whatever the number: the pinned, the others, which have a reply being written. Raises
    ValueError for a malformed `after`."""
    entries = _in_sidebar_order(user)
    if after:
        sidebar = Sidebar(entries.filter(_after(after))[: limit + 1])
    else:  # every pinned one (up to SIDEBAR_MAX), then `limit` others: pages hold others only
        pinned = list(entries.filter(pinned=True)[:SIDEBAR_MAX])
        sidebar = Sidebar(pinned + list(entries.filter(pinned=False)[: limit + 1]))
        limit += len(pinned)
    if len(sidebar) > limit:
        del sidebar[limit:]
        sidebar.more = _cursor(sidebar[-1])
    sidebar.generating = generating_conversation_ids(user) if generating is None else generating
    for item in sidebar:
        item.generating = item.pk in sidebar.generating
    return sidebar


def _in_sidebar_order(user):
    return (
        Conversation.objects.for_user(user)
        .visible()
        .order_by("-pinned", "-updated_at", "-pk")
        .only("id", "title", "updated_at", "pinned", "archived")
    )


def sidebar_place(user, item: Conversation) -> dict:
    """Where a pinned, unpinned, archived or unarchived entry now goes: before the entry that
    follows it in its group (when that one is on the page; else it comes with a later page),
    or at the end of its group (`before` None). Two queries (none for an archived one)."""
    if item.archived:
        return {"item": item, "before": None}
    following = _in_sidebar_order(user).filter(_after(_cursor(item)), pinned=item.pinned).first()
    item.generating = item.pk in generating_conversation_ids(user)
    return {"item": item, "before": following}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _cursor(item: Conversation) -> str:
    """The entry's place in the order: pinned, last activity (in microseconds), id."""
    microseconds = (item.updated_at - _EPOCH) // timedelta(microseconds=1)
    return f"{int(item.pinned)}.{microseconds}.{item.pk}"


def _after(cursor: str) -> Q:
    """The entries after `cursor` in the sidebar's order (keyset: entries moved to the top
    meanwhile are not shown twice, none is skipped)."""
    pinned, microseconds, pk = cursor.split(".")
    if pinned not in ("0", "1"):
        raise ValueError(cursor)
    pinned = pinned == "1"
    try:
        updated_at = _EPOCH + timedelta(microseconds=int(microseconds))
    except OverflowError:
        raise ValueError(cursor) from None
    pk = uuid.UUID(pk)
    return (
        Q(pinned__lt=pinned)
        | Q(pinned=pinned, updated_at__lt=updated_at)
        | Q(pinned=pinned, updated_at=updated_at, pk__lt=pk)
    )


def generating_conversation_ids(user) -> set[uuid.UUID]:
    return set(
        Reply.objects.filter(user=user)
        .generating()
        .order_by()
        .values_list("conversation_id", flat=True)
    )


# The most conversation ids a page may say it watches (a page lists a user's own few).
MAX_WATCHED = 50


def uuids_in(values) -> set[uuid.UUID]:
    """The well-formed ids among `values` (anything else is ignored)."""
    ids = set()
    for value in values:
        try:
            ids.add(uuid.UUID(str(value)))
        except ValueError:
            pass
    return ids


def sidebar_changes(
    user, watched: set[uuid.UUID], generating: set[uuid.UUID], open_conversation=None, sent=None
) -> dict:
    """What a page's sidebar lacks, given the conversations it shows as being written
    (`watched`) and those that are (`generating`): the entries to move to the top of their
    group (a reply ended or began there, so its activity is the newest; `sent`, a
    conversation just sent to, is one), the new list to watch, and a notice for each reply
    that ended in a conversation not open. Without such changes, no query."""
    moved = []
    if sent is not None and not sent.archived:
        moved.append(sent)
    others = (watched ^ generating) - {getattr(sent, "pk", None)}
    if others:
        moved[:0] = (
            Conversation.objects.for_user(user)
            .visible()
            .filter(pk__in=others)
            .order_by("updated_at")  # each goes to the top in turn: the newest goes last
            .only("id", "title", "updated_at", "pinned", "archived")
        )
    for item in moved:
        item.generating = item.pk in generating
    finished = watched - generating - {getattr(open_conversation, "pk", None)}
    ready = list(Conversation.objects.for_user(user).filter(pk__in=finished)) if finished else []
    return {"moved": moved, "watching": generating, "ready": ready}


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
    return render(request, "conversations/chat.html", chat_context(request, None))


@login_required
@require_GET
def conversation_page(request, conversation_id: uuid.UUID):
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
    if request.htmx:  # the title in the header and in the conversation's sidebar entry
        conversation.generating = conversation.pk in generating_conversation_ids(request.user)
        context = {"conversation": conversation, "item": conversation}
        return TemplateResponse(request, "conversations/chat.html#renamed", context)
    return redirect(conversation)


@login_required
@require_http_methods(["GET", "POST"])
def delete(request, conversation_id: uuid.UUID):
    conversation = get_conversation_for_user(request.user, conversation_id)
    if request.method == "POST":
        for reply in conversation.replies.generating():
            # Stop it and settle its reservation now: its task will find nothing to store.
            if (current := live.get(reply.id)) is not None:
                current.request_stop()
            interrupt(reply, code="", status=Reply.Status.CANCELLED)
        conversation.delete_for_owner()
        messages.success(request, _("The conversation was deleted."))
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
