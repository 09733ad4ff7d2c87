"""The reviewers' feedback queue in the admin, as a reviewer works through it: the model of each
reply in its column, feedback called by its conversation, owner and date (not a bare id), the
"Reviewed" box showing the true state (so Save marks a feedback reviewed only when ticked),
filters, search, the way to the reply's turn in the conversation, and the record of it all."""

import datetime
import html
import re

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.test import Client
from django.utils import timezone, translation

from conversations.models import Conversation, Feedback, Reply, ReviewAccess
from tests.review_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db
QUEUE = "/admin/conversations/feedback/"
GIVEN = datetime.datetime(2026, 12, 6, 15, 30, tzinfo=datetime.UTC)


def unhelpful(user, title="Quarterly plan", model="gpt-5.5", comment="Too vague.") -> Feedback:
    conversation = Conversation.objects.create(owner=user, title=title, model=model)
    reply = Reply.objects.create(
        conversation=conversation,
        user=user,
        user_input="How do we grow?",
        text="Grow **carefully**.",
        status=Reply.Status.COMPLETED,
        model=model,
        finished_at=timezone.now(),
    )
    feedback = Feedback.give(reply, False, comment)
    Feedback.objects.filter(pk=feedback.pk).update(created_at=GIVEN)
    feedback.refresh_from_db()
    return feedback


def change_page(feedback) -> str:
    return f"{QUEUE}{feedback.pk}/change/"


def reviewed_box(page_text: str) -> str:
    """The "Reviewed" checkbox's tag."""
    return re.search(r'<input type="checkbox" name="reviewed"[^>]*>', page_text).group(0)


def test_the_model_column_shows_each_replys_model(alice, bob, reviewer_client):
    unhelpful(alice, model="gpt-5.5")
    unhelpful(bob, title="Offsite", model="gpt-5-mini")

    page = reviewer_client.get(QUEUE).text

    assert '<td class="field-reply_model">gpt-5.5</td>' in page
    assert '<td class="field-reply_model">gpt-5-mini</td>' in page
    assert "- None" not in page
    header = re.search(
        r'<th scope="col" class="[^"]*column-reply_model[^"]*">(.*?)</th>', page, re.S
    )
    assert ">Model<" in header.group(1)


def test_feedback_is_called_by_its_conversation_owner_and_date(alice, reviewer_client):
    feedback = unhelpful(alice)

    assert str(feedback) == "Feedback on “Quarterly plan” by alice, Dec. 6, 2026"
    page = html.unescape(reviewer_client.get(change_page(feedback)).text)
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert title.startswith("Feedback on “Quarterly plan” by alice, Dec. 6, 2026 | Review feedback")
    assert "<h2>Feedback on “Quarterly plan” by alice, Dec. 6, 2026</h2>" in page
    assert str(feedback.pk) not in title


def test_the_title_is_translated(alice, reviewer_client):
    feedback = unhelpful(alice)

    with translation.override("zh-hans"):
        assert str(feedback) == "alice 于 2026年12月6日 对“Quarterly plan”的反馈"
    page = reviewer_client.get(change_page(feedback), HTTP_ACCEPT_LANGUAGE="zh-CN").text
    assert "审阅反馈" in page and "alice 于 2026年12月6日 对“Quarterly plan”的反馈" in page


def test_reviewed_is_unticked_until_the_feedback_is_reviewed(alice, reviewer_client, reviewer):
    feedback = unhelpful(alice)

    assert "checked" not in reviewed_box(reviewer_client.get(change_page(feedback)).text)

    feedback.mark_reviewed(reviewer, "Fine.")
    assert "checked" in reviewed_box(reviewer_client.get(change_page(feedback)).text)


def test_saving_without_ticking_keeps_it_in_the_queue(alice, reviewer_client):
    feedback = unhelpful(alice)
    page = reviewer_client.get(change_page(feedback)).text
    # What the browser sends for the page as it opened: the box as shown, a note typed.
    form = {"review_note": "Asked the owner for details."}
    if "checked" in reviewed_box(page):
        form["reviewed"] = "on"

    response = reviewer_client.post(change_page(feedback), form)

    assert response.status_code == 302
    feedback.refresh_from_db()
    assert not feedback.is_reviewed and feedback.reviewed_by is None
    assert feedback.review_note == "Asked the owner for details."
    assert "Quarterly plan" in reviewer_client.get(QUEUE, {"reviewed": "no"}).text


def test_ticking_marks_it_reviewed_and_the_history_says_so(alice, reviewer_client, reviewer):
    feedback = unhelpful(alice)

    reviewer_client.post(change_page(feedback), {"reviewed": "on", "review_note": "Fine."})

    feedback.refresh_from_db()
    assert feedback.is_reviewed and feedback.reviewed_by == reviewer
    entry = LogEntry.objects.get(object_id=str(feedback.pk))
    assert entry.user == reviewer
    assert entry.object_repr == "Feedback on “Quarterly plan” by alice, Dec. 6, 2026"
    assert "Reviewed" in entry.get_change_message()


def test_saving_a_reviewed_one_again_keeps_its_reviewer_and_date(
    alice, reviewer, administrator_client
):
    feedback = unhelpful(alice)
    feedback.mark_reviewed(reviewer, "Fine.")
    reviewed_at = feedback.reviewed_at

    administrator_client.post(change_page(feedback), {"reviewed": "on", "review_note": "Fine."})
    feedback.refresh_from_db()
    assert (feedback.reviewed_by, feedback.reviewed_at) == (reviewer, reviewed_at)

    administrator_client.post(
        change_page(feedback), {"reviewed": "on", "review_note": "Fine; owner told."}
    )
    feedback.refresh_from_db()
    assert (feedback.reviewed_by, feedback.reviewed_at) == (reviewer, reviewed_at)
    assert feedback.review_note == "Fine; owner told."


def test_the_page_shows_the_reply_in_the_transcripts_style_and_the_review_state(
    alice, reviewer_client, reviewer
):
    feedback = unhelpful(alice)
    feedback.mark_reviewed(reviewer, "Fine.")

    page = reviewer_client.get(change_page(feedback)).text

    assert '<div class="review-reply-body markdown"><p>Grow <strong>carefully</strong>.</p>' in page
    assert '<div class="review-user-text">How do we grow?</div>' in page
    assert "Reviewed on" in page and ">rita<" in page
    # What reviewers may not change is shown, not offered as a field.
    for field in ("comment", "helpful", "reply", "reviewed_by", "reviewed_at", "created_at"):
        assert f'name="{field}"' not in page


def test_the_conversation_link_opens_the_replys_turn_in_the_transcript(alice, reviewer_client):
    feedback = unhelpful(alice)

    page = reviewer_client.get(change_page(feedback)).text

    url = f"/admin/conversations/conversation/{feedback.reply.conversation_id}/change/"
    assert f'<a href="{url}#review-turn-{feedback.reply_id}">Quarterly plan</a>' in page
    transcript = reviewer_client.get(url).text
    assert f'id="review-turn-{feedback.reply_id}"' in transcript
    assert ReviewAccess.objects.filter(action="viewed").count() == 2  # each page, once


def test_filters_and_search_find_the_feedback(alice, bob, reviewer_client):
    unhelpful(alice, title="Quarterly plan", model="gpt-5.5", comment="Numbers are wrong")
    unhelpful(bob, title="Offsite", model="gpt-5-mini", comment="Too long")

    def listed(**query) -> str:
        return reviewer_client.get(QUEUE, query).text

    filters = listed()
    for title in ("review", "date given", "model", "owner"):
        assert re.search(rf"By\s+{title}\s", filters), title
    by_model = listed(reply__model="gpt-5-mini")
    assert "Offsite" in by_model and "Quarterly plan" not in by_model
    by_owner = listed(reply__user__id__exact=alice.pk)
    assert "Quarterly plan" in by_owner and "Offsite" not in by_owner
    assert "Quarterly plan" not in listed(q="Too long")
    assert "Offsite" in listed(q="bob") and "Quarterly plan" not in listed(q="bob")


def test_staff_who_may_only_view_read_the_state_without_a_box(alice, reviewer, django_user_model):
    feedback = unhelpful(alice)
    feedback.mark_reviewed(reviewer, "Fine.")
    viewer = django_user_model.objects.create_user("vera", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_feedback"))
    client = Client()
    client.force_login(viewer)

    page = client.get(change_page(feedback)).text

    assert 'name="reviewed"' not in page and 'name="review_note"' not in page
    assert "Reviewed on" in page and "Fine." in page
    response = client.post(change_page(feedback), {"review_note": "Changed"})
    assert response.status_code == 403
    feedback.refresh_from_db()
    assert feedback.review_note == "Fine." and feedback.is_reviewed


@pytest.mark.parametrize("page", ["feedback", "conversation", "reply"])
def test_a_reviewer_meets_no_link_they_may_not_follow(alice, reviewer_client, page):
    """No "View on site" (the owner's own page, a 404 for a reviewer), and the owner is a name
    rather than a link to the user admin, which reviewers may not open."""
    feedback = unhelpful(alice)
    url = change_page(feedback)
    if page == "conversation":
        url = f"/admin/conversations/conversation/{feedback.reply.conversation_id}/change/"
    elif page == "reply":
        url = f"/admin/conversations/reply/{feedback.reply_id}/change/"

    text = reviewer_client.get(url).text

    assert "viewsitelink" not in text
    links = set(re.findall(r'href="(/[^"#]*)', text)) - {url}
    assert any("/admin/conversations/" in link for link in links)
    for link in links:
        assert reviewer_client.get(html.unescape(link), follow=True).status_code == 200, link


def test_an_administrator_still_gets_the_owners_user_page(alice, administrator_client):
    conversation = unhelpful(alice).reply.conversation

    text = administrator_client.get(
        f"/admin/conversations/conversation/{conversation.pk}/change/"
    ).text

    assert f'href="/admin/conversations/user/{alice.pk}/change/">alice</a>' in text
