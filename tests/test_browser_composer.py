"""The composer in a real browser (Chromium through Playwright, the site under uvicorn, the fake
relay), issue 15 points 2 and 7: while a reply is written Send is Stop in the same place
(Escape stops, Enter does not send), a silent reply is said to be slow, the settings open in a
dialog that the keyboard can use, and the message box comes before the transcript for Tab."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation, Reply
from tests.conftest import wait_for_reply_sync
from tests.test_accessibility import serious_violations

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]

LAST_REPLY = "article.reply >> nth=-1"


def send(page, message: str) -> None:
    box = page.locator("#message")
    box.fill(message)
    box.press("Enter")


def composer_button(page, name: str):
    return page.locator("#composer").get_by_role("button", name=name, exact=True)


def test_send_becomes_stop_while_a_reply_is_written_and_send_again_after(
    chat_page, fake_upstream, alice
):
    page = chat_page.page
    send_button = composer_button(page, "Send")
    place = send_button.bounding_box()
    fake_upstream.queue(
        {"behaviour": "stall_mid", "after_tokens": 3, "text": "one two three four five"}
    )
    send(page, "Tell me a story")
    expect(page.locator(LAST_REPLY)).to_contain_text("three")

    stop = composer_button(page, "Stop")
    expect(stop).to_be_visible()
    expect(send_button).to_be_hidden()
    assert page.get_by_role("button", name="Stop").count() == 1  # one Stop on the page
    assert abs(stop.bounding_box()["x"] + stop.bounding_box()["width"]
               - place["x"] - place["width"]) <= 1  # fmt: skip
    assert stop.locator("svg").count() == 1

    # Enter does not send while the reply is written: the text stays, Shift+Enter still breaks.
    box = page.locator("#message")
    box.fill("A second question")
    box.press("Enter")
    box.press("Shift+Enter")
    box.press_sequentially("more")
    page.wait_for_timeout(300)
    expect(box).to_have_value("A second question\nmore")
    assert page.locator("article.reply").count() == 1
    assert len(fake_upstream.requests) == 1

    stop.click()
    expect(page.locator(LAST_REPLY)).to_have_attribute("aria-busy", "false")
    expect(page.locator(LAST_REPLY)).to_have_class(re.compile("status-cancelled"))
    expect(send_button).to_be_visible()
    expect(stop).to_be_hidden()
    assert wait_for_reply_sync(Reply.objects.get(user=alice).pk).status == "cancelled"

    # Send again: the text that waited goes now; a reply that ends by itself brings Send back.
    fake_upstream.queue({"behaviour": "ok", "text": "A short answer.", "delay_ms": 30})
    box.press("Enter")
    expect(page.locator("article.reply")).to_have_count(2)
    expect(box).to_have_value("")
    expect(page.locator(LAST_REPLY)).to_have_attribute("aria-busy", "false")
    expect(send_button).to_be_visible()
    expect(stop).to_be_hidden()


def test_escape_and_a_focused_stop_stop_the_reply_and_focus_goes_to_the_box(
    chat_page, fake_upstream, alice
):
    page = chat_page.page
    fake_upstream.queue({"behaviour": "stall_mid", "after_tokens": 2, "text": "one two three"})
    send(page, "First")
    expect(composer_button(page, "Stop")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator(LAST_REPLY)).to_have_class(re.compile("status-cancelled"))
    expect(composer_button(page, "Send")).to_be_visible()

    fake_upstream.queue({"behaviour": "stall_mid", "after_tokens": 2, "text": "one two three"})
    send(page, "Second")
    stop = composer_button(page, "Stop")
    expect(page.locator(LAST_REPLY)).to_contain_text("two")
    stop.focus()
    page.keyboard.press("Enter")
    expect(page.locator(LAST_REPLY)).to_have_class(re.compile("status-cancelled"))
    expect(page.locator("#message")).to_be_focused()
    statuses = set(Reply.objects.filter(user=alice).values_list("status", flat=True))
    assert statuses <= {"cancelled", "in_progress"}


def test_a_silent_reply_is_said_to_be_slow_beside_stop_until_text_comes(
    chat_page, fake_upstream, settings
):
    settings.REPLY_SLOW_NOTICE_SECONDS = 1.5
    settings.STREAM_KEEPALIVE_INTERVAL = 0.3  # keepalives keep coming: they are not text
    page = chat_page.page
    page.reload()
    fake_upstream.queue(
        {"behaviour": "stall_mid", "after_tokens": 2, "seconds": 4, "text": "one two three four"}
    )
    send(page, "Think hard")
    notice = page.locator("#composer-slow")
    expect(page.locator(LAST_REPLY)).to_contain_text("two")
    expect(notice).to_have_text("")
    page.wait_for_timeout(800)
    expect(notice).to_have_text("")  # not yet
    expect(notice).to_have_text("The AI service is taking longer than usual…", timeout=3000)
    expect(notice).to_have_attribute("role", "status")
    stop = composer_button(page, "Stop").bounding_box()
    box = notice.bounding_box()
    assert box["y"] + box["height"] <= stop["y"] + 1  # just above the Stop button
    assert box["x"] + box["width"] >= stop["x"] + stop["width"] - 2  # at its right edge
    # The text goes on: the notice goes; the reply ends: Send is back.
    expect(page.locator(LAST_REPLY)).to_contain_text("four", timeout=6000)
    expect(notice).to_have_text("")
    expect(page.locator(LAST_REPLY)).to_have_attribute("aria-busy", "false")
    expect(composer_button(page, "Send")).to_be_visible()


def test_the_settings_dialog_opens_from_the_keyboard_and_gives_focus_back(chat_page, fake_upstream):
    page = chat_page.page
    composer = page.locator("#composer")
    before = composer.bounding_box()
    # Under the box: the model picker and Custom instructions, nothing else.
    expect(page.get_by_label("Model", exact=True)).to_be_visible()
    expect(page.get_by_label("Temperature")).to_be_hidden()
    opener = composer.get_by_role("button", name="Custom instructions")
    expect(opener).to_have_attribute("aria-haspopup", "dialog")
    opener.focus()
    page.keyboard.press("Enter")

    dialog = page.get_by_role("dialog", name="Conversation settings")
    expect(dialog).to_be_visible()
    expect(page.get_by_label("Custom instructions")).to_be_focused()
    assert page.evaluate("() => document.activeElement.closest('dialog') !== null")
    assert composer.bounding_box() == before  # it did not push the composer up
    page.keyboard.type("Answer in one sentence.")
    dialog.get_by_text("Advanced").click()
    expect(dialog.get_by_label("Temperature")).to_be_visible()
    expect(dialog.get_by_text("Lower gives steadier, more predictable answers")).to_be_visible()
    dialog.get_by_label("Temperature").fill("0.3")
    dialog.get_by_label("Max output tokens").fill("900")
    assert serious_violations(page) == []  # axe, with the dialog open
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()
    expect(page.locator("article.reply")).to_have_count(0)  # Escape stopped nothing, sent nothing

    # What was set in the dialog goes with the next message.
    fake_upstream.queue({"behaviour": "ok", "text": "Fine."})
    send(page, "Hello")
    expect(page.locator(LAST_REPLY)).to_have_attribute("aria-busy", "false")
    sent = fake_upstream.requests[0]["json"]
    assert sent["instructions"] == "Answer in one sentence."
    assert (sent["temperature"], sent["max_output_tokens"]) == (0.3, 900)

    # Done closes it too, and focus comes back to the button that opened it.
    opener.click()
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Custom instructions")).to_have_value("Answer in one sentence.")
    dialog.get_by_role("button", name="Done").click()
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()

    # On the conversation's page, Save settings keeps them without a message.
    page.reload()
    opener.click()
    dialog.get_by_text("Advanced").click()
    expect(dialog.get_by_label("Temperature")).to_have_value("0.3")
    dialog.get_by_label("Temperature").fill("1.1")
    dialog.get_by_role("button", name="Save settings").click()
    expect(dialog.get_by_role("status")).to_have_text("Saved.")
    assert Conversation.objects.get().temperature == 1.1


def test_a_reply_cut_by_the_conversations_limit_names_it_as_it_ends(chat_page, fake_upstream):
    page = chat_page.page
    page.locator("#composer").get_by_role("button", name="Custom instructions").click()
    dialog = page.get_by_role("dialog", name="Conversation settings")
    dialog.get_by_text("Advanced").click()
    dialog.get_by_label("Max output tokens").fill("1500")
    dialog.get_by_role("button", name="Done").click()
    fake_upstream.queue(
        {"behaviour": "incomplete", "text": "one two three four five", "after_tokens": 3}
    )
    send(page, "Write a lot")
    expect(page.locator(LAST_REPLY).locator(".reply-error")).to_contain_text(
        "The reply reached the length limit set in this conversation's settings (1,500 tokens)."
    )


def test_tab_reaches_the_message_box_before_the_transcript_which_shows_above_it(
    chat_page, fake_upstream, alice
):
    page = chat_page.page
    for number in range(3):
        fake_upstream.queue({"behaviour": "ok", "text": f"Answer {number}."})
        send(page, f"Question {number}")
        expect(page.locator("article.reply")).to_have_count(number + 1)
        expect(page.locator(LAST_REPLY)).to_have_attribute("aria-busy", "false")
    conversation = Conversation.objects.get(owner=alice)
    page.goto(f"/c/{conversation.pk}/")
    page.locator(".skip-link").focus()  # the top of the page
    in_transcript = []
    for _ in range(60):
        page.keyboard.press("Tab")
        where = page.evaluate(
            "() => [document.activeElement.id, !!document.activeElement.closest('#transcript')]"
        )
        if where[0] == "message":
            break
        in_transcript.append(where[1])
    else:
        raise AssertionError("Tab never reached the message box")
    assert not any(in_transcript)
    # It is still shown below the transcript, at the bottom of the window.
    page.evaluate("() => window.scrollTo(0, document.documentElement.scrollHeight)")
    last_turn = page.locator(".turn").last.bounding_box()
    box = page.locator("#message").bounding_box()
    assert box["y"] >= last_turn["y"] + last_turn["height"]
    viewport = page.viewport_size
    composer = page.locator("#composer").bounding_box()
    assert composer["y"] + composer["height"] <= viewport["height"] + 1


def test_without_javascript_stop_and_the_settings_still_work(
    new_browser_context, watch_page, browser_log_in, alice, fake_upstream
):
    context = new_browser_context(java_script_enabled=False)
    browser_log_in(context, alice)
    page = watch_page(context).page
    page.goto("/")
    page.locator("#composer summary.settings-open").click()  # the settings fold open under the box
    page.get_by_label("Custom instructions").fill("Be brief.")
    page.get_by_text("Advanced").click()
    page.get_by_label("Temperature").fill("0.4")
    fake_upstream.queue({"behaviour": "stall_mid", "after_tokens": 2, "text": "one two three"})
    page.get_by_label("Message").fill("Hello")
    composer_button(page, "Send").click()

    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    expect(composer_button(page, "Send")).to_be_hidden()
    composer_button(page, "Stop").click()
    reply = wait_for_reply_sync(Reply.objects.get(user=alice).pk)
    assert reply.status == "cancelled"
    page.goto(page.url)
    expect(composer_button(page, "Send")).to_be_visible()
    expect(composer_button(page, "Stop")).to_be_hidden()
    sent = fake_upstream.requests[0]["json"]
    assert (sent["instructions"], sent["temperature"]) == ("Be brief.", 0.4)
