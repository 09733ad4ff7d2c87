"""Searching one's own conversations: titles, messages and replies, case-insensitive, matches
marked in snippets, hostile text inert, archived conversations found and labelled, never
another user's, and a constant number of queries."""
# ruff: noqa: RUF001 (Chinese text uses full-width punctuation on purpose)

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import Conversation, Reply
from conversations.views.search import (
    LIVE_CONVERSATIONS,
    MAX_CONVERSATIONS,
    SNIPPETS_PER_CONVERSATION,
    marked,
)
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
    # (Not "Bob": three letters turn up by chance in the page's random CSP nonce.)
    assert "merger plan" not in page and "secret" not in page


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


# ---- The sidebar's results while typing (/search/live/), and the rules both pages share. ----

MARKDOWN_REPLY = """## Budget overview

The **budget** is *tight*; see [the sheet](https://example.com/budget-sheet).

| Item | Budget |
| --- | ---: |
| Rent | 500 |

```python
budget = 500  # a code fence
```
"""


def live(client, query: str, **headers) -> str:
    response = client.get("/search/live/", {"q": query}, headers=headers)
    assert response.status_code == 200
    return response.text


def live_results(page: str) -> list[str]:
    return page.split('<li><a class="search-live-result"')[1:]


def with_a_branch_left_behind(owner) -> Conversation:
    """A conversation whose first turn was edited: the first version (left behind) is followed
    by a turn still selected among its own follow-ups, so it comes back with its version, but
    is not shown now; the version shown is followed by another turn."""
    conversation = Conversation.objects.create(owner=owner, title="Trip", model="gpt-5.5")
    turn = {"conversation": conversation, "user": owner, "model": "gpt-5.5"}
    done = {**turn, "status": Reply.Status.COMPLETED}
    first = Reply.objects.create(
        **done, user_input="Plan Oslo", text="Oslo first", selected=False, position=0
    )
    follow_up = Reply.objects.create(
        **done, parent=first, position=1, user_input="Fjords?", text="Take the ferry."
    )
    Reply.objects.create(**done, parent=follow_up, position=2, user_input="When?", text="Hourly.")
    shown = Reply.objects.create(**done, user_input="Plan Bergen", text="Bergen then", position=0)
    Reply.objects.create(**done, parent=shown, position=1, user_input="Weather?", text="Rain.")
    return conversation


def test_live_results_are_plain_text_with_the_match_marked(alice, alice_client):
    conversation_with(alice, "Plans", [("What is our budget?", MARKDOWN_REPLY)])

    page = live(alice_client, "budget")

    [result] = live_results(page)
    snippet = result.split('class="search-live-snippet">')[1].split("</span>")[0]
    assert "What is our <mark>budget</mark>?" == snippet  # the first match: the message
    full = alice_client.get("/search/", {"q": "budget"}).text
    reply_snippet = full.split('Reply</span> <a href="')[1].split("</a>")[0]
    for syntax in ["**", "##", "|", "```", "](", "---"]:
        assert syntax not in reply_snippet, syntax
    assert "<mark>Budget</mark> overview The <mark>budget</mark> is tight; see the sheet" in (
        reply_snippet
    )


def test_markdown_stripping_goes_through_the_parser():
    from conversations.plaintext import plain_text

    more = "\n- a *list* item\n\n> quoted\n\n![a chart](x.png) \\*kept\\*"
    text = plain_text(MARKDOWN_REPLY + more)
    assert text.split("\n") == [
        "Budget overview",
        "The budget is tight; see the sheet.",
        *["Item", "Budget", "Rent", "500"],
        "budget = 500  # a code fence",
        *["a list item", "quoted", "a chart *kept*"],
    ]
    # Not syntax in the renderer, not removed here: pipes outside a table, a lone star.
    assert plain_text("a | b and 2 * 3") == "a | b and 2 * 3"


def test_live_results_count_matches_one_result_per_conversation(alice, alice_client):
    turns = [("budget one", "no"), ("two", "the budget, again"), ("budget", "budget")]
    conversation_with(alice, "Budget talks", turns)
    conversation_with(alice, "Only the title: budget")
    conversation_with(alice, "Lunch", [("Soup?", "Yes.")])

    page = live(alice_client, "BUDGET")

    results = live_results(page)
    assert len(results) == 2
    by_title = {r.split('"search-live-title">')[1].split("</span>")[0]: r for r in results}
    talks = by_title["<mark>Budget</mark> talks"]
    assert '<span class="search-live-count">5 matches</span>' in talks  # title, 2 + 2 turns
    title_only = by_title["Only the title: <mark>budget</mark>"]
    assert '<span class="search-live-count">1 match</span>' in title_only
    assert "2 conversations found" in page
    assert 'href="/search/?q=BUDGET"' in page  # all results, on the full page

    full = alice_client.get("/search/", {"q": "budget"}).text
    assert '<p class="match-count muted">5 matches</p>' in full
    assert '<p class="match-count muted">1 match</p>' in full


def test_live_results_escape_hostile_text_and_queries(alice, alice_client):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    conversation_with(alice, f"{payload} title", [(f"msg {payload}", f"**reply** {payload}")])

    page = live(alice_client, "<script>")

    assert "<script>alert" not in page and "<img src=x" not in page
    assert "<mark>&lt;script&gt;</mark>alert(&quot;x&quot;)" in page
    hostile = '**"><img src=x onerror=alert(2)>'
    conversation_with(alice, f"Notes {hostile}")
    reflected = live(alice_client, hostile)
    assert "<img src=x onerror=alert(2)>" not in reflected
    assert "Notes <mark>**&quot;&gt;&lt;img src=x onerror=alert(2)&gt;</mark>" in reflected
    assert 'href="/search/?q=%2A%2A%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%282%29%3E"' in (
        reflected
    )
    nothing = live(alice_client, "<b>nothing</b>")
    assert "No conversations found." in nothing and "<b>" not in nothing


def test_a_match_only_in_markdown_syntax_is_not_a_result(alice, alice_client):
    conversation_with(alice, "Styles", [("Make it bold", "This is **bold**.")])

    assert live_results(live(alice_client, "**")) == []
    assert live_results(live(alice_client, "bold")) != []


def test_versions_not_shown_are_never_found(alice, alice_client):
    with_a_branch_left_behind(alice)

    for query in ["ferry", "fjords", "Oslo", "hourly"]:
        assert live_results(live(alice_client, query)) == [], query
        assert results_of(alice_client.get("/search/", {"q": query}).text) == [], query
    for query in ["rain", "bergen"]:
        [result] = live_results(live(alice_client, query))
        assert "1 match" in result or "2 matches" in result
        assert len(results_of(alice_client.get("/search/", {"q": query}).text)) == 1


def test_live_results_never_show_other_users_or_deleted_conversations(alice, bob, alice_client):
    conversation_with(bob, "Bob's merger", [("merger?", "The merger is secret.")])
    deleted = conversation_with(alice, "Old merger", [("merger", "merger")])
    deleted.delete_for_owner()
    put_away = conversation_with(alice, "Merger archive", archived=True)
    conversation_with(alice, "Merger now")

    page = live(alice_client, "merger")

    results = live_results(page)
    assert len(results) == 2
    # (Not "Bob": three letters turn up by chance in the page's random CSP nonce.)
    assert "merger plan" not in page and "secret" not in page and "Old" not in page
    [archived] = [r for r in results if str(put_away.pk) in r]
    assert '<span class="badge">Archived</span>' in archived


def test_an_empty_query_gives_nothing_and_the_chat_page_wires_the_box(alice_client):
    assert live(alice_client, "   ").strip() == ""
    page = alice_client.get("/").text
    assert 'hx-get="/search/live/" hx-trigger="input delay:250ms"' in page
    assert '<section id="search-live" class="search-live"' in page
    # The count is spoken politely from a status that is always in the page (an element
    # added with its text is not announced).
    assert '<p id="search-live-status" class="search-live-status muted" role="status"></p>' in page
    assert page.index('id="search-live"') < page.index('id="sidebar-notices"')
    assert alice_client.post("/search/live/", {"q": "x"}).status_code == 405


def test_live_results_are_limited_and_queries_constant(alice, alice_client):
    conversation_with(alice, "Only one", [("alpha one", "alpha")])
    with_a_branch_left_behind(alice)
    with CaptureQueriesContext(connection) as few:
        live(alice_client, "alpha")

    for i in range(LIVE_CONVERSATIONS + 5):
        conversation_with(alice, f"Conversation {i}", [(f"alpha {j}", "alpha") for j in range(4)])
    with CaptureQueriesContext(connection) as many:
        page = live(alice_client, "ALPHA")

    assert len(many) == len(few)
    results = live_results(page)
    assert len(results) == LIVE_CONVERSATIONS
    assert all(r.count('class="search-live-snippet"') == 1 for r in results)
    assert all("8 matches" in r for r in results)
    assert f"More than {LIVE_CONVERSATIONS} conversations found" in page


def test_live_results_in_chinese(alice, alice_client):
    conversation_with(alice, "季度计划", [("预算是多少？", "**预算**是十万元。")])
    conversation_with(alice, "预算", [("预算", "预算")])

    page = live(alice_client, "预算", **ZH)

    assert "找到 2 个对话" in page and "3 处匹配" in page and "全部结果" in page
    assert "<mark>预算</mark>是多少？" in page
    assert untranslated(page) == []
    assert "没有找到对话。" in live(alice_client, "不存在", **ZH)


def test_a_link_the_page_refuses_shows_only_its_text_in_snippets_too():
    """The snippets read the renderer's own tokens: a javascript: link is its text there, as on
    the page, not its markdown source."""
    from conversations.plaintext import plain_text

    assert plain_text("see [this](javascript:alert(1)) now") == "see this now"
