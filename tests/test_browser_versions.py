"""Versions of a turn in a real browser (Chromium through Playwright, the site on uvicorn, the
fake relay): regenerate, edit and resend, the "2 / 3" arrows bringing back a branch, the
next message continuing from the version shown, copying a reply's markdown, and the sentence
when a version is asked for while a reply is written. Each test checks the page, then the
database."""

import pytest
from playwright.sync_api import expect

from conversations.models import Reply
from tests.conftest import wait_for_reply_sync

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]

TURN = "section.turn"
BUSY = 'article.reply[aria-busy="true"]'


def send(page, message: str) -> None:
    """Sends from the message box and waits until the reply has been written."""
    turns = page.locator(TURN).count()
    box = page.get_by_label("Message", exact=True)
    box.fill(message)
    box.press("Enter")
    expect(page.locator(TURN)).to_have_count(turns + 1)
    expect(page.locator(BUSY)).to_have_count(0)


def turn(page, number: int):
    return page.locator(TURN).nth(number - 1)


def test_regenerate_shows_the_new_version_and_the_arrows_bring_back_the_first(
    chat_page, fake_upstream, alice
):
    page = chat_page.page
    fake_upstream.queue({"text": "The **first** answer."})
    send(page, "Tell me something")
    fake_upstream.queue({"text": "The *second* answer.", "delay_ms": 20})

    page.get_by_role("button", name="Regenerate").click()

    expect(page.locator(BUSY)).to_have_count(0)
    expect(page.locator(".reply-content")).to_have_text("The second answer.")
    versions = page.get_by_role("navigation", name="Versions of this turn")
    expect(versions).to_contain_text("2 / 2")
    expect(versions.get_by_role("button", name="Next version")).to_be_disabled()
    versions.get_by_role("button", name="Previous version").click()
    expect(page.locator(".reply-content")).to_have_text("The first answer.")
    expect(versions).to_contain_text("1 / 2")
    expect(page.locator(TURN)).to_have_count(1)
    page.reload()
    expect(page.locator(".reply-content")).to_have_text("The first answer.")
    assert chat_page.csp_violations() == []

    first, second = Reply.objects.filter(user=alice).order_by("created_at")
    assert (first.selected, second.selected) == (True, False)
    assert second.retry_of_id == first.pk and second.user_input == first.user_input
    assert len(fake_upstream.requests) == 2


def test_edit_turns_the_message_into_a_box_sends_a_new_version_and_keeps_the_old_branch(
    chat_page, fake_upstream, alice
):
    page = chat_page.page
    for message, answer in [
        ("Plan a trip", "Where to?"),
        ("To Paris", "Paris it is."),
        ("For three days", "Three days in Paris."),
    ]:
        fake_upstream.queue({"text": answer})
        send(page, message)
    second = turn(page, 2)

    second.get_by_text("Edit", exact=True).click()
    box = second.get_by_label("Edit what you said")
    expect(box).to_be_focused()
    expect(box).to_have_value("To Paris")
    expect(second.locator(".user-text")).to_be_hidden()
    box.fill("To Hangzhou")
    second.get_by_role("link", name="Cancel").click()  # first change one's mind
    expect(box).to_be_hidden()
    expect(second.locator(".user-text")).to_have_text("To Paris")
    second.get_by_text("Edit", exact=True).click()
    expect(box).to_have_value("To Paris")
    # Opening the editor moves the cursor to the end (on the toggle event, which comes a moment
    # later): filling before it would append instead of replace.
    expect(box).to_be_focused()
    box.fill("To Hangzhou")
    fake_upstream.queue({"text": "Hangzhou it is."})
    second.get_by_role("button", name="Send").click()

    expect(page.locator(BUSY)).to_have_count(0)
    expect(page.locator(TURN)).to_have_count(2)  # the third turn stays on the old branch
    expect(turn(page, 2).locator(".user-text")).to_have_text("To Hangzhou")
    expect(turn(page, 2).locator(".reply-content")).to_have_text("Hangzhou it is.")
    turn(page, 2).get_by_role("button", name="Previous version").click()
    expect(page.locator(TURN)).to_have_count(3)
    expect(turn(page, 2).locator(".user-text")).to_have_text("To Paris")
    expect(turn(page, 3).locator(".reply-content")).to_have_text("Three days in Paris.")
    expect(turn(page, 2).get_by_role("navigation")).to_contain_text("1 / 2")

    edited = Reply.objects.get(user_input="To Hangzhou")
    original = Reply.objects.get(user_input="To Paris")
    assert edited.parent_id == original.parent_id and not edited.selected and original.selected
    assert fake_upstream.requests[3]["json"]["input"] == "To Hangzhou"
    assert fake_upstream.requests[3]["json"]["previous_response_id"] == (
        Reply.objects.get(user_input="Plan a trip").upstream_id
    )


def test_a_message_sent_while_version_one_is_shown_continues_from_it(
    chat_page, fake_upstream, alice
):
    page = chat_page.page
    send(page, "A")
    send(page, "B")
    send(page, "C")
    turn(page, 2).get_by_text("Edit", exact=True).click()
    turn(page, 2).get_by_label("Edit what you said").fill("B, again")
    turn(page, 2).get_by_label("Edit what you said").press("Enter")
    expect(page.locator(TURN)).to_have_count(2)
    expect(page.locator(BUSY)).to_have_count(0)
    turn(page, 2).get_by_role("button", name="Previous version").click()
    expect(page.locator(TURN)).to_have_count(3)

    send(page, "D")

    expect(turn(page, 4).locator(".user-text")).to_have_text("D")
    expect(turn(page, 3).locator(".user-text")).to_have_text("C")
    c, d = Reply.objects.get(user_input="C"), Reply.objects.get(user_input="D")
    assert d.parent_id == c.pk
    assert fake_upstream.requests[-1]["json"]["previous_response_id"] == c.upstream_id
    page.reload()
    expect(page.locator(".user-text")).to_have_text(["A", "B", "C", "D"])


def test_copy_puts_the_replys_markdown_on_the_clipboard(chat_page, browser_context, fake_upstream):
    browser_context.grant_permissions(["clipboard-read", "clipboard-write"])
    page = chat_page.page
    source = "Use **bold** and a list:\n\n- one\n- two\n\n```python\nprint('hi')\n```"
    fake_upstream.queue({"text": source})
    send(page, "Show me markdown")

    copy = page.get_by_role("button", name="Copy the reply as Markdown")
    expect(copy).to_have_text("Copy")
    copy.click()

    expect(copy).to_have_text("Copied")
    assert page.evaluate("() => navigator.clipboard.readText()") == source
    expect(page.locator(".codeblock button.copy-code")).to_have_count(1)  # code blocks keep theirs


def test_no_version_while_a_reply_is_written_says_why(chat_page, fake_upstream, alice):
    page = chat_page.page
    send(page, "First")
    fake_upstream.queue({"behaviour": "stall_mid", "after_tokens": 2, "seconds": 30})
    box = page.get_by_label("Message", exact=True)
    box.fill("Second")
    box.press("Enter")
    expect(page.locator(BUSY)).to_have_count(1)

    turn(page, 1).get_by_text("Edit", exact=True).click()
    turn(page, 1).get_by_label("Edit what you said").fill("First, edited")
    turn(page, 1).get_by_role("button", name="Send").click()

    expect(page.locator("#composer-error")).to_contain_text("still being written")
    expect(page.locator(TURN)).to_have_count(2)
    assert not Reply.objects.filter(user_input="First, edited").exists()
    page.get_by_role("button", name="Stop").click()
    expect(page.locator(BUSY)).to_have_count(0)
    wait_for_reply_sync(Reply.objects.get(user_input="Second").pk)
