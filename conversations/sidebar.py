"""What the chat page's sidebar lists and how a page's copy of it is kept current without
re-rendering it: its pages (every pinned conversation and the newest others first, the rest
by keyset as the list is scrolled), the heading each entry is listed under (Pinned, Today,
Yesterday, ..., then by month, in the person's time zone), the conversations with a reply
being written (the page's poll watches them), and the single entries a send, the poll or a
pin/archive/rename moves or replaces. The views (pages.py, organise.py, turns.py) render these
with chat.html's partials."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from conversations.models import Conversation, Reply

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
    user,
    generating: set[uuid.UUID] | None = None,
    after: str = "",
    limit: int = SIDEBAR_FIRST,
    through: Conversation | None = None,
) -> Sidebar:
    """Pinned first, then newest first; archived ones left out. The first page: every pinned
    one and `limit` others, or, when the open conversation (`through`) comes later, every other
    down to it (up to SIDEBAR_MAX), so the page lists and marks it; a later page: `limit` from
    `after` on. Three queries, whatever the number (four when `through` is further down): the
    pinned, the others, which have a reply being written. Raises ValueError for a malformed
    `after`."""
    entries = _in_sidebar_order(user)
    if after:
        sidebar = Sidebar(entries.filter(_after(after))[: limit + 1])
    else:  # every pinned one (up to SIDEBAR_MAX), then `limit` others: pages hold others only
        pinned = list(entries.filter(pinned=True)[:SIDEBAR_MAX])
        others, limit = _others_through(entries.filter(pinned=False), limit, through)
        sidebar = Sidebar(pinned + others)
        limit += len(pinned)
    if len(sidebar) > limit:
        del sidebar[limit:]
        sidebar.more = _cursor(sidebar[-1])
    sidebar.generating = generating_conversation_ids(user) if generating is None else generating
    mark_generating(sidebar, sidebar.generating)
    return sidebar


def _others_through(others, limit: int, through: Conversation | None) -> tuple[list, int]:
    """The first page's others and how many of them to show: `limit`, or, when `through` is an
    other listed later (not beyond SIDEBAR_MAX), every one down to it. Each list holds one
    more when there are more to load. One query, two when `through` is further down."""
    first = list(others[: limit + 1])
    if (
        through is None
        or through.pinned
        or through.archived
        or len(first) <= limit
        or through.pk in {item.pk for item in first[:limit]}
    ):
        return first, limit
    longest = list(others[: SIDEBAR_MAX + 1])
    place = next((i for i, item in enumerate(longest[:SIDEBAR_MAX]) if item.pk == through.pk), None)
    if place is None:
        return first, limit
    return longest[: place + 2], place + 1


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
    mark_generating([item], generating_conversation_ids(user))
    return {"item": item, "before": following}


class HistoryGroup(NamedTuple):
    """The heading an entry is listed under: `key` names it in the page (data-group), `label`
    is what the person reads."""

    key: str
    label: str


# The groups before the months, with the most days back each one reaches.
_RECENT = [
    ("today", 0, _("Today")),
    ("yesterday", 1, _("Yesterday")),
    ("week", 7, _("Previous 7 days")),
    ("month", 30, _("Previous 30 days")),
]


def history_group(item: Conversation, today: date | None = None) -> HistoryGroup:
    """The heading `item` goes under: Pinned for a pinned one; else, by the day of its last
    activity (the sidebar's order) in the current time zone (the person's, see
    conversations/time_zone.py), Today, Yesterday, Previous 7 days, Previous 30 days, or its
    month ("November 2026", "2026年11月" in Chinese). Groups follow the order, so each one
    is a run of entries."""
    if item.pinned:
        return HistoryGroup("pinned", str(_("Pinned")))
    day = timezone.localdate(item.updated_at)
    days = ((today or timezone.localdate()) - day).days
    for key, most, label in _RECENT:
        if days <= most:
            return HistoryGroup(key, str(label))
    month = day.replace(day=1)
    return HistoryGroup(f"{month:%Y-%m}", formats.date_format(month, "YEAR_MONTH_FORMAT"))


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


def watched_ids(values) -> set[uuid.UUID]:
    """The conversations a page says it shows as being written (the first MAX_WATCHED)."""
    return uuids_in(list(values)[:MAX_WATCHED])


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
    conversation just sent to and so the open one, is one), the new list to watch, and a notice
    for each reply that ended in a conversation not open. Without such changes, no query."""
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
    mark_generating(moved, generating)
    finished = watched - generating - {getattr(open_conversation or sent, "pk", None)}
    ready = list(Conversation.objects.for_user(user).filter(pk__in=finished)) if finished else []
    return {"moved": moved, "watching": generating, "ready": ready}


def mark_generating(items, generating: set[uuid.UUID]):
    """Sets each entry's `generating` (the "being written" mark); returns `items`."""
    for item in items:
        item.generating = item.pk in generating
    return items
