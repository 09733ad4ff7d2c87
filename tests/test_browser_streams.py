"""A tab whose reply stream was closed because its user opened too many says so in the reply,
and does not reconnect (which would close the newest tab's stream in turn)."""

import pytest
from playwright.sync_api import expect

from conversations.models import Reply

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]

REPLY = "article.reply"


def stream_requests(watched) -> list[str]:
    return [url for url in watched.requests if url.endswith("/stream/")]


def test_a_tab_closed_by_the_cap_says_so_and_does_not_reconnect(
    browser_context, watch_page, browser_log_in, alice, fake_upstream, settings
):
    settings.MAX_STREAMS_PER_USER = 1
    browser_log_in(browser_context, alice)
    first = watch_page(browser_context)
    first.page.goto("/")
    # 16 s of words: time enough for the second tab to open on a busy machine.
    text = " ".join(f"word{i}" for i in range(200))
    fake_upstream.queue({"behaviour": "ok", "text": text, "delay_ms": 80})
    box = first.page.get_by_label("Message")
    box.fill("Count for me")
    box.press("Enter")
    expect(first.page.locator(REPLY)).to_contain_text("word3")
    conversation = Reply.objects.get(user=alice).conversation

    second = watch_page(browser_context)
    second.page.goto(conversation.get_absolute_url())

    note = first.page.get_by_role("status").filter(has_text="too many tabs")
    expect(note).to_be_visible(timeout=25_000)  # the second tab's page and stream, under load
    first.page.wait_for_timeout(2500)  # htmx would have reconnected in about 0.5 s
    assert len(stream_requests(first)) == 1
    expect(second.page.locator(REPLY)).to_have_attribute("aria-busy", "false", timeout=25_000)
    expect(second.page.locator(REPLY)).to_contain_text("word199")
    assert len(stream_requests(second)) == 1
    expect(second.page.get_by_text("too many tabs")).to_have_count(0)
