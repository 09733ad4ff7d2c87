"""The chat page and managing conversations: sidebar, titles, rename, delete with
confirmation, settings, retry, demo banner, and the page without JavaScript."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conversations.models import Conversation, Reply
from conversations.models.chat import UNDO_WINDOW
from tests.conftest import wait_for_reply_sync

pytestmark = pytest.mark.django_db


def make_conversation(user, title="", status=Reply.Status.COMPLETED, text="An answer."):
    conversation = Conversation.objects.create(owner=user, title=title, model="gpt-5.5")
    reply = Reply.objects.create(
        conversation=conversation,
        user=user,
        user_input="A question",
        text=text,
        status=status,
        model="gpt-5.5",
    )
    return conversation, reply


def test_sidebar_lists_own_conversations_newest_first(alice, bob, alice_client):
    make_conversation(alice, "Older plan")
    make_conversation(alice, "Newer plan")
    make_conversation(bob, "Bob's private notes")

    page = alice_client.get("/").text

    assert 'aria-label="Conversations"' in page
    assert page.index("Newer plan") < page.index("Older plan")
    assert "Bob&#x27;s private notes" not in page and "Bob's private notes" not in page


def test_titles_are_escaped_in_sidebar_heading_and_page_title(alice, alice_client):
    conversation, _ = make_conversation(alice, '<script>alert("t")</script><img src=x onerror=1>')

    page = alice_client.get(f"/c/{conversation.pk}/").text

    assert "<script>alert" not in page and "<img src=x" not in page
    assert (
        page.count("&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt;") >= 3
    )  # title, h1, sidebar


def test_rename_changes_the_title(alice, alice_client):
    conversation, _ = make_conversation(alice, "Old")

    response = alice_client.post(f"/c/{conversation.pk}/rename/", {"title": "  Budget 2027  "})

    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.title == "Budget 2027"
    make_conversation(alice, "Another one")
    partial = alice_client.post(
        f"/c/{conversation.pk}/rename/", {"title": "Budget 2028"}, headers={"HX-Request": "true"}
    )
    assert "Budget 2028" in partial.text and "<html" not in partial.text
    # Only its own sidebar entry, in place (not the whole list).
    target = f'<hx-partial hx-target="#sidebar-item-{conversation.pk}" hx-swap="outerHTML">'
    assert target in partial.text and "Another one" not in partial.text


def test_delete_asks_for_confirmation_then_deletes_everything(alice, alice_client, settings):
    settings.KEEP_DELETED_CONVERSATIONS = False  # removed for good (kept: see test_retention.py)
    conversation, reply = make_conversation(alice, "Doomed")

    confirm = alice_client.get(f"/c/{conversation.pk}/delete/")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    assert Conversation.objects.filter(pk=conversation.pk).exists()

    response = alice_client.post(f"/c/{conversation.pk}/delete/")

    assert response.status_code == 302 and response["Location"] == "/"
    assert not Conversation.objects.for_user(alice).filter(pk=conversation.pk).exists()
    # Only marked deleted while Undo may bring it back; once that time is over, the owner's
    # next visit (or purge_conversations) removes it.
    assert Conversation.objects.restorable(alice).filter(pk=conversation.pk).exists()
    Conversation.objects.filter(pk=conversation.pk).update(
        deleted_at=timezone.now() - UNDO_WINDOW - timedelta(seconds=1)
    )
    alice_client.get("/")
    assert not Conversation.objects.filter(pk=conversation.pk).exists()
    assert not Reply.objects.filter(pk=reply.pk).exists()


def test_settings_are_saved_for_the_next_message(alice, alice_client):
    conversation, _ = make_conversation(alice)

    response = alice_client.post(
        f"/c/{conversation.pk}/settings/",
        {
            "model": "gpt-5.5",
            "instructions": "Answer in French.",
            "temperature": "0.3",
            "top_p": "0.9",
            "max_output_tokens": "500",
            "reasoning_effort": "high",
            "reasoning_summary": "on",
            "truncation": "disabled",
        },
    )

    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.instructions == "Answer in French."
    assert (conversation.temperature, conversation.top_p, conversation.max_output_tokens) == (
        0.3,
        0.9,
        500,
    )
    assert conversation.reasoning_effort == "high" and conversation.reasoning_summary
    assert conversation.truncation == "disabled"


def test_failed_reply_says_why_and_offers_retry(alice, alice_client):
    conversation, reply = make_conversation(alice, status=Reply.Status.FAILED, text="")
    Reply.objects.filter(pk=reply.pk).update(
        error_code="rate_limited",
        error_message="The AI service is busy right now. Please wait a minute and try again.",
        error_detail="429 {'error': 'secret upstream body'}",
    )

    page = alice_client.get(f"/c/{conversation.pk}/").text

    assert "The AI service is busy right now." in page
    assert "secret upstream body" not in page
    assert f"Reference: {str(reply.pk)[:8]}" in page
    assert f'action="/r/{reply.pk}/retry/"' in page


def test_retry_resends_the_same_message_and_keeps_the_failed_one(
    alice, alice_client, asgi_server, fake_upstream
):
    conversation, failed = make_conversation(alice, status=Reply.Status.FAILED, text="")
    fake_upstream.queue({"behaviour": "ok", "text": "Second time lucky."})
    import httpx

    with httpx.Client(base_url=asgi_server.url) as client:
        client.cookies.set("sessionid", alice_client.cookies["sessionid"].value)
        client.get("/")
        response = client.post(
            f"/r/{failed.pk}/retry/",
            headers={"X-CSRFToken": client.cookies["csrftoken"], "HX-Request": "true"},
        )
    assert response.status_code == 200

    new = Reply.objects.get(retry_of=failed)
    assert wait_for_reply_sync(new.pk).text == "Second time lucky."
    failed.refresh_from_db()
    assert not failed.selected and new.selected and new.parent_id == failed.parent_id
    assert new.position == failed.position
    assert fake_upstream.requests[0]["json"]["input"] == "A question"
    assert [r.pk for r in conversation.visible_replies()] == [new.pk]


def test_generating_reply_page_refreshes_itself_without_javascript(alice, alice_client):
    conversation, reply = make_conversation(alice, status=Reply.Status.IN_PROGRESS, text="Half")
    Reply.objects.filter(pk=reply.pk).update(worker="elsewhere:1")
    from django.utils import timezone

    Reply.objects.filter(pk=reply.pk).update(heartbeat_at=timezone.now())

    page = alice_client.get(f"/c/{conversation.pk}/").text

    assert '<noscript><meta http-equiv="refresh" content="2"></noscript>' in page
    assert f'id="reply-{reply.pk}-live" hx-sse:connect="/r/{reply.pk}/stream/"' in page
    assert 'aria-busy="true"' in page and "Stop" in page


def test_demo_mode_shows_a_banner_on_every_page(alice, alice_client, settings):
    settings.DEMO_MODE = True
    conversation, _ = make_conversation(alice)
    for url in ["/", f"/c/{conversation.pk}/", f"/c/{conversation.pk}/delete/"]:
        assert "replies are simulated" in alice_client.get(url).text
    from django.test import Client

    assert "replies are simulated" in Client().get("/login/").text
    settings.DEMO_MODE = False
    assert "replies are simulated" not in alice_client.get("/").text


def test_demo_mode_replies_come_from_the_built_in_fake(alice, alice_client, asgi_server, settings):
    settings.DEMO_MODE = True
    settings.RESPONSES_API_KEY = ""
    settings.DEMO_TOKEN_DELAY_MS = 0
    import uuid

    import httpx

    with httpx.Client(base_url=asgi_server.url) as client:
        client.cookies.set("sessionid", alice_client.cookies["sessionid"].value)
        client.get("/")
        client.post(
            "/send/",
            data={
                "message": "Hello demo",
                "client_token": str(uuid.uuid4()),
                "model": "gpt-5.5",
                "truncation": "auto",
            },
            headers={"X-CSRFToken": client.cookies["csrftoken"]},
        )
    reply = wait_for_reply_sync(Reply.objects.get().pk)
    assert reply.status == Reply.Status.COMPLETED
    assert "Demo" in reply.text or "演示" in reply.text
