"""Feedback on replies: the owner marks a finished reply helpful or not, with an optional
comment (a form post, or htmx swapping just the control); another user's reply is a 404;
reviewers get the unhelpful ones as a queue in the admin and mark each reviewed with a note,
the only change allowed (failure-cases.md 1, 8, 13)."""

from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Conversation, Feedback, Reply, ReviewAccess
from tests.review_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db
QUEUE = "/admin/conversations/feedback/"


def finished_reply(user, title="Plans", text="An answer.", status=Reply.Status.COMPLETED):
    conversation = Conversation.objects.create(owner=user, title=title, model="gpt-5.5")
    return Reply.objects.create(
        conversation=conversation,
        user=user,
        user_input="A question",
        text=text,
        status=status,
        model="gpt-5.5",
        finished_at=timezone.now(),
    )


class FeedbackControl(HTMLParser):
    """What one reply's feedback form shows: its buttons (by text or accessible name), whether
    the comment box is there (and its text), and the status sentence."""

    def __init__(self, html: str, reply):
        super().__init__()
        self.form_id, self.inside, self.found = f"feedback-{reply.pk}", 0, False
        self.buttons, self.comment, self.status, self._in = {}, None, "", None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id") == self.form_id:
            self.inside, self.found = 1, True
        elif not self.inside:
            return
        elif tag == "form":
            self.inside += 1
        elif tag == "button":
            self._in = ("button", attrs)
            if attrs.get("aria-label"):
                self.buttons[attrs["aria-label"]] = attrs
        elif tag == "textarea" and attrs.get("name") == "comment":
            self.comment, self._in = "", ("textarea", attrs)
        elif tag == "svg" and self._in and self._in[0] == "button":
            self._in[1]["icon"] = attrs.get("class", "")
        elif attrs.get("role") == "status":
            self._in = ("status", attrs)

    def handle_endtag(self, tag):
        if self.inside and tag == "form":
            self.inside -= 1
        if self._in and tag in {"button", "textarea", "span"}:
            self._in = None

    def handle_data(self, data):
        if not self.inside or not self._in:
            return
        kind, attrs = self._in
        if kind == "textarea":
            self.comment += data
        elif kind == "status":
            self.status += data.strip()
        elif kind == "button" and data.strip() and "aria-label" not in attrs:
            self.buttons[data.strip()] = attrs

    def pressed(self) -> list[str]:
        names = ("Helpful", "Not helpful")
        return [name for name in names if self.buttons[name]["aria-pressed"] == "true"]


def test_a_reply_without_feedback_shows_two_icon_buttons_and_no_comment_box(alice, alice_client):
    reply = finished_reply(alice)

    control = FeedbackControl(alice_client.get(f"/c/{reply.conversation_id}/").text, reply)

    assert control.found
    helpful, not_helpful = control.buttons["Helpful"], control.buttons["Not helpful"]
    assert (helpful["value"], not_helpful["value"]) == ("yes", "no")
    assert "lucide-thumbs-up" in helpful["icon"] and "lucide-thumbs-down" in not_helpful["icon"]
    assert control.pressed() == []
    assert control.comment is None and "Send" not in control.buttons
    assert control.status == ""


def test_choosing_opens_the_comment_box_whose_send_keeps_the_choice(alice, alice_client):
    reply = finished_reply(alice)

    response = alice_client.post(
        f"/r/{reply.pk}/feedback/", {"helpful": "yes"}, headers={"HX-Request": "true"}
    )

    control = FeedbackControl(response.text, reply)
    assert control.pressed() == ["Helpful"]
    assert control.comment == ""
    send = control.buttons["Send"]
    assert (send["name"], send["value"]) == ("helpful", "yes")
    assert control.status == "Thank you for your feedback."

    response = alice_client.post(
        f"/r/{reply.pk}/feedback/",
        {"helpful": "yes", "comment": "Clear and short."},
        headers={"HX-Request": "true"},
    )

    control = FeedbackControl(response.text, reply)
    assert control.pressed() == ["Helpful"] and control.comment == "Clear and short."
    assert control.status == "Thank you for your feedback."
    feedback = Feedback.objects.get(reply=reply)
    assert (feedback.helpful, feedback.comment) == (True, "Clear and short.")


def test_after_a_reload_the_choice_stays_pressed_and_only_a_comment_keeps_the_box_open(
    alice, alice_client
):
    liked, disliked = finished_reply(alice, title="Liked"), finished_reply(alice, title="Disliked")
    Feedback.give(liked, True)
    Feedback.give(disliked, False, "Missed the point.")

    liked_control = FeedbackControl(alice_client.get(f"/c/{liked.conversation_id}/").text, liked)
    disliked_control = FeedbackControl(
        alice_client.get(f"/c/{disliked.conversation_id}/").text, disliked
    )

    assert liked_control.pressed() == ["Helpful"] and liked_control.comment is None
    assert liked_control.status == ""
    assert disliked_control.pressed() == ["Not helpful"]
    assert disliked_control.comment == "Missed the point."
    assert disliked_control.buttons["Send"]["value"] == "no"
    assert disliked_control.status == ""


def test_choosing_the_other_one_changes_it_and_the_same_one_again_keeps_it(alice, alice_client):
    reply = finished_reply(alice)
    htmx = {"HX-Request": "true"}
    alice_client.post(f"/r/{reply.pk}/feedback/", {"helpful": "yes"}, headers=htmx)

    changed = alice_client.post(f"/r/{reply.pk}/feedback/", {"helpful": "no"}, headers=htmx)
    assert FeedbackControl(changed.text, reply).pressed() == ["Not helpful"]
    again = alice_client.post(f"/r/{reply.pk}/feedback/", {"helpful": "no"}, headers=htmx)

    control = FeedbackControl(again.text, reply)
    assert control.pressed() == ["Not helpful"] and control.comment == ""
    assert Feedback.objects.get(reply=reply).helpful is False


def test_owner_marks_a_reply_not_helpful_with_a_comment_and_htmx_gets_the_control(
    alice, alice_client
):
    reply = finished_reply(alice)

    response = alice_client.post(
        f"/r/{reply.pk}/feedback/",
        {"helpful": "no", "comment": "  It ignored the budget.  "},
        headers={"HX-Request": "true"},
    )

    assert response.status_code == 200
    assert "<html" not in response.text
    assert f'id="feedback-{reply.pk}"' in response.text
    control = FeedbackControl(response.text, reply)
    assert control.pressed() == ["Not helpful"]
    assert control.status == "Thank you for your feedback."
    feedback = Feedback.objects.get(reply=reply)
    assert feedback.helpful is False and feedback.comment == "It ignored the budget."


def test_feedback_without_javascript_comes_back_to_the_reply_in_the_same_state(alice, alice_client):
    reply = finished_reply(alice)

    response = alice_client.post(f"/r/{reply.pk}/feedback/", {"helpful": "yes"})

    assert response.status_code == 302
    assert response["Location"] == (
        f"/c/{reply.conversation_id}/?feedback={reply.pk}#reply-{reply.pk}"
    )
    page = alice_client.get(response["Location"]).text
    control = FeedbackControl(page, reply)
    assert control.pressed() == ["Helpful"]
    assert control.comment == "" and control.buttons["Send"]["value"] == "yes"
    assert control.status == "Thank you for your feedback."
    assert page.count("Thank you for your feedback.") == 1  # by the buttons, not also on top
    assert Feedback.objects.get(reply=reply).helpful is True


def test_changing_the_vote_replaces_it_and_sends_it_back_to_the_queue(
    alice, alice_client, reviewer
):
    reply = finished_reply(alice)
    alice_client.post(f"/r/{reply.pk}/feedback/", {"helpful": "no", "comment": "Wrong."})
    Feedback.objects.get(reply=reply).mark_reviewed(reviewer, "Checked the prompt.")

    alice_client.post(f"/r/{reply.pk}/feedback/", {"helpful": "no", "comment": "Still wrong."})

    feedback = Feedback.objects.get(reply=reply)
    assert Feedback.objects.count() == 1
    assert feedback.comment == "Still wrong." and not feedback.is_reviewed
    assert feedback.reviewed_by is None


def test_the_same_feedback_again_keeps_its_review(alice, alice_client, reviewer):
    reply = finished_reply(alice)
    alice_client.post(f"/r/{reply.pk}/feedback/", {"helpful": "no"})
    Feedback.objects.get(reply=reply).mark_reviewed(reviewer, "Seen.")

    alice_client.post(f"/r/{reply.pk}/feedback/", {"helpful": "no"})

    assert Feedback.objects.get(reply=reply).is_reviewed


def test_feedback_on_another_users_reply_is_404_and_changes_nothing(alice, bob_client):
    reply = finished_reply(alice, title="Alice's secret")

    for data in [{"helpful": "no", "comment": "pwned"}, {}]:
        response = bob_client.post(f"/r/{reply.pk}/feedback/", data)
        assert response.status_code == 404
        assert "secret" not in response.text

    assert not Feedback.objects.exists()


def test_feedback_on_a_deleted_conversation_is_404(alice, alice_client):
    reply = finished_reply(alice)
    alice_client.post(f"/c/{reply.conversation_id}/delete/")

    response = alice_client.post(f"/r/{reply.pk}/feedback/", {"helpful": "yes"})

    assert response.status_code == 404
    assert not Feedback.objects.exists()


def test_feedback_needs_a_post(alice, alice_client):
    reply = finished_reply(alice)
    assert alice_client.get(f"/r/{reply.pk}/feedback/").status_code == 405


@pytest.mark.parametrize(
    "body",
    [{}, {"helpful": "maybe"}, {"helpful": "yes", "comment": "x" * 2001}],
)
@pytest.mark.parametrize("htmx", [True, False])
def test_malformed_feedback_gets_400_with_a_sentence(alice, alice_client, body, htmx):
    reply = finished_reply(alice)
    headers = {"HX-Request": "true"} if htmx else {}

    response = alice_client.post(f"/r/{reply.pk}/feedback/", body, headers=headers)

    assert response.status_code == 400
    assert 'class="form-status" role="status">' in response.text or htmx is False
    sentence = response.text.split('role="status">')[-1] if htmx else response.text
    assert any(word in sentence for word in ("Choose", "Select a valid choice", "at most"))
    assert not Feedback.objects.exists()


def test_feedback_on_a_reply_still_being_written_is_refused(alice, alice_client):
    reply = finished_reply(alice, text="Half", status=Reply.Status.IN_PROGRESS)

    response = alice_client.post(
        f"/r/{reply.pk}/feedback/", {"helpful": "yes"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 409
    assert "once the reply is finished" in response.text
    assert not Feedback.objects.exists()


def test_controls_show_on_finished_replies_only(alice, alice_client):
    done = finished_reply(alice, title="Done")
    busy = finished_reply(alice, title="Busy", text="Half", status=Reply.Status.IN_PROGRESS)

    assert f'id="feedback-{done.pk}"' in alice_client.get(f"/c/{done.conversation_id}/").text
    assert f'id="feedback-{busy.pk}"' not in alice_client.get(f"/c/{busy.conversation_id}/").text


def page_queries(client, conversation) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/c/{conversation.pk}/").status_code == 200
    return len(queries)


def test_the_chat_page_reads_feedback_in_one_query_whatever_the_number_of_replies(
    alice, alice_client
):
    conversation = finished_reply(alice).conversation
    page_queries(alice_client, conversation)  # (the first also reads the model catalogue)
    one_reply = page_queries(alice_client, conversation)
    parent = conversation.replies.get()
    for position in range(1, 6):
        parent = Reply.objects.create(
            conversation=conversation,
            user=alice,
            parent=parent,
            position=position,
            user_input=f"Question {position}",
            text=f"Answer {position}",
            status=Reply.Status.COMPLETED,
            model="gpt-5.5",
        )
        Feedback.give(parent, helpful=position % 2 == 0)

    page = alice_client.get(f"/c/{conversation.pk}/").text
    assert page.count('aria-pressed="true"') == 5
    assert page.count('name="comment"') == 0  # no comment given: no box after a reload
    assert page_queries(alice_client, conversation) == one_reply


def give(reply, helpful: bool, comment: str = "") -> Feedback:
    return Feedback.give(reply, helpful, comment)


def test_reviewers_queue_lists_unhelpful_feedback_awaiting_review_first(
    alice, bob, reviewer_client, reviewer
):
    reviewed = give(finished_reply(alice, title="Reviewed one"), False, "old")
    reviewed.mark_reviewed(reviewer, "done")
    give(finished_reply(bob, title="Waiting one"), False, "<script>alert(1)</script>")
    give(finished_reply(alice, title="Liked one"), True, "great")

    page = reviewer_client.get(QUEUE)

    assert page.status_code == 200
    assert "Waiting one" in page.text and "Reviewed one" in page.text
    assert "Liked one" not in page.text
    assert page.text.index("Waiting one") < page.text.index("Reviewed one")
    assert "<script>alert(1)" not in page.text
    waiting = reviewer_client.get(QUEUE, {"reviewed": "no"}).text
    assert "Waiting one" in waiting and "Reviewed one" not in waiting


def test_reviewer_marks_feedback_reviewed_with_a_note_and_nothing_else_changes(
    alice, reviewer_client, reviewer
):
    feedback = give(finished_reply(alice), False, "Too long.")
    url = f"{QUEUE}{feedback.pk}/change/"

    response = reviewer_client.post(
        url, {"reviewed": "on", "review_note": "Asked for a shorter answer.", "comment": "edited"}
    )

    assert response.status_code == 302
    feedback.refresh_from_db()
    assert feedback.is_reviewed and feedback.reviewed_by == reviewer
    assert feedback.review_note == "Asked for a shorter answer."
    assert feedback.comment == "Too long." and feedback.helpful is False


def test_reviewer_cannot_add_or_delete_feedback(alice, reviewer_client):
    feedback = give(finished_reply(alice), False)

    assert reviewer_client.get(f"{QUEUE}add/").status_code == 403
    assert reviewer_client.post(f"{QUEUE}{feedback.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Feedback.objects.filter(pk=feedback.pk).exists()


def test_opening_feedback_shows_the_reply_safely_and_is_recorded(alice, reviewer_client, reviewer):
    reply = finished_reply(alice, text="Look <img src=x onerror=alert(1)> **here**")
    feedback = give(reply, False)

    page = reviewer_client.get(f"{QUEUE}{feedback.pk}/change/")

    assert page.status_code == 200
    assert "<strong>here</strong>" in page.text
    assert "<img src=x" not in page.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text  # shown as text, inert
    entry = ReviewAccess.objects.get()
    assert (entry.actor, entry.owner, entry.action) == (reviewer, alice, "viewed")


def test_staff_without_the_role_cannot_open_the_queue(alice, django_user_model, client):
    give(finished_reply(alice), False)
    plain_staff = django_user_model.objects.create_user("stan", is_staff=True)
    client.force_login(plain_staff)

    assert client.get(QUEUE).status_code == 403


def test_unticking_reviewed_sends_feedback_back_to_the_queue(alice, reviewer_client, reviewer):
    feedback = give(finished_reply(alice), False, "Wrong figures.")
    feedback.mark_reviewed(reviewer, "Looked fine.")

    reviewer_client.post(f"{QUEUE}{feedback.pk}/change/", {"review_note": "Needs a second look."})

    feedback.refresh_from_db()
    assert not feedback.is_reviewed and feedback.reviewed_by is None
    assert feedback.review_note == "Needs a second look."
    assert "Wrong figures" in reviewer_client.get(QUEUE, {"reviewed": "no"}).text
