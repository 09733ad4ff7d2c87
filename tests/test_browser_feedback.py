"""Feedback buttons in a real browser (Chromium through Playwright, the site on uvicorn, the
fake relay): they appear when a streamed reply finishes, htmx swaps just the control (no page
load), a comment goes with the vote, and without JavaScript the same buttons post the form."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import Conversation, Feedback, Reply
from tests.conftest import wait_for_reply_sync

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]


def test_feedback_buttons_swap_just_the_control_and_store_the_comment(
    chat_page, fake_upstream, alice
):
    page = chat_page.page
    fake_upstream.queue({"behaviour": "ok", "text": "Paris is the capital of France."})
    box = page.get_by_label("Message")
    box.fill("Capital of France?")
    box.press("Enter")
    expect(page.locator("article.reply")).to_have_attribute("aria-busy", "false")
    reply = wait_for_reply_sync(Reply.objects.get(user=alice).pk)
    page.evaluate("() => { window.stillTheSamePage = true; }")

    not_helpful = page.get_by_role("button", name="Not helpful")
    not_helpful.click()

    expect(
        page.get_by_role("status").filter(has_text="Thank you for your feedback.")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Not helpful")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "false"
    )
    assert Feedback.objects.get(reply=reply).helpful is False

    page.get_by_text("Add a comment").click()
    page.get_by_label(re.compile("Comment")).fill("Too short for me.")
    with page.expect_response(lambda r: "/feedback/" in r.url and r.request.method == "POST"):
        page.get_by_role("button", name="Not helpful").click()

    expect(page.get_by_label(re.compile("Comment"))).to_have_value("Too short for me.")
    assert page.evaluate("() => window.stillTheSamePage") is True
    feedback = Feedback.objects.get(reply=reply)
    assert (feedback.helpful, feedback.comment) == (False, "Too short for me.")
    assert chat_page.csp_violations() == []


def test_feedback_works_without_javascript(new_browser_context, watch_page, browser_log_in, alice):
    conversation = Conversation.objects.create(owner=alice, title="Plans", model="gpt-5.5")
    reply = Reply.objects.create(
        conversation=conversation,
        user=alice,
        user_input="A question",
        text="An answer.",
        status=Reply.Status.COMPLETED,
        model="gpt-5.5",
        finished_at=timezone.now(),
    )
    context = new_browser_context(java_script_enabled=False)
    browser_log_in(context, alice)
    page = watch_page(context).page
    page.goto(f"/c/{conversation.pk}/")

    page.get_by_role("button", name="Helpful", exact=True).click()

    expect(page).to_have_url(re.compile(rf"/c/{conversation.pk}/#reply-{reply.pk}$"))
    expect(page.get_by_text("Thank you for your feedback.")).to_be_visible()
    expect(page.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    assert Feedback.objects.get(reply=reply).helpful is True
