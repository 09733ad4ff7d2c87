"""Searching one's own conversations: titles, messages and replies, case-insensitive, matches
marked in snippets, hostile text inert, archived conversations found and labelled, never
another user's, and a constant number of queries."""
# ruff: noqa: RUF001 (Chinese text uses full-width punctuation on purpose)

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import Conversation, Reply
from conversations.views.search import MAX_CONVERSATIONS, SNIPPETS_PER_CONVERSATION, marked
from tests.test_i18n import ZH, untranslated

pytestmark = pytest.mark.django_db


def conversation_with(owner, title="", turns=(), **fields) -> Conversation:
    """A conversation with completed turns: (message, reply) pairs, each after the last."""
    conversation = Conversation.objects.create(owner=owner, title=title, model="gpt-5.5", **fields)
    for message, reply_text in turns:
        reply = conversation.add_turn(message)
        Reply.objects.filter(pk=reply.pk).update(text=reply_text, status=Reply.Status.COMPLETED)
    return conversation


def results_of(page: str) -> list[str]:
    """The result blocks of a search page, in order."""
    return page.split('<li class="search-result">')[1:]


def test_finds_titles_messages_and_replies_case_insensitively_with_marks(alice, alice_client):
    in_title = conversation_with(alice, "Budget for 2027")
    in_message = conversation_with(alice, "Plans", [("What is our BUDGET?", "Ask finance.")])
    in_reply = conversation_with(alice, "Travel", [("Hotels?", "The budget allows two nights.")])
    conversation_with(alice, "Unrelated", [("Lunch?", "Soup.")])

    page = alice_client.get("/search/", {"q": "Budget"}).text

    results = results_of(page)
    assert len(results) == 3
    assert str(in_title.pk) in page and str(in_message.pk) in page and str(in_reply.pk) in page
    assert "Unrelated" not in page
    assert "<mark>Budget</mark> for 2027" in page
    assert "What is our <mark>BUDGET</mark>?" in page
    assert "The <mark>budget</mark> allows two nights." in page
    reply_id = Reply.objects.get(conversation=in_reply).pk
    assert f"/c/{in_reply.pk}/#turn-{reply_id}" in page


def test_never_finds_another_users_conversations(alice, bob, alice_client):
    conversation_with(bob, "Bob's merger plan", [("merger terms?", "The merger is secret.")])
    conversation_with(alice, "Alice's notes", [("merger?", "Nothing known.")])

    page = alice_client.get("/search/", {"q": "merger"}).text

    assert len(results_of(page)) == 1
    assert "Bob" not in page and "secret" not in page


def test_hostile_titles_messages_and_queries_stay_inert(alice, alice_client):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    conversation_with(alice, f"{payload} title", [(f"msg {payload}", f"reply {payload}")])

    page = alice_client.get("/search/", {"q": "<script>"}).text

    assert "<script>alert" not in page and "<img src=x" not in page
    assert page.count("<mark>&lt;script&gt;</mark>") >= 3  # title, message, reply
    assert "onerror=alert(1)&gt;" in page
    reflected = alice_client.get("/search/", {"q": '"><img src=x onerror=alert(2)>'}).text
    assert "<img src=x onerror=alert(2)>" not in reflected
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in reflected


def test_a_mark_never_splits_an_escaped_entity():
    assert str(marked("a < b & c", "&")) == "a &lt; b <mark>&amp;</mark> c"
    assert str(marked("Tom & Jerry", "amp", None)) == "Tom &amp; Jerry"


def test_snippets_are_short_windows_around_the_match():
    text = "x" * 500 + " needle " + "y" * 500
    snippet = str(marked(text, "NEEDLE"))
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "<mark>needle</mark>" in snippet
    assert len(snippet) < 250


def test_archived_conversations_are_found_and_labelled(alice, alice_client):
    conversation_with(alice, "Old roadmap", archived=True)
    conversation_with(alice, "New roadmap")

    page = alice_client.get("/search/", {"q": "roadmap"}).text

    archived, current = sorted(results_of(page), key=lambda r: "Archived" not in r)
    assert "Old <mark>roadmap</mark>" in archived and '<span class="badge">Archived' in archived
    assert "New <mark>roadmap</mark>" in current and '<span class="badge">' not in current


def test_only_the_versions_shown_are_searched(alice, alice_client):
    conversation = conversation_with(alice, "Poem", [("Write a poem", "Roses are red")])
    first = Reply.objects.get(conversation=conversation)
    Reply.objects.filter(pk=first.pk).update(text="Violets are blue", selected=False)
    Reply.objects.create(
        conversation=conversation,
        user=alice,
        user_input="Write a poem",
        text="Sugar is sweet",
        status=Reply.Status.COMPLETED,
        model="gpt-5.5",
    )

    assert len(results_of(alice_client.get("/search/", {"q": "sugar"}).text)) == 1
    assert results_of(alice_client.get("/search/", {"q": "violets"}).text) == []


def test_results_and_snippets_are_limited_and_queries_constant(alice, alice_client):
    conversation_with(alice, "Only one", [("alpha one", "alpha")])
    with CaptureQueriesContext(connection) as few:
        alice_client.get("/search/", {"q": "alpha"})

    for i in range(MAX_CONVERSATIONS + 5):
        turns = [(f"alpha question {j}", f"alpha answer {j}") for j in range(5)]
        conversation_with(alice, f"Conversation {i}", turns)
    with CaptureQueriesContext(connection) as many:
        page = alice_client.get("/search/", {"q": "ALPHA"}).text

    assert len(many) == len(few)
    results = results_of(page)
    assert len(results) == MAX_CONVERSATIONS
    # Each matching turn gives a snippet for its message and one for its reply.
    assert all(r.count('class="snippet"') == 2 * SNIPPETS_PER_CONVERSATION for r in results)


def test_chinese_text_is_found_and_the_page_is_translated(alice, alice_client):
    conversation_with(alice, "季度计划", [("预算是多少？", "预算是十万元。")])

    page = alice_client.get("/search/", {"q": "预算"}, headers=ZH).text

    assert "<mark>预算</mark>是多少？" in page and "<mark>预算</mark>是十万元。" in page
    assert untranslated(page) == []
    for url in ["/search/", "/search/?archived=1"]:
        assert untranslated(alice_client.get(url, headers=ZH).text) == []


def test_the_search_form_is_a_get_form_labelled_search(alice_client):
    page = alice_client.get("/").text
    assert '<form class="sidebar-search" role="search" method="get" action="/search/">' in page
    assert '<label for="search-box" class="sr-only">Search</label>' in page
    assert alice_client.post("/search/", {"q": "x"}).status_code == 405


def test_an_empty_search_lists_archived_conversations_on_request(alice, bob, alice_client):
    conversation_with(alice, "Put away", archived=True)
    conversation_with(alice, "Still here")
    conversation_with(bob, "Bob's archive", archived=True)

    page = alice_client.get("/search/", {"archived": "1"}).text

    assert "Put away" in page and "Still here" not in page and "Bob" not in page
    assert "Unarchive" in page


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get("/search/", {"q": "x"})
    assert response.status_code == 302 and response["Location"].startswith("/login/")
