"""Feedback buttons in a real browser (Chromium through Playwright, the site on uvicorn, the
fake relay): they appear when a streamed reply finishes, htmx swaps just the control (no page
load), the chosen one looks chosen (pressed, filled) also after a reload, choosing again
changes it, the comment box opens after choosing and grows with its text, and without
JavaScript the same buttons post the form and the page shows the same state."""

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

    page.get_by_label("Add a comment (optional)").fill("Too short for me.")
    with page.expect_response(lambda r: "/feedback/" in r.url and r.request.method == "POST"):
        page.get_by_role("button", name="Send", exact=True).and_(
            page.locator(".feedback button")
        ).click()

    expect(page.get_by_label("Add a comment (optional)")).to_have_value("Too short for me.")
    assert page.evaluate("() => window.stillTheSamePage") is True
    feedback = Feedback.objects.get(reply=reply)
    assert (feedback.helpful, feedback.comment) == (False, "Too short for me.")
    assert chat_page.csp_violations() == []


def finished_reply(user) -> Reply:
    conversation = Conversation.objects.create(owner=user, title="Plans", model="gpt-5.5")
    return Reply.objects.create(
        conversation=conversation,
        user=user,
        user_input="A question",
        text="An answer.",
        status=Reply.Status.COMPLETED,
        model="gpt-5.5",
        finished_at=timezone.now(),
    )


LOOK = """button => ({
    background: getComputedStyle(button).backgroundColor,
    iconFill: getComputedStyle(button.querySelector("svg")).fill,
})"""


def look(button) -> dict:
    return button.evaluate(LOOK)


def comment_box_height(box) -> float:
    return box.evaluate("box => box.getBoundingClientRect().height")


@pytest.mark.parametrize("growing", ["css", "script"])
def test_the_choice_looks_chosen_after_a_reload_changes_and_takes_a_growing_comment(
    new_browser_context, watch_page, browser_log_in, alice, growing
):
    """`script`: a browser without CSS `field-sizing` (Chromium told so, and the box's
    `field-sizing` overridden by a constructed style sheet), where feedback.js grows it."""
    reply = finished_reply(alice)
    context = new_browser_context()
    browser_log_in(context, alice)
    if growing == "script":
        context.add_init_script(
            "const supports = CSS.supports.bind(CSS);"
            "CSS.supports = (...args) =>"
            "  !String(args[0]).startsWith('field-sizing') && supports(...args);"
            "const sheet = new CSSStyleSheet();"
            "sheet.replaceSync('.feedback-comment textarea { field-sizing: fixed !important; }');"
            "document.adoptedStyleSheets = [sheet];"
        )
    watched = watch_page(context)
    page = watched.page
    page.goto(f"/c/{reply.conversation_id}/")
    helpful = page.get_by_role("button", name="Helpful", exact=True)
    not_helpful = page.get_by_role("button", name="Not helpful")
    comment = page.get_by_label("Add a comment (optional)")
    expect(helpful).to_have_attribute("aria-pressed", "false")
    expect(not_helpful).to_have_attribute("aria-pressed", "false")
    expect(comment).to_have_count(0)  # the box comes after choosing
    unpressed = look(helpful)
    assert unpressed["iconFill"] == "none"
    status = page.locator(".feedback [role=status]")
    status.evaluate("live => { live.stayed = true; }")

    helpful.click()

    expect(helpful).to_have_attribute("aria-pressed", "true")
    expect(not_helpful).to_have_attribute("aria-pressed", "false")
    expect(status).to_have_text("Thank you for your feedback.")
    # the same live region, its text changed: screen readers hear the thanks
    assert status.evaluate("live => live.stayed") is True
    expect(comment).to_be_visible()
    pressed = look(helpful)
    assert pressed["background"] != unpressed["background"]  # a fill, not just an outline
    assert pressed["iconFill"] != "none"  # the thumb itself filled
    assert look(not_helpful) == unpressed
    assert page.evaluate("() => document.activeElement.getAttribute('aria-label')") == "Helpful"
    assert Feedback.objects.get(reply=reply).helpful is True

    page.reload()

    expect(helpful).to_have_attribute("aria-pressed", "true")
    assert look(helpful) == pressed
    expect(comment).to_have_count(0)  # nothing written: the box closed again
    page.evaluate("() => { window.stillTheSamePage = true; }")

    not_helpful.click()

    expect(not_helpful).to_have_attribute("aria-pressed", "true")
    expect(helpful).to_have_attribute("aria-pressed", "false")
    assert look(not_helpful) == pressed and look(helpful) == unpressed
    expect(comment).to_be_visible()
    assert Feedback.objects.get(reply=reply).helpful is False
    reply_width = page.locator(f"#reply-{reply.pk}").evaluate("e => e.clientWidth")
    assert comment.evaluate("box => box.getBoundingClientRect().width") >= reply_width - 1
    if growing == "script":
        assert comment.evaluate("box => getComputedStyle(box).fieldSizing") == "fixed"
    empty = comment_box_height(comment)
    comment.fill("It ignored the budget.\nAnd the deadline.\nAnd the team.\nAnd the office.")
    four_lines = comment_box_height(comment)
    assert four_lines > empty + 20
    comment.fill("\n".join(f"Line {n}" for n in range(60)))
    many_lines = comment_box_height(comment)
    assert four_lines < many_lines < 20 * 16  # up to a limit, then it scrolls
    assert comment.evaluate("box => box.scrollHeight > box.clientHeight")
    text = "It ignored the budget.\nAnd the deadline."
    comment.fill(text)

    with page.expect_response(lambda r: "/feedback/" in r.url and r.request.method == "POST"):
        page.locator(".feedback-comment").get_by_role("button", name="Send").click()

    expect(page.locator(".feedback [role=status]")).to_have_text("Thank you for your feedback.")
    expect(not_helpful).to_have_attribute("aria-pressed", "true")
    expect(comment).to_have_value(text)
    feedback = Feedback.objects.get(reply=reply)
    assert (feedback.helpful, feedback.comment) == (False, text)
    assert page.evaluate("() => window.stillTheSamePage") is True
    page.reload()
    expect(comment).to_have_value(text)  # a written comment keeps its box, to change it
    expect(not_helpful).to_have_attribute("aria-pressed", "true")
    assert watched.csp_violations() == []


def test_feedback_works_without_javascript(new_browser_context, watch_page, browser_log_in, alice):
    reply = finished_reply(alice)
    conversation = reply.conversation
    context = new_browser_context(java_script_enabled=False)
    browser_log_in(context, alice)
    page = watch_page(context).page
    page.goto(f"/c/{conversation.pk}/")

    page.get_by_role("button", name="Helpful", exact=True).click()

    expect(page).to_have_url(
        re.compile(rf"/c/{conversation.pk}/\?feedback={reply.pk}#reply-{reply.pk}$")
    )
    expect(page.get_by_text("Thank you for your feedback.")).to_be_visible()
    expect(page.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    assert Feedback.objects.get(reply=reply).helpful is True

    page.get_by_label("Add a comment (optional)").fill("Short and right.")
    page.locator(".feedback-comment").get_by_role("button", name="Send").click()

    expect(page.get_by_label("Add a comment (optional)")).to_have_value("Short and right.")
    expect(page.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    page.get_by_role("button", name="Not helpful").click()

    expect(page.get_by_role("button", name="Not helpful")).to_have_attribute("aria-pressed", "true")
    feedback = Feedback.objects.get(reply=reply)
    assert (feedback.helpful, feedback.comment) == (False, "Short and right.")
