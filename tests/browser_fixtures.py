"""Fixtures for the browser tests: one Chromium per module driven by Playwright (Debian's
/usr/bin/chromium; `playwright install` cannot download browsers here), a fresh context per
test, and pages already logged in through a real session cookie on the uvicorn server."""

import os
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from django.test import Client

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")  # as scripts/check_browser.py
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser():
    """Playwright's sync API keeps its event loop marked as running in the main thread, so
    Django would refuse the test's own ORM calls (and pytest-django's flush) as "async
    context"; they are plain sync calls, so the check is lifted while the module runs (an
    environment variable: process-wide, the server thread included; other test modules
    keep the check)."""
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        playwright = sync_playwright().start()
        try:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
        finally:
            playwright.stop()


@dataclass
class Watched:
    """A page with everything it logged and requested, for assertions after the fact."""

    page: object
    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def csp_violations(self) -> list[str]:
        return [text for text in self.console if "Content Security Policy" in text]

    def foreign_requests(self, origin: str) -> list[str]:
        """Requests that left for anything but `origin` (data: URLs stay in the page)."""
        site = urlsplit(origin)
        return [
            url
            for url in self.requests
            if urlsplit(url).scheme != "data" and urlsplit(url)[:2] != site[:2]
        ]


def _open_context(browser, asgi_server, **options):
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)
    # The interface follows the browser's language: the tests read the English one.
    options = {"locale": "en-US", **options}
    context = browser.new_context(base_url=asgi_server.url, **options)
    context.set_default_timeout(TIMEOUT_MS)
    return context


def _watch(context) -> Watched:
    page = context.new_page()
    watched = Watched(page)
    page.on("console", lambda message: watched.console.append(message.text))
    page.on("request", lambda request: watched.requests.append(request.url))
    return watched


def _log_in(context, asgi_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"].value
    context.add_cookies([{"name": "sessionid", "value": cookie, "url": asgi_server.url}])


@pytest.fixture
def new_browser_context(browser, asgi_server):
    """`new_browser_context(**options)` opens a context (e.g. `java_script_enabled=False`);
    all are closed afterwards."""
    opened = []

    def open_one(**options):
        opened.append(_open_context(browser, asgi_server, **options))
        return opened[-1]

    yield open_one
    for context in opened:
        context.close()


@pytest.fixture
def browser_context(new_browser_context):
    return new_browser_context()


@pytest.fixture
def watch_page():
    """`watch_page(context)`: a new page of `context` recording console messages and requests."""
    return _watch


@pytest.fixture
def browser_log_in(asgi_server):
    """`browser_log_in(context, user)`: the context gets a logged-in user's session cookie."""
    return lambda context, user: _log_in(context, asgi_server, user)


@pytest.fixture
def watched_page(browser_context) -> Watched:
    """A fresh page of the test's context, recording console messages and requests."""
    return _watch(browser_context)


@pytest.fixture
def chat_page(browser_context, watched_page, browser_log_in, alice) -> Watched:
    """Alice's chat page (a new chat), logged in and loaded."""
    browser_log_in(browser_context, alice)
    watched_page.page.goto("/")
    return watched_page
