"""Search where you are, in a real browser (Chromium through Playwright, the site on uvicorn):
typing in the sidebar's box shows the matching conversations in the sidebar, in place of the
list (hidden, not removed), after one request once typing pauses; the chat stays where it is.
Down arrow goes into the results, Escape or an empty box brings the list back, Enter opens the
full results page, a result opens its conversation; axe finds nothing serious meanwhile."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation
from tests.chat_helpers import conversation_of
from tests.test_accessibility import serious_violations

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]


@pytest.fixture
def conversations(alice, bob):
    conversation_of(alice, "Lunch", "Soup?", "Yes.")
    planning = conversation_of(alice, "Planning", "What is the BUDGET?", "The **budget** is 10k.")
    trips = conversation_of(
        alice, "Trips", "Where to?", "| City | Budget |\n|---|---|\n| Oslo | 2k |"
    )
    conversation_of(bob, "Bob's budget", "budget", "budget")
    return planning, trips


@pytest.fixture
def chat(new_browser_context, watch_page, browser_log_in, alice, conversations):
    """alice's page of her Lunch conversation, with the requests for live results counted."""
    context = new_browser_context()
    browser_log_in(context, alice)
    watched = watch_page(context)
    lunch = Conversation.objects.get(owner=alice, title="Lunch")
    watched.page.goto(f"/c/{lunch.pk}/")
    return watched


def live_requests(watched) -> list[str]:
    return [url for url in watched.requests if "/search/live/" in url]


def test_typing_shows_results_in_the_sidebar_without_leaving_the_chat(chat, conversations):
    page, (planning, trips) = chat.page, conversations
    box, results = page.locator("#search-box"), page.locator("#search-live .search-live-result")
    entries = page.locator("#sidebar-list .sidebar-item")
    expect(entries).to_have_count(3)
    chat_url = page.url

    box.press_sequentially("budget", delay=30)  # faster than the pause that sends

    expect(results).to_have_count(2)
    expect(page.locator("#search-live-status")).to_have_text("2 conversations found")
    expect(page.locator("#sidebar-list")).to_be_hidden()
    expect(entries).to_have_count(3)  # hidden, not removed: its live updates go on
    assert page.url == chat_url
    expect(page.locator("#transcript")).to_contain_text("Soup?")
    page.wait_for_timeout(500)
    assert live_requests(chat) == [f"{chat.page.url.split('/c/')[0]}/search/live/?q=budget"]
    expect(results.first).to_contain_text("Trips")  # the most recent first
    expect(results.first.locator("mark")).to_have_text(["Budget"])
    expect(results.first).not_to_contain_text("|")
    expect(results.nth(1).locator("mark")).to_have_text(["BUDGET"])
    expect(results.nth(1)).to_contain_text("2 matches")
    expect(results.nth(1)).to_have_attribute("href", f"/c/{planning.pk}/")
    assert "Bob" not in page.locator("#search-live").inner_text()
    assert serious_violations(page) == []

    # Down goes into the results, Up comes back; Escape brings the list back.
    box.press("ArrowDown")
    expect(results.first).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(results.nth(1)).to_be_focused()
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    expect(box).to_be_focused()
    box.press("ArrowDown")
    page.keyboard.press("Escape")
    expect(box).to_be_focused()
    expect(box).to_have_value("")
    expect(page.locator("#search-live")).to_be_hidden()
    expect(entries.first).to_be_visible()
    assert page.url == chat_url

    # Emptying the box does the same; a result opens its conversation.
    box.press_sequentially("oslo", delay=30)
    expect(results).to_have_count(1)
    box.fill("")
    expect(page.locator("#search-live")).to_be_hidden()
    expect(entries.first).to_be_visible()
    box.press_sequentially("oslo", delay=30)
    results.first.click()
    expect(page).to_have_url(re.compile(rf"/c/{trips.pk}/$"))
    assert chat.csp_violations() == []


def test_enter_opens_the_full_results_page(chat):
    page = chat.page
    box = page.locator("#search-box")
    box.press_sequentially("budget", delay=30)
    expect(page.locator("#search-live .search-live-result")).to_have_count(2)

    box.press("Enter")

    expect(page).to_have_url(re.compile(r"/search/\?q=budget$"))
    expect(page.locator(".search-result")).to_have_count(2)
    expect(page.locator(".match-count")).to_have_text(["1 match", "2 matches"])
