"""What the admin's searches across conversations and replies share: each term of the search box
looked up so that the trigram indexes serve it on PostgreSQL (migration 0013), and a count of
the results that stops at SEARCH_COUNT_LIMIT, so a word found in most of a million replies
costs about what a rare one does."""

from django.contrib.admin.views.main import SEARCH_VAR
from django.core.paginator import Paginator
from django.db.models import OuterRef, Q, Subquery
from django.utils.functional import cached_property
from django.utils.text import smart_split, unescape_string_literal

# Searches with more results than this say "more than 200" instead of counting them all (a
# count walks the list until then, two pages).
SEARCH_COUNT_LIMIT = 200
# A term in at least this many replies is searched conversation by conversation.
COMMON_REPLIES = 2000


def search_terms(search_term: str) -> list[str]:
    """The words of the search box as the admin splits them: by spaces, "quoted phrases" kept
    whole."""
    terms = []
    for bit in smart_split(search_term):
        if bit.startswith(('"', "'")) and bit[0] == bit[-1]:
            bit = unescape_string_literal(bit)
        terms.append(bit)
    return terms


def conversations_matching(queryset, search_term: str):
    """Conversations whose title, owner's username, or any message or reply (every version,
    shown or not) contains each term. The replies are looked up per term rather than joined: a
    join repeats a conversation once per matching reply and needs a DISTINCT over the whole
    list, which no index serves. A term in fewer than COMMON_REPLIES replies (one query tells,
    reading no further): their conversations, found first from the trigram indexes on
    PostgreSQL, then listed by id. A term in more: each conversation checked on its own
    replies, newest first, so the page stops once it is full."""
    from conversations.models import Reply, User

    for number, term in enumerate(search_terms(search_term)):
        # The owners by id (users are few): then each part of the condition has an index of
        # the conversation table (title, owner, id) and PostgreSQL can combine them.
        owners = set(User.objects.filter(username__icontains=term).values_list("pk", flat=True))
        replies = Reply.objects.filter(Q(user_input__icontains=term) | Q(text__icontains=term))
        replies = replies.order_by()
        found = list(replies.values_list("conversation_id", flat=True)[:COMMON_REPLIES])
        if len(found) < COMMON_REPLIES:  # all of them: the planner sees how few they are
            in_replies = Q(pk__in=set(found))
        else:
            first = replies.filter(conversation_id=OuterRef("pk")).values("pk")[:1]
            name = f"first_reply_with_term_{number}"
            queryset = queryset.alias(**{name: Subquery(first)})
            in_replies = Q(**{f"{name}__isnull": False})
        queryset = queryset.filter(Q(title__icontains=term) | Q(owner_id__in=owners) | in_replies)
    return queryset


class SearchPaginator(Paginator):
    """A paginator whose count stops at SEARCH_COUNT_LIMIT + 1 (`count_capped` then says the
    true number is larger): counting every match of a common word would read most of the
    table, while the page itself needs only its own rows."""

    @cached_property
    def count(self) -> int:
        # Any rows will do for counting: no order to sort by, no columns to compute.
        first = self.object_list.order_by().values("pk")[: SEARCH_COUNT_LIMIT + 1]
        return first.count()

    limit = SEARCH_COUNT_LIMIT

    @property
    def count_capped(self) -> bool:
        return self.count > SEARCH_COUNT_LIMIT


class CappedSearchCount:
    """A ModelAdmin mixin: a search's results are counted up to SEARCH_COUNT_LIMIT; the list
    without a search is counted as usual."""

    def get_paginator(self, request, queryset, per_page, orphans=0, allow_empty_first_page=True):
        if request.GET.get(SEARCH_VAR, "").strip():
            return SearchPaginator(queryset, per_page, orphans, allow_empty_first_page)
        return super().get_paginator(request, queryset, per_page, orphans, allow_empty_first_page)
