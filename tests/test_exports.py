"""Exports: the owner downloads a conversation as Markdown or JSON from the chat page; other
users' exports are 404; reviewers export from the admin (one conversation as Markdown or
JSON, several as JSON lines), each export recorded in the audit record (failure-cases.md 1,
8, 10). Files are downloads, never pages, so hostile text in them stays inert."""

import json

import pytest
from django.test import Client

from conversations.models import Conversation, Feedback, Reply, ReviewAccess
from tests.review_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db
ADMIN_LIST = "/admin/conversations/conversation/"


def export_urls(conversation) -> list[str]:
    return [f"/c/{conversation.pk}/export.md", f"/c/{conversation.pk}/export.json"]


def test_owner_downloads_markdown_with_the_transcript(alice, alice_client, alices_conversation):
    response = alice_client.get(f"/c/{alices_conversation.pk}/export.md")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="quarterly-plan-')
    text = response.content.decode()
    assert text.startswith("# Quarterly plan\n")
    assert "How do we grow?" in text and "Grow **carefully**" in text
    assert text.index("How do we grow?") < text.index("And next year?")
    assert "*Failed*" in text  # the second reply's status


def test_owner_downloads_json_with_status_usage_cost_and_timings(
    alice, alice_client, alices_conversation
):
    first = alices_conversation.visible_replies().first()
    Feedback.give(first, helpful=False, comment="Too vague")

    response = alice_client.get(f"/c/{alices_conversation.pk}/export.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].endswith('.json"')
    data = json.loads(response.content)
    assert data["title"] == "Quarterly plan" and data["owner"] == "alice"
    assert [r["status"] for r in data["replies"]] == ["completed", "failed"]
    reply = data["replies"][0]
    assert reply["id"] == str(first.pk)
    assert reply["usage"]["input_tokens"] == 120 and reply["usage"]["total_tokens"] == 150
    assert reply["cost"] == "0.012500" and reply["currency"] == "USD"
    assert reply["timings"]["finished_at"] == first.finished_at.isoformat()
    assert reply["feedback"] == {"helpful": False, "comment": "Too vague"}
    assert data["replies"][1]["error"].startswith("The AI service had a problem")
    assert "error_detail" not in data["replies"][1]  # the relay's body is for reviewers only


def test_the_chat_page_links_both_exports(alice_client, alices_conversation):
    page = alice_client.get(f"/c/{alices_conversation.pk}/").text
    for url in export_urls(alices_conversation):
        assert f'href="{url}"' in page


def test_other_users_exports_are_404_and_anonymous_are_sent_to_log_in(
    alices_conversation, bob_client
):
    for url in export_urls(alices_conversation):
        response = bob_client.get(url)
        assert response.status_code == 404
        assert b"Quarterly" not in response.content and b"grow" not in response.content
        response = Client().get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_exports_of_a_deleted_conversation_are_404_for_its_owner(alice_client, alices_conversation):
    alice_client.post(f"/c/{alices_conversation.pk}/delete/")
    for url in export_urls(alices_conversation):
        assert alice_client.get(url).status_code == 404


def test_hostile_text_is_exported_as_a_download_never_a_page(alice, alice_client):
    conversation = Conversation.objects.create(
        owner=alice, title="<script>alert(1)</script>", model="gpt-5.5"
    )
    Reply.objects.create(
        conversation=conversation,
        user=alice,
        user_input="<img src=x onerror=alert(2)>",
        text="<svg onload=alert(3)>",
        status=Reply.Status.COMPLETED,
        model="gpt-5.5",
    )
    for url in export_urls(conversation):
        response = alice_client.get(url)
        assert "html" not in response["Content-Type"]
        assert response["Content-Disposition"].startswith("attachment;")
        assert response["X-Content-Type-Options"] == "nosniff"
        assert 'filename="scriptalert1script-' in response["Content-Disposition"]


def run_action(client, action: str, *conversations):
    return client.post(
        ADMIN_LIST,
        {"action": action, "_selected_action": [str(c.pk) for c in conversations]},
    )


def test_reviewer_exports_markdown_and_json_from_the_admin_and_it_is_recorded(
    alice, reviewer, reviewer_client, alices_conversation
):
    markdown = run_action(reviewer_client, "export_markdown", alices_conversation)
    as_json = run_action(reviewer_client, "export_json", alices_conversation)

    assert markdown.status_code == 200 and markdown["Content-Type"].startswith("text/markdown")
    assert "How do we grow?" in markdown.content.decode()
    assert json.loads(as_json.content)["id"] == str(alices_conversation.pk)
    entries = ReviewAccess.objects.filter(action="exported")
    assert entries.count() == 2
    assert {(e.actor, e.owner, e.conversation_id) for e in entries} == {
        (reviewer, alice, alices_conversation.pk)
    }


def test_bulk_json_lines_has_one_line_per_conversation_and_one_audit_entry_each(
    alice, bob, reviewer, reviewer_client, alices_conversation
):
    bobs = Conversation.objects.create(owner=bob, title="Bob's notes", model="gpt-5.5")
    deleted = Conversation.objects.create(owner=bob, title="Gone for bob", model="gpt-5.5")
    deleted.delete_for_owner()

    response = run_action(reviewer_client, "export_jsonl", alices_conversation, bobs, deleted)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    lines = b"".join(response.streaming_content).decode().splitlines()
    records = [json.loads(line) for line in lines]
    assert {r["id"] for r in records} == {str(c.pk) for c in (alices_conversation, bobs, deleted)}
    assert next(r for r in records if r["title"] == "Gone for bob")["deleted_at"] is not None
    entries = ReviewAccess.objects.filter(action="exported", actor=reviewer)
    assert sorted(e.conversation_id for e in entries) == sorted(
        c.pk for c in (alices_conversation, bobs, deleted)
    )


def test_exporting_ones_own_conversation_from_the_admin_is_not_recorded(superuser):
    mine = Conversation.objects.create(owner=superuser, title="Mine", model="gpt-5.5")
    client = Client()
    client.force_login(superuser)

    response = run_action(client, "export_json", mine)

    assert response.status_code == 200
    assert not ReviewAccess.objects.exists()


def test_single_exports_need_exactly_one_conversation(bob, reviewer_client, alices_conversation):
    other = Conversation.objects.create(owner=bob, title="Other", model="gpt-5.5")

    response = run_action(reviewer_client, "export_json", alices_conversation, other)

    assert response.status_code == 302
    assert not ReviewAccess.objects.exists()
    page = reviewer_client.get(response["Location"]).text
    assert "Select one conversation to export it" in page


def test_staff_without_the_role_cannot_export(alices_conversation, django_user_model):
    stan = django_user_model.objects.create_user("stan", is_staff=True)
    client = Client()
    client.force_login(stan)

    response = run_action(client, "export_jsonl", alices_conversation)

    assert response.status_code == 403
    assert not ReviewAccess.objects.exists()
