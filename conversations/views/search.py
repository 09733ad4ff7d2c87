"""Searching one's own conversations: titles, messages and replies (the selected version of
each turn), case-insensitive, results grouped by conversation with each match marked in a short
snippet. Two queries whatever the history's size; archived conversations are found too."""

import re
from dataclasses import dataclass, field

from django.contrib.auth.decorators import login_required
from django.db.models import F, Q, Window
from django.db.models.functions import RowNumber
from django.shortcuts import render
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from conversations.models import Conversation, Reply

MAX_QUERY_CHARS = 200
MAX_CONVERSATIONS = 30
SNIPPETS_PER_CONVERSATION = 3
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
    snippets: list[Snippet] = field(default_factory=list)


@login_required
@require_GET
def search(request):
    query = request.GET.get("q", "").strip()[:MAX_QUERY_CHARS]
    show_archived = not query and request.GET.get("archived") == "1"
    context = {
        "query": query,
        "results": find(request.user, query) if query else [],
        "show_archived": show_archived,
        "archived": archived_conversations(request.user) if show_archived else [],
    }
    return render(request, "conversations/search.html", context)


def find(user, query: str) -> list[Result]:
    """The user's conversations matching `query`, most recent first, with up to
    SNIPPETS_PER_CONVERSATION matching turns each (in their order in the conversation)."""
    matching_turns = Reply.objects.filter(user=user, selected=True).filter(
        Q(user_input__icontains=query) | Q(text__icontains=query)
    )
    conversations = list(
        Conversation.objects.for_user(user)
        .filter(Q(title__icontains=query) | Q(pk__in=matching_turns.values("conversation_id")))
        .order_by("-updated_at")
        .only("id", "title", "archived", "updated_at")[:MAX_CONVERSATIONS]
    )
    if not conversations:
        return []
    results = {c.pk: Result(c, marked(c.display_title, query, None)) for c in conversations}
    turns = (
        matching_turns.filter(conversation_id__in=results)
        .annotate(
            rank=Window(RowNumber(), partition_by=F("conversation_id"), order_by=F("position"))
        )
        .filter(rank__lte=SNIPPETS_PER_CONVERSATION)
        .order_by("conversation_id", "position")
        .only("id", "conversation_id", "position", "user_input", "text")
    )
    for turn in turns:
        result = results[turn.conversation_id]
        url = f"{result.conversation.get_absolute_url()}#turn-{turn.pk}"
        for is_reply, text in [(False, turn.user_input), (True, turn.text)]:
            if pattern(query).search(text):
                result.snippets.append(Snippet(is_reply, marked(text, query), url))
    return list(results.values())


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
