"""Stored XSS against reviewers: users' titles, prompts, instructions and comments, and the
model's replies and the relay's errors, are shown as text (or through the chat's safe
renderer) on every page a reviewer or administrator opens (failure-cases.md 1, 6)."""

from html.parser import HTMLParser

import pytest

from conversations.audit import record_access
from conversations.models import Conversation, Feedback, Reply
from tests.review_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert('xss')</script>"
IMG = "<img src=x onerror=alert('xss')>"
SVG = "<svg onload=alert('xss')>"
PAYLOAD = f"{SCRIPT}{IMG}{SVG}</pre></textarea><a href=\"javascript:alert('xss')\">x</a>"


class Tags(HTMLParser):
    """Every element's tag and attributes, as a browser would build them."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def dangerous(response) -> list:
    """Elements that would run script: scripts not ours (with the page's nonce or a src here),
    event handler attributes, javascript: links, frames, images but our static files."""
    nonce = response["Content-Security-Policy"].split("'nonce-")[1].split("'")[0]
    parser = Tags()
    parser.feed(response.text)
    found = []
    for tag, attrs in parser.tags:
        src = attrs.get("src") or ""
        ours = attrs.get("nonce") == nonce or (src.startswith("/") and not src.startswith("//"))
        if tag == "script" and not ours:
            if attrs.get("type") != "application/json":  # the admin's data, not code
                found.append((tag, attrs))
        if any(name.startswith("on") for name in attrs):
            found.append((tag, attrs))
        if any("javascript:" in (value or "").lower() for value in attrs.values()):
            found.append((tag, attrs))
        if tag == "iframe" or (tag == "img" and not attrs.get("src", "").startswith("/static/")):
            found.append((tag, attrs))
    return found


@pytest.fixture
def hostile_conversation(alice, reviewer):
    conversation = Conversation.objects.create(
        owner=alice, title=f"Plan {SCRIPT}", model="gpt-5.5", instructions=PAYLOAD
    )
    reply = Reply.objects.create(
        conversation=conversation,
        user=alice,
        user_input=f"question {PAYLOAD}",
        text=f"answer {PAYLOAD}\n\n[click](javascript:alert('xss')) ![i](https://evil.example/x)",
        reasoning_summary=PAYLOAD,
        refusal=PAYLOAD,
        status=Reply.Status.FAILED,
        model="gpt-5.5",
        error_code=PAYLOAD[:100],
        error_detail=PAYLOAD,
        request_params={"instructions": PAYLOAD, "model": "gpt-5.5"},
        output_items=[{"type": "message", "content": [{"text": PAYLOAD}]}],
    )
    Feedback.objects.create(reply=reply, helpful=False, comment=PAYLOAD)
    record_access(reviewer, conversation, "viewed")
    return conversation


def test_reviewers_pages_show_payloads_as_text(
    reviewer_client, superuser_client, alice_client, hostile_conversation
):
    c = hostile_conversation
    reply = c.replies.get()
    pages = {
        "list": reviewer_client.get("/admin/conversations/conversation/"),
        "search": reviewer_client.get("/admin/conversations/conversation/", {"q": "Plan"}),
        "page": reviewer_client.get(f"/admin/conversations/conversation/{c.pk}/change/"),
        "replies": reviewer_client.get("/admin/conversations/reply/"),
        "reply": reviewer_client.get(f"/admin/conversations/reply/{reply.pk}/change/"),
        "audit": superuser_client.get("/admin/conversations/reviewaccess/"),
        "my reviews": alice_client.get("/reviews/"),
    }
    for name, response in pages.items():
        assert response.status_code == 200, name
        assert dangerous(response) == [], (name, dangerous(response))
    page = pages["page"].text
    assert "Plan &lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt;" in page  # the title
    assert "question &lt;script&gt;" in page  # the user's message, as text
    assert "Image not loaded" in page  # the chat's renderer placed the image's placeholder
    assert "&lt;/pre&gt;&lt;/textarea&gt;" in page  # the raw JSON cannot close its <pre>
    assert "&lt;img src=x onerror" in page  # the feedback comment and the error detail


def test_the_transcript_goes_through_the_chats_renderer(reviewer_client, hostile_conversation):
    from conversations.rendering import render_markdown, render_plain

    reply = hostile_conversation.replies.get()
    page = reviewer_client.get(
        f"/admin/conversations/conversation/{hostile_conversation.pk}/change/"
    ).text
    assert str(render_markdown(reply.text)) in page
    assert str(render_plain(reply.user_input)) in page
