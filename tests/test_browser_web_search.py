"""Web search in a real browser: while the relay searches the reply says so with the query;
then the answer carries numbered marks linking to a Sources list, still there after a reload;
hostile sources stay text."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import AIModel, Reply
from tests.conftest import wait_for_reply_sync

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]


@pytest.fixture
def searching_chat(chat_page):
    AIModel.objects.update_or_create(model_id="gpt-5.5", defaults={"web_search": True})
    chat_page.page.reload()
    return chat_page


def ask(page, message: str) -> None:
    box = page.get_by_label("Message")
    box.fill(message)
    box.press("Enter")


def test_the_search_shows_its_query_then_marks_and_sources_that_survive_a_reload(
    searching_chat, fake_upstream, asgi_server, alice
):
    page = searching_chat.page
    expect(page.locator("#id_web_search")).to_have_value("auto")
    fake_upstream.queue(
        {
            "behaviour": "web_search",
            "query": "tram strike Lyon",
            "search_ms": 2000,
            "delay_ms": 30,
        }
    )
    ask(page, "Is there a tram strike in Lyon today?")

    activity = page.locator(".tool-activity")
    expect(activity).to_contain_text("Searching the web…", timeout=10_000)
    expect(activity).to_contain_text("tram strike Lyon")
    reply = page.locator("article.reply")
    expect(reply).to_have_attribute("aria-busy", "false", timeout=30_000)
    expect(page.locator(".tool-activity")).to_have_count(0)

    def check_marks_and_sources():
        marks = page.locator("article.reply .reply-body a.cite")
        expect(marks).to_have_count(3)
        expect(marks.nth(0)).to_have_text("[1]")
        sources = page.locator("article.reply .reply-sources li")
        expect(sources).to_have_count(3)
        expect(page.locator(".reply-sources h3")).to_have_text("Sources")
        first = sources.nth(0).locator("a")
        expect(first).to_have_text("Markets open higher — Example News")
        expect(first).to_have_attribute("target", "_blank")
        expect(first).to_have_attribute("rel", "noopener noreferrer nofollow")
        expect(sources.nth(0)).to_contain_text("news.example.org")
        target = marks.nth(1).get_attribute("href")
        assert re.fullmatch(r"#reply-[0-9a-f-]{36}-source-2", target)
        expect(page.locator(target)).to_contain_text("The weather this week")

    check_marks_and_sources()
    page.reload()
    check_marks_and_sources()
    assert searching_chat.foreign_requests(asgi_server.url) == []
    assert searching_chat.csp_violations() == []
    stored = wait_for_reply_sync(Reply.objects.get(user=alice).pk)
    assert len(stored.citations) == 3


def test_hostile_sources_are_text_in_the_browser(searching_chat, fake_upstream, asgi_server):
    page = searching_chat.page
    fake_upstream.queue({"behaviour": "web_search", "hostile": True, "sources": 5})
    ask(page, "Look it up")
    expect(page.locator("article.reply")).to_have_attribute("aria-busy", "false", timeout=30_000)

    sources = page.locator("article.reply .reply-sources li")
    expect(sources).to_have_count(5)
    expect(page.locator("article.reply .reply-sources a")).to_have_count(0)
    expect(sources.nth(2)).to_contain_text("evil.test")
    expect(sources.nth(3)).to_contain_text("xn--exmple-cua.com")
    expect(page.locator("article.reply .reply-body a.cite")).to_have_count(5)
    assert searching_chat.foreign_requests(asgi_server.url) == []


def test_a_generated_image_is_shown_from_the_site_itself(chat_page, fake_upstream, asgi_server):
    page = chat_page.page
    fake_upstream.queue({"behaviour": "image"})
    ask(page, "Draw a lighthouse")
    expect(page.locator("article.reply")).to_have_attribute("aria-busy", "false", timeout=30_000)

    image = page.locator("article.reply .generated-image img")
    expect(image).to_be_visible()
    assert re.fullmatch(r"/files/[0-9a-f-]{36}/", image.get_attribute("src"))
    page.wait_for_function(
        "() => document.querySelector('.generated-image img').naturalWidth === 64"
    )
    page.reload()
    expect(page.locator("article.reply .generated-image img")).to_be_visible()
    assert chat_page.foreign_requests(asgi_server.url) == []
