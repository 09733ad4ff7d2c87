"""A reviewer in a real browser (Chromium through Playwright, the site served by uvicorn): logs
in to the admin, filters the conversations to one user, opens one, reads it rendered as its
owner saw it while a hostile title and message stay text, and the visit is recorded."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Reply, ReviewAccess
from tests.conftest import PASSWORD
from tests.review_fixtures import role

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]

HOSTILE = "<img src=x onerror=\"document.title='pwned'\"><script>alert('xss')</script>"


@pytest.fixture
def conversations_to_review(alice, bob):
    alices = Conversation.objects.create(owner=alice, title=f"Plan {HOSTILE}", model="gpt-5.5")
    Reply.objects.create(
        conversation=alices,
        user=alice,
        user_input=f"Help {HOSTILE}",
        text="Grow **carefully**, see [docs](https://example.com/guide)",
        status=Reply.Status.COMPLETED,
        model="gpt-5.5",
        total_tokens=42,
    )
    Conversation.objects.create(owner=bob, title="Bob's notes", model="gpt-5.5")
    return alices


@pytest.fixture
def reviewer_with_password(django_user_model):
    user = django_user_model.objects.create_user("rita", password=PASSWORD, is_staff=True)
    user.groups.add(role("Reviewer"))
    return user


def test_a_reviewer_filters_opens_and_reads_a_conversation_and_it_is_recorded(
    browser_context, watched_page, reviewer_with_password, conversations_to_review, alice
):
    page = watched_page.page
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    page.goto("/admin/")
    page.get_by_label("Username").fill("rita")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.locator('a[href="/admin/conversations/conversation/"]').first.click()
    expect(page.locator("#result_list tbody tr")).to_have_count(2)

    filters = page.locator("#changelist-filter")
    filters.get_by_role("link", name="alice", exact=True).click()
    expect(page).to_have_url(re.compile(rf"owner__id__exact={alice.pk}"))
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"Plan {HOSTILE}")  # the title, as text

    rows.first.get_by_role("link").first.click()
    transcript = page.locator("#transcript")
    expect(transcript.locator(".review-user-text")).to_have_text(f"Help {HOSTILE}")
    expect(transcript.locator(".review-reply-body strong")).to_have_text("carefully")
    link = transcript.locator(".review-reply-body a")
    expect(link).to_have_attribute("rel", "noopener noreferrer nofollow")
    expect(transcript).to_contain_text("42")

    assert dialogs == []
    assert page.title() != "pwned"
    assert page.locator("#transcript img, #transcript script").count() == 0
    assert watched_page.csp_violations() == []
    entry = ReviewAccess.objects.get()
    assert (entry.actor, entry.owner, entry.conversation) == (
        reviewer_with_password,
        alice,
        conversations_to_review,
    )
    assert entry.action == "viewed"
