"""The review workspace in the admin: the roles the migrations create, the conversation list
with its usage columns, filters and search (and its query count), and a conversation's page:
the transcript as the owner saw it with every detail the relay sent back, never the key."""

import html
import re
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Conversation, Feedback, QuotaPolicy, Reply
from tests.review_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db
LIST = "/admin/conversations/conversation/"


def page_of(conversation) -> str:
    return f"{LIST}{conversation.pk}/change/"


def titles_listed(response) -> list[str]:
    """The titles in the change list's first column, in order."""
    found = re.findall(
        r'<th class="field-display_title"><a href="[^"]+">([^<]*)</a>', response.text
    )
    return [html.unescape(title) for title in found]


def permissions_of(group_name: str) -> set[str]:
    group = Group.objects.get(name=group_name)
    return set(group.permissions.values_list("codename", flat=True))


def test_both_roles_exist_after_migrate_with_their_permissions():
    reviewer = permissions_of("Reviewer")
    assert {"view_conversation", "view_reply", "view_feedback", "view_usageentry"} <= reviewer
    assert "view_usage_dashboard" in reviewer
    # A reviewer changes nothing but the review state of feedback, and deletes nothing.
    assert {p for p in reviewer if not p.startswith("view_")} <= {"change_feedback"}
    assert not {"view_user", "view_quotapolicy", "view_reviewaccess"} & reviewer

    administrator = permissions_of("Administrator")
    for model in ("user", "group", "quotapolicy", "aimodel"):
        assert {f"{verb}_{model}" for verb in ("view", "add", "change", "delete")} <= administrator
    assert "view_conversation" in administrator and "change_conversation" not in administrator
    assert not {p for p in administrator if p.endswith("_reviewaccess")}


def test_the_list_shows_owner_group_usage_cost_and_feedback(reviewer_client, alices_conversation):
    reply = alices_conversation.replies.get(position=0)
    Feedback.objects.create(reply=reply, helpful=False, comment="too short")
    response = reviewer_client.get(LIST)
    assert response.status_code == 200
    row = response.text.split('<th class="field-display_title">')[1].split("</tr>")[0]
    assert "Quarterly plan" in row
    assert '<td class="field-owner nowrap">alice</td>' in row
    assert '<td class="field-owner_group">Sales</td>' in row
    assert '<td class="field-model">gpt-5.5</td>' in row
    assert '<td class="field-reply_count">2</td>' in row
    assert '<td class="field-token_total">150</td>' in row
    assert '<td class="field-cost_total">0.01 USD</td>' in row  # 0.0125 rounded to the cent
    assert '<td class="field-feedback_summary">1 not helpful</td>' in row


def many_conversations(owner, count: int) -> None:
    for index in range(count):
        conversation = Conversation.objects.create(owner=owner, title=f"c{index}", model="m")
        Reply.objects.create(
            conversation=conversation,
            user=owner,
            user_input="q",
            text="a",
            status=Reply.Status.COMPLETED,
            model="m",
            total_tokens=index,
            cost=Decimal("0.5"),
            cost_currency="USD",
        )


def queries_of_the_list(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(LIST).status_code == 200
    return len(queries)


def test_the_list_makes_the_same_few_queries_for_5_or_30_conversations(
    reviewer_client, alice, bob, django_assert_max_num_queries
):
    many_conversations(alice, 5)
    with_five = queries_of_the_list(reviewer_client)
    many_conversations(bob, 25)
    with django_assert_max_num_queries(with_five):
        response = reviewer_client.get(LIST)
    assert len(titles_listed(response)) == 30
    assert with_five <= 12


def past_seven_days(client) -> str:
    """The query of the date filter's "Past 7 days" link, as the list offers it."""
    page = client.get(LIST).text
    link = re.search(r'<a href="\?([^"]*updated_at__gte[^"]*)"[^>]*>Past 7 days</a>', page)
    return html.unescape(link[1])


def test_the_list_filters_by_user_group_model_status_date_and_feedback(
    reviewer_client, alices_conversation, bob
):
    bobs = Conversation.objects.create(owner=bob, title="Bob's notes", model="gpt-4o")
    Reply.objects.create(
        conversation=bobs, user=bob, user_input="hi", status="completed", model="gpt-4o"
    )
    Feedback.objects.create(reply=bobs.replies.get(), helpful=True)
    old = Conversation.objects.create(
        owner=bob,
        title="Old one",
        model="gpt-4o",
        updated_at=timezone.now() - timezone.timedelta(days=60),
    )
    old.deleted_at = timezone.now()
    old.save()
    sales = Group.objects.get(name="Sales")
    expected = {
        f"owner__id__exact={bob.pk}": ["Bob's notes", "Old one"],
        f"group={sales.pk}": ["Quarterly plan"],
        "model=gpt-4o": ["Bob's notes", "Old one"],
        "reply_status=failed": ["Quarterly plan"],
        "state=deleted": ["Old one"],
        "state=active": ["Quarterly plan", "Bob's notes"],
        "feedback=helpful": ["Bob's notes"],
        "feedback=none": ["Quarterly plan", "Old one"],
        past_seven_days(reviewer_client): ["Quarterly plan", "Bob's notes"],
    }
    for query, titles in expected.items():
        response = reviewer_client.get(f"{LIST}?{query}")
        assert response.status_code == 200, query
        assert sorted(titles_listed(response)) == sorted(titles), query


def test_search_finds_titles_messages_and_replies_once_each(reviewer_client, alices_conversation):
    Conversation.objects.create(owner=alices_conversation.owner, title="Unrelated", model="m")
    for words, found in [
        ("Quarterly", ["Quarterly plan"]),
        ("next year", ["Quarterly plan"]),  # a message
        ("carefully", ["Quarterly plan"]),  # a reply
        ("alice", ["Quarterly plan", "Unrelated"]),  # the owner's name
        ("nowhere", []),
    ]:
        response = reviewer_client.get(LIST, {"q": words})
        assert sorted(titles_listed(response)) == sorted(found), words


def test_the_page_shows_the_transcript_rendered_as_the_owner_saw_it(
    reviewer_client, alices_conversation
):
    page = reviewer_client.get(page_of(alices_conversation)).text
    transcript = page.split('id="transcript"')[1]
    assert "How do we grow?" in transcript and "And next year?" in transcript
    assert "Grow <strong>carefully</strong>:" in transcript  # markdown, as in the chat
    assert "<li>hire</li>" in transcript
    assert transcript.index("How do we grow?") < transcript.index("And next year?")
    # Each reply's status, usage, cost, timings, ids, error and the raw request and response.
    assert "Completed" in transcript and "Failed" in transcript
    assert "<dd>120</dd>" in transcript and "<dd>150</dd>" in transcript
    assert "0.01 USD" in transcript
    assert "1.50 s" in transcript and "4.00 s" in transcript  # first token, duration
    assert "resp_abc123" in transcript
    assert "upstream_error" in transcript and "HTTP 502 from relay: bad gateway" in transcript
    assert "The AI service had a problem and could not answer." in transcript
    assert "&quot;instructions&quot;: &quot;Be brief.&quot;" in transcript
    assert "&quot;output_tokens&quot;: 30" in transcript  # the usage exactly as sent
    assert "&quot;output_text&quot;" in transcript


def test_versions_the_owner_does_not_see_are_listed_apart(reviewer_client, alices_conversation):
    shown = alices_conversation.replies.get(position=1)
    Reply.objects.filter(pk=shown.pk).update(selected=False)
    Reply.objects.create(
        conversation=alices_conversation,
        user=alices_conversation.owner,
        position=1,
        parent=shown.parent,
        user_input="And next year?",
        text="Retried answer",
        status=Reply.Status.COMPLETED,
        model="gpt-5.5",
        retry_of=shown,
    )
    page = reviewer_client.get(page_of(alices_conversation)).text
    transcript, others = page.split('id="transcript"')[1].split("Other versions")
    assert "Retried answer" in transcript and "Partial ans" not in transcript
    assert "Partial ans" in others


def test_the_page_never_shows_the_api_key(reviewer_client, alices_conversation, settings):
    for url in [LIST, page_of(alices_conversation), "/admin/conversations/reply/"]:
        response = reviewer_client.get(url)
        assert response.status_code == 200
        assert settings.RESPONSES_API_KEY not in response.text
    for reply in Reply.objects.all():
        assert settings.RESPONSES_API_KEY not in str(reply.request_params)


def test_a_reviewer_can_read_but_not_change_or_delete(reviewer_client, alices_conversation):
    reply = alices_conversation.replies.first()
    refused = [
        ("get", f"{LIST}add/"),
        ("post", page_of(alices_conversation)),
        ("get", f"{LIST}{alices_conversation.pk}/delete/"),
        ("post", f"{LIST}{alices_conversation.pk}/delete/"),
        ("post", f"/admin/conversations/reply/{reply.pk}/change/"),
        ("post", f"/admin/conversations/reply/{reply.pk}/delete/"),
        ("get", "/admin/conversations/user/"),
        ("get", "/admin/conversations/quotapolicy/"),
        ("get", "/admin/conversations/aimodel/add/"),
    ]
    for method, url in refused:
        response = getattr(reviewer_client, method)(url, {"title": "changed"})
        assert response.status_code == 403, (method, url)
    alices_conversation.refresh_from_db()
    assert alices_conversation.title == "Quarterly plan"
    assert Reply.objects.count() == 2
    # Read-only pages have no save or delete buttons.
    page = reviewer_client.get(page_of(alices_conversation)).text
    assert 'name="_save"' not in page and "deletelink" not in page


def test_an_administrator_manages_quotas_but_cannot_make_a_superuser(
    administrator_client, administrator, alice
):
    response = administrator_client.post(
        "/admin/conversations/quotapolicy/add/",
        {"scope": "user", "user": alice.pk, "monthly_token_limit": 1000},
    )
    assert response.status_code == 302, response.text[:2000]
    assert QuotaPolicy.objects.filter(user=alice, monthly_token_limit=1000).exists()

    page = administrator_client.get(f"/admin/conversations/user/{administrator.pk}/change/")
    assert page.status_code == 200
    assert 'name="is_superuser"' not in page.text and 'name="user_permissions"' not in page.text
    form = {
        "username": "adam",
        "is_active": "on",
        "is_staff": "on",
        "is_superuser": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2026-01-01",
        "initial-date_joined_1": "00:00:00",
    }
    administrator_client.post(f"/admin/conversations/user/{administrator.pk}/change/", form)
    administrator.refresh_from_db()
    assert not administrator.is_superuser


def test_the_transcript_and_my_reviews_page_are_translated(
    reviewer_client, alice_client, alices_conversation, reviewer
):
    from tests.test_i18n import ZH, untranslated

    Conversation.objects.filter(pk=alices_conversation.pk).update(title="季度计划")
    Reply.objects.filter(conversation=alices_conversation).update(
        user_input="你好", text="回答", error_detail="", reasoning_summary="想法"
    )
    page = reviewer_client.get(page_of(alices_conversation), headers=ZH).text
    transcript = page.split('id="transcript"')[1].split("</form>")[0]
    # Ids and the raw JSON of the relay are data, not interface.
    transcript = re.sub(r"<(pre|code)>.*?</\1>", "", transcript, flags=re.S)
    assert "对话记录" in transcript
    assert untranslated(transcript, also_allowed={"USD", "s"}) == []

    reviews = alice_client.get("/reviews/", headers=ZH).text
    assert "审阅" in reviews
    assert untranslated(reviews) == []
