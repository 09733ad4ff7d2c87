"""The audit record: opening or exporting someone else's conversation stores who, whose, which
conversation, what and when; superusers list and filter the entries; nobody changes or deletes
one; each user sees how often (and when, not by whom) their conversations were reviewed."""

import re

import pytest
from django.test import Client

from conversations.audit import record_access
from conversations.models import Conversation, ReviewAccess
from tests.review_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db
AUDIT = "/admin/conversations/reviewaccess/"


def page_of(conversation) -> str:
    return f"/admin/conversations/conversation/{conversation.pk}/change/"


def entries() -> list[tuple]:
    return list(
        ReviewAccess.objects.order_by("pk").values_list(
            "actor__username", "owner__username", "conversation_id", "action"
        )
    )


def test_opening_someone_elses_conversation_is_recorded(
    reviewer_client, alices_conversation, administrator_client
):
    assert entries() == []
    assert reviewer_client.get(page_of(alices_conversation)).status_code == 200
    assert administrator_client.get(page_of(alices_conversation)).status_code == 200
    c = alices_conversation.pk
    assert entries() == [("rita", "alice", c, "viewed"), ("adam", "alice", c, "viewed")]
    entry = ReviewAccess.objects.order_by("pk").first()
    assert entry.conversation_title == "Quarterly plan"
    assert entry.actor_username == "rita" and entry.owner_username == "alice"
    assert entry.created_at is not None


def test_opening_a_reply_of_someone_else_is_recorded_too(reviewer_client, alices_conversation):
    reply = alices_conversation.replies.first()
    response = reviewer_client.get(f"/admin/conversations/reply/{reply.pk}/change/")
    assert response.status_code == 200
    assert entries() == [("rita", "alice", alices_conversation.pk, "viewed")]


def test_lists_and_refused_requests_record_nothing(
    reviewer_client, alices_conversation, alice_client, bob_client
):
    reviewer_client.get("/admin/conversations/conversation/")
    reviewer_client.post(page_of(alices_conversation), {"title": "x"})  # 403
    bob_client.get(page_of(alices_conversation))  # not staff: to the admin's login
    bob_client.get(f"/c/{alices_conversation.pk}/")  # 404
    alice_client.get(f"/c/{alices_conversation.pk}/")  # her own
    assert entries() == []


def test_the_owner_reading_their_own_conversation_is_not_recorded(superuser, reviewer):
    own = Conversation.objects.create(owner=superuser, title="Mine", model="gpt-5.5")
    client = Client()
    client.force_login(superuser)
    assert client.get(page_of(own)).status_code == 200
    record_access(superuser, own, "exported")
    assert entries() == []
    record_access(reviewer, own, "exported")
    assert entries() == [("rita", "sue", own.pk, "exported")]


def test_an_unknown_action_is_refused(reviewer, alices_conversation):
    with pytest.raises(ValueError):
        record_access(reviewer, alices_conversation, "deleted")
    assert entries() == []


def test_entries_outlive_the_conversation_and_the_reviewer(reviewer, alices_conversation):
    record_access(reviewer, alices_conversation, "viewed")
    conversation_id = alices_conversation.pk
    alices_conversation.delete()
    reviewer.delete()
    entry = ReviewAccess.objects.get()
    assert entry.conversation_id is None and entry.actor_id is None
    assert entry.conversation_ref == conversation_id
    assert (entry.actor_username, entry.owner_username) == ("rita", "alice")


def reviewers_listed(response) -> list[str]:
    return re.findall(r'<td class="field-actor_username">([^<]*)</td>', response.text)


def test_superusers_list_and_filter_entries(
    superuser_client, reviewer, administrator, alices_conversation
):
    record_access(reviewer, alices_conversation, "viewed")
    record_access(administrator, alices_conversation, "exported")
    listed = superuser_client.get(AUDIT)
    assert listed.status_code == 200
    assert reviewers_listed(listed) == ["adam", "rita"]
    assert "Quarterly plan" in listed.text and "Exported" in listed.text
    assert reviewers_listed(superuser_client.get(AUDIT, {"action__exact": "exported"})) == ["adam"]
    by_rita = superuser_client.get(AUDIT, {"actor__id__exact": reviewer.pk})
    assert reviewers_listed(by_rita) == ["rita"]
    assert reviewers_listed(superuser_client.get(AUDIT, {"q": "adam"})) == ["adam"]


def test_nobody_changes_or_deletes_an_entry(
    superuser_client, reviewer_client, administrator_client, reviewer, alices_conversation
):
    record_access(reviewer, alices_conversation, "viewed")
    entry = ReviewAccess.objects.get()
    for method, url in [
        ("get", f"{AUDIT}add/"),
        ("post", f"{AUDIT}add/"),
        ("post", f"{AUDIT}{entry.pk}/change/"),
        ("get", f"{AUDIT}{entry.pk}/delete/"),
        ("post", f"{AUDIT}{entry.pk}/delete/"),
    ]:
        response = getattr(superuser_client, method)(url, {"action": "exported"})
        assert response.status_code == 403, (method, url)
    # Bulk deletion from the list is not offered either.
    response = superuser_client.post(
        AUDIT, {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )
    assert ReviewAccess.objects.count() == 1
    page = superuser_client.get(f"{AUDIT}{entry.pk}/change/").text
    assert 'name="_save"' not in page and "deletelink" not in page
    # Reviewers and administrators do not even see the record.
    for client in (reviewer_client, administrator_client):
        assert client.get(AUDIT).status_code == 403
        assert client.get(f"{AUDIT}{entry.pk}/change/").status_code == 403
    # And the model refuses a change or a deletion from code too.
    entry.action = "exported"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    assert ReviewAccess.objects.get().action == "viewed"


def test_my_reviews_page_shows_count_and_dates_but_not_who(
    alice_client, bob_client, reviewer, administrator, alices_conversation
):
    record_access(reviewer, alices_conversation, "viewed")
    record_access(administrator, alices_conversation, "exported")
    page = alice_client.get("/reviews/")
    assert page.status_code == 200
    assert "Times your conversations were reviewed: 2" in page.text
    assert page.text.count("Quarterly plan") == 2
    assert "Viewed" in page.text and "Exported" in page.text
    assert "rita" not in page.text and "adam" not in page.text
    bobs = bob_client.get("/reviews/").text
    assert "were reviewed: 0" in bobs and "Quarterly plan" not in bobs


def test_my_reviews_is_linked_next_to_my_usage(alice_client):
    page = alice_client.get("/").text
    assert 'href="/reviews/"' in page
    assert page.index('href="/usage/"') < page.index('href="/reviews/"')


def test_my_reviews_needs_a_login():
    response = Client().get("/reviews/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
