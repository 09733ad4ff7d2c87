"""Search over a large history: on PostgreSQL the person's and the admin's searches are planned
on the trigram indexes (EXPLAIN of the very queries the pages send); on every database a word
in many turns (searched conversation by conversation) finds exactly the conversations a word in
few does, and an admin search with very many results says "more than" its limit."""

import re
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.admin.search import COMMON_REPLIES, SEARCH_COUNT_LIMIT
from conversations.models import Conversation, Reply
from conversations.views.search import COMMON_MATCHES, MAX_CONVERSATIONS, find
from tests.review_fixtures import *  # noqa: F403 (fixtures)

pytestmark = pytest.mark.django_db

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the trigram indexes are PostgreSQL's"
)


def history(owner, conversations: int, turns: int, text_of) -> list[Conversation]:
    """`conversations` conversations of `turns` completed turns each, inserted in bulk, each
    updated a minute after the one before; text_of(c, t) gives a turn's (message, reply)."""
    now = timezone.now()
    made, replies = [], []
    for c in range(conversations):
        when = now - timezone.timedelta(minutes=conversations - c)
        made.append(
            Conversation(
                owner=owner, title=f"Talk {c}", model="m", created_at=when, updated_at=when
            )
        )
    Conversation.objects.bulk_create(made)
    for c, conversation in enumerate(made):
        parent = None
        for t in range(turns):
            message, reply_text = text_of(c, t)
            reply = Reply(
                id=uuid.uuid4(),
                conversation=conversation,
                user=owner,
                parent_id=parent,
                position=t,
                user_input=message,
                text=reply_text,
                status=Reply.Status.COMPLETED,
                model="m",
            )
            replies.append(reply)
            parent = reply.id
    Reply.objects.bulk_create(replies, batch_size=2000)
    return made


def plans_of(queries) -> dict[str, str]:
    """EXPLAIN of each SELECT captured, on this connection (with its settings), by its SQL."""
    plans = {}
    with connection.cursor() as cursor:
        for query in queries:
            if query["sql"].startswith("SELECT"):
                cursor.execute(f"EXPLAIN {query['sql']}")
                plans[query["sql"]] = "\n".join(row[0] for row in cursor.fetchall())
    return plans


def analysed_with_sequential_scans_off():
    """Fresh statistics, the trigram indexes' pending lists merged (what VACUUM does, which
    cannot run in the test's transaction), and sequential scans made a last resort, so that a
    small test table is planned as a large one would be (the planner still chooses between the
    indexes)."""
    with connection.cursor() as cursor:
        for index in ("reply_user_input_trgm", "reply_text_trgm", "reply_upstream_id_trgm"):
            cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])
        cursor.execute("ANALYZE conversations_reply")
        cursor.execute("ANALYZE conversations_conversation")
        cursor.execute("SET enable_seqscan = off")


def reset_sequential_scans():
    with connection.cursor() as cursor:
        cursor.execute("RESET enable_seqscan")


@on_postgresql
def test_a_persons_search_for_a_rare_word_is_planned_on_the_trigram_indexes(alice, alice_client):
    # Enough turns that reading all of the person's would cost more than the indexes.
    history(alice, 500, 12, lambda c, t: (f"question {c} {t}", f"answer {c}-{t} about things"))
    rare = Reply.objects.filter(user=alice, position=3).order_by("created_at")[7]
    Reply.objects.filter(pk=rare.pk).update(text="A zebracorn appears.")
    analysed_with_sequential_scans_off()
    try:
        for path in ("/search/", "/search/live/"):
            with CaptureQueriesContext(connection) as captured:
                page = alice_client.get(path, {"q": "Zebracorn"}).text
            assert "<mark>zebracorn</mark>" in page
            plans = "\n".join(plans_of(captured.captured_queries).values())
            assert "reply_text_trgm" in plans and "reply_user_input_trgm" in plans, plans
    finally:
        reset_sequential_scans()


@on_postgresql
def test_a_persons_search_for_a_common_word_walks_the_newest_conversations(alice, alice_client):
    conversations = COMMON_MATCHES // 4 + 10  # four turns each: more than COMMON_MATCHES
    history(alice, conversations, 4, lambda c, t: (f"common question {t}", f"common answer {c}"))
    analysed_with_sequential_scans_off()
    try:
        with CaptureQueriesContext(connection) as captured:
            page = alice_client.get("/search/", {"q": "common"}).text
        assert page.count('<li class="search-result">') == MAX_CONVERSATIONS
        listing = next(
            plan
            for sql, plan in plans_of(captured.captured_queries).items()
            if sql.startswith('SELECT "conversations_conversation"."id"')
        )
        assert "conv_owner_updated_idx" in listing, listing
        assert "Limit" in listing.split("\n")[0], listing  # stops once the page is full
    finally:
        reset_sequential_scans()


@on_postgresql
def test_the_admins_searches_are_planned_on_the_trigram_indexes(superuser_client, alice):
    history(alice, 200, 10, lambda c, t: (f"question {c} {t}", f"answer {c}-{t} about things"))
    rare = Reply.objects.filter(user=alice, position=5).order_by("created_at")[3]
    Reply.objects.filter(pk=rare.pk).update(user_input="Where is the zebracorn?")
    analysed_with_sequential_scans_off()
    try:
        for path in ("/admin/conversations/conversation/", "/admin/conversations/reply/"):
            with CaptureQueriesContext(connection) as captured:
                page = superuser_client.get(path, {"q": "zebracorn"}).text
            assert "1 result" in page, path
            plans = "\n".join(plans_of(captured.captured_queries).values())
            assert "reply_text_trgm" in plans and "reply_user_input_trgm" in plans, plans
    finally:
        reset_sequential_scans()


def test_a_word_in_many_turns_finds_what_a_word_in_few_does(alice, bob, alice_client):
    """Every conversation has "often" in a turn (more than COMMON_MATCHES turns in all) and
    every third has "seldom" once: both searches must list the newest matching conversations,
    leave out deleted ones and versions not shown, and find titles."""
    made = history(
        alice,
        COMMON_MATCHES // 2 + 10,
        3,
        lambda c, t: (f"turn {t}", "often said" + (" seldom" if c % 3 == 0 and t == 1 else "")),
    )
    history(bob, 5, 3, lambda c, t: ("often", "often seldom"))  # never alice's
    newest, branched, titled = made[-1], made[99], made[5]
    Conversation.objects.filter(pk=newest.pk).update(deleted_at=timezone.now())
    # The turn with "seldom" in `branched` becomes a version left behind (with what follows).
    left_behind = Reply.objects.get(conversation=branched, position=1)
    Reply.objects.filter(pk=left_behind.pk).update(selected=False)
    Conversation.objects.filter(pk=titled.pk).update(title="Seldom in the title")

    assert Reply.objects.filter(user=alice, text__contains="often").count() >= COMMON_MATCHES
    alive = [c for c in reversed(made) if c != newest]  # newest first, not deleted
    seldom = [c for c in alive if (made.index(c) % 3 == 0 and c != branched) or c == titled]
    for word, matching in [("often", alive), ("seldom", seldom)]:
        found = find(alice, word)
        assert [r.conversation.pk for r in found.results] == [
            c.pk for c in matching[:MAX_CONVERSATIONS]
        ], word
        assert found.more == (len(matching) > MAX_CONVERSATIONS), word


def test_an_admin_search_for_a_common_word_lists_the_newest_and_says_more_than_its_limit(
    superuser_client, alice
):
    """Enough replies with the word that the conversations are checked one by one, newest
    first, and more results than the count's limit."""
    made = history(alice, COMMON_REPLIES // 4 + 1, 4, lambda c, t: ("plenty", "plenty more"))
    history(alice, 3, 1, lambda c, t: ("other", "words"))  # newer, not found

    page = superuser_client.get("/admin/conversations/conversation/", {"q": "plenty"}).text
    assert f"more than {SEARCH_COUNT_LIMIT} results" in page
    assert f"more than {SEARCH_COUNT_LIMIT} conversations" in page
    listed = re.findall(r'<th class="field-display_title"><a [^>]*>([^<]*)</a>', page)
    newest = [c.title for c in reversed(made)]
    assert listed == newest[: len(listed)] and len(listed) == 100
    replies = superuser_client.get("/admin/conversations/reply/", {"q": "plenty"}).text
    assert f"more than {SEARCH_COUNT_LIMIT} replies" in replies
    few = superuser_client.get("/admin/conversations/conversation/", {"q": "words"}).text
    assert "3 results" in few and "more than" not in few
