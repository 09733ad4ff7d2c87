"""Searching one's own conversations: titles, messages and replies, case-insensitive, one
result per conversation with its number of matches and each match marked in short snippets of
plain text (a reply's markdown stripped). Only what the owner sees is searched: the versions of
each turn that are shown, never a branch left behind; deleted conversations are gone, archived
ones are found (and labelled). Three queries whatever the history's size, on SQLite and
PostgreSQL alike; on PostgreSQL the trigram indexes serve queries of three characters or more
(shorter ones read the person's own turns, so cost what their history does).

Two pages share the rules: /search/ (the full results, and the no-JavaScript way) and
/search/live/ (a fragment: the sidebar's results while the person types)."""

import re
from dataclasses import dataclass, field

from django.contrib.auth.decorators import login_required
from django.db import connections, router
from django.db.models import (
    Case,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import RowNumber
from django.shortcuts import render
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from conversations.models import Conversation, Reply
from conversations.plaintext import plain_text

MAX_QUERY_CHARS = 200
MAX_CONVERSATIONS = 30
SNIPPETS_PER_CONVERSATION = 3
# The sidebar's results while typing: fewer, with the first matching turn's snippet each.
LIVE_CONVERSATIONS = 20
LIVE_SNIPPETS = 1
# A query found in at least this many of the person's turns is searched conversation by
# conversation, newest first (matching_conversations).
COMMON_MATCHES = 2000
# Characters of context shown before a match (and twice as many after it).
SNIPPET_RADIUS = 60


@dataclass
class Snippet:
    is_reply: bool  # else the user's message
    html: SafeString
    url: str


@dataclass
class Result:
    conversation: Conversation
    title_html: SafeString
    title_matches: bool
    matches: int = 0  # the title (when it matches) and each message and reply that does
    snippets: list[Snippet] = field(default_factory=list)


@dataclass
class Found:
    results: list[Result]
    more: bool  # more conversations match than are listed


def query_of(request) -> str:
    return request.GET.get("q", "").strip()[:MAX_QUERY_CHARS]


@login_required
@require_GET
def search(request):
    query = query_of(request)
    show_archived = not query and request.GET.get("archived") == "1"
    found = find(request.user, query) if query else Found([], more=False)
    context = {
        "query": query,
        "results": found.results,
        "more": found.more,
        "show_archived": show_archived,
        "archived": archived_conversations(request.user) if show_archived else [],
    }
    return render(request, "conversations/search.html", context)


@login_required
@require_GET
def live(request):
    """The sidebar's results for what is typed in its search box (nothing for an empty box)."""
    query = query_of(request)
    found = find(request.user, query, LIVE_CONVERSATIONS, LIVE_SNIPPETS) if query else None
    context = {"query": query, "found": found}
    return render(request, "conversations/_search_live.html", context)


def hidden_turns(user) -> RawSQL:
    """The ids of `user`'s turns that are not shown although they may be selected: each version
    left behind (not selected) and everything that follows it. `selected` alone is not enough:
    a version left behind keeps the selection of its own follow-ups, so that its branch comes
    back when it is shown again. So the turns shown (Conversation.visible_path, for every
    conversation at once) are the selected ones not in this set. Walking down from the few
    versions left behind costs far less than walking every conversation from its first turn.
    A recursive query (SQLite and PostgreSQL both have them); only names from the model's
    metadata are in the SQL, values are parameters."""
    connection = connections[router.db_for_read(Reply)]
    quote, meta = connection.ops.quote_name, Reply._meta
    table, pk = quote(meta.db_table), quote(meta.pk.column)
    parent, selected, owner = (
        quote(meta.get_field(f).column) for f in ("parent", "selected", "user")
    )
    sql = (
        f"WITH RECURSIVE hidden (turn) AS ("  # noqa: S608 (names from the model's metadata only)
        f"SELECT {pk} FROM {table} WHERE {owner} = %s AND {selected} = %s "
        f"UNION ALL SELECT r.{pk} FROM {table} r INNER JOIN hidden ON r.{parent} = hidden.turn"
        f") SELECT turn FROM hidden"
    )
    user_id = meta.get_field("user").get_db_prep_value(user.pk, connection)
    return RawSQL(sql, (user_id, False))  # noqa: S611 (values are parameters)


def shown_turns(user):
    """`user`'s turns as they see them: the selected version of each turn on the path shown."""
    return Reply.objects.filter(user=user, selected=True).exclude(pk__in=hidden_turns(user))


def find(
    user, query: str, limit: int = MAX_CONVERSATIONS, snippets: int = SNIPPETS_PER_CONVERSATION
) -> Found:
    """The user's conversations matching `query`, most recent first, at most `limit`, each with
    its number of matches and up to `snippets` matching turns (in their order in the
    conversation). A conversation whose matches are all in markdown syntax (a query of `**`)
    has nothing to show and is left out."""
    in_message, in_reply = Q(user_input__icontains=query), Q(text__icontains=query)
    matching_turns = shown_turns(user).filter(in_message | in_reply).order_by()
    conversations = list(
        matching_conversations(user, query, matching_turns)
        .annotate(title_matches=Case(When(title__icontains=query, then=Value(1)), default=0))
        .order_by("-updated_at")
        .only("id", "title", "archived", "updated_at")[: limit + 1]
    )
    more, conversations = len(conversations) > limit, conversations[:limit]
    if not conversations:
        return Found([], more=False)
    results = {
        c.pk: Result(c, marked(c.display_title, query, None), bool(c.title_matches))
        for c in conversations
    }

    def count(condition: Q) -> Window:
        counted = Sum(Case(When(condition, then=1), default=0, output_field=IntegerField()))
        return Window(counted, partition_by=F("conversation_id"))

    turns = (
        matching_turns.filter(conversation_id__in=results)
        .annotate(
            rank=Window(RowNumber(), partition_by=F("conversation_id"), order_by=F("position")),
            matching_messages=count(in_message),
            matching_replies=count(in_reply),
        )
        .filter(rank__lte=snippets)
        .order_by("conversation_id", "position")
        .only("id", "conversation_id", "position", "user_input", "text")
    )
    for turn in turns:
        result = results[turn.conversation_id]
        result.matches = turn.matching_messages + turn.matching_replies
        url = f"{result.conversation.get_absolute_url()}#turn-{turn.pk}"
        # A message is shown as typed; a reply as rendered markdown, so as its plain text.
        for is_reply, text in [(False, turn.user_input), (True, plain_text(turn.text))]:
            if pattern(query).search(text):
                result.snippets.append(Snippet(is_reply, marked(text, query), url))
    for result in results.values():
        result.matches += result.title_matches
    shown = [r for r in results.values() if r.title_matches or r.snippets]
    return Found(shown, more)


def matching_conversations(user, query: str, matching_turns):
    """The user's conversations whose title or shown turns contain `query`, in one of two ways
    that give the same conversations. A word in few of the person's turns: those turns first
    (on PostgreSQL the trigram indexes find them, migration 0013), then their conversations by
    id. A word in many (COMMON_MATCHES or more; that query tells, reading no further): the
    conversations newest first, each checked on its own turns until the first match, so the
    search stops once the page is full instead of reading every matching turn. Either way the
    work is bounded by the person's own history, never the whole table's."""
    conversations = Conversation.objects.for_user(user)
    in_title = Q(title__icontains=query)
    found = list(matching_turns.values_list("conversation_id", flat=True)[:COMMON_MATCHES])
    if len(found) < COMMON_MATCHES:  # all of them: the planner sees how few they are
        return conversations.filter(in_title | Q(pk__in=set(found)))
    first_match = matching_turns.filter(conversation_id=OuterRef("pk")).values("pk")[:1]
    return conversations.alias(first_match=Subquery(first_match)).filter(
        in_title | Q(first_match__isnull=False)
    )


def archived_conversations(user) -> list[Conversation]:
    return list(
        Conversation.objects.for_user(user)
        .filter(archived=True)
        .order_by("-updated_at")
        .only("id", "title", "archived", "updated_at")[:100]
    )


def pattern(query: str) -> re.Pattern:
    return re.compile(re.escape(query), re.IGNORECASE)


def marked(text: str, query: str, radius: int | None = SNIPPET_RADIUS) -> SafeString:
    """`text` escaped, with each match of `query` in <mark>. With a radius, only a window
    around the first match, with runs of white space shown as one space. The text is escaped
    piece by piece and only our own <mark> tags are added, so any markup in it stays text."""
    matches = pattern(query)
    window, before, after = text, "", ""
    first = matches.search(text)
    if radius is not None and first is not None:
        start, end = max(0, first.start() - radius), min(len(text), first.end() + 2 * radius)
        window = text[start:end]
        before, after = ("…" if start > 0 else ""), ("…" if end < len(text) else "")
    squash = (lambda s: re.sub(r"\s+", " ", s)) if radius is not None else (lambda s: s)
    parts, position = [], 0
    for match in matches.finditer(window):
        parts.append(escape(squash(window[position : match.start()])))
        parts.append(f"<mark>{escape(match.group())}</mark>")
        position = match.end()
    parts.append(escape(squash(window[position:])))
    return mark_safe(before + "".join(parts) + after)  # noqa: S308 (escaped piece by piece)
