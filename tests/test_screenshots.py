"""Produces the README's screenshots (written to docs/screenshots/ with UPDATE_SCREENSHOTS=1):
the chat (desktop and phone, English and Simplified Chinese, light and dark), the phone's
folded-out list, the login page and My usage. The content is fixed (a conversation whose
finished markdown reply comes from the fake relay), so the pictures only change when the pages
do. Each picture is checked too: the size it should have, small enough to commit, and a page
that fits its width."""

# ruff: noqa: RUF001 (Chinese text uses full-width punctuation)
import os
import re
import struct
import tempfile
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]

# The README's pictures are rewritten only when asked (UPDATE_SCREENSHOTS=1): a render is never
# byte-for-byte the same, so every run left the tree changed. Other runs shoot and check the
# same pictures in a temporary folder.
SCREENSHOTS = (
    Path(__file__).resolve().parent.parent / "docs" / "screenshots"
    if os.environ.get("UPDATE_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "chatsite-screenshots"
)
MAX_BYTES = 200_000
VIEWPORTS = {
    "desktop": {"viewport": {"width": 1200, "height": 760}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
}
LOCALES = {"en": "en-US", "zh-hans": "zh-CN"}

CONTENT = {
    "en": {
        "earlier": "Plan a two-day team offsite",
        "message": "Compare Python and Go for a small web service, with an example.",
        "reply": (
            "Both are good choices. In short:\n\n"
            "| | Python | Go |\n| --- | --- | --- |\n"
            "| Writing it | quick, many libraries | a little more code |\n"
            "| Running it | an interpreter | one static binary |\n"
            "| Concurrency | `asyncio` | goroutines |\n\n"
            "A minimal handler in Python:\n\n"
            '```python\nasync def hello(request):\n    return web.Response(text="Hello")\n```\n\n'
            "Pick **Python** if your team already knows it, **Go** if you want one file to deploy."
        ),
    },
    "zh-hans": {
        "earlier": "规划两天的团队外出活动",
        "message": "比较一下用 Python 和 Go 写一个小型 Web 服务，并给个例子。",
        "reply": (
            "两者都是不错的选择。简单来说：\n\n"
            "| | Python | Go |\n| --- | --- | --- |\n"
            "| 编写 | 快，库很多 | 代码稍多 |\n"
            "| 运行 | 需要解释器 | 一个静态二进制文件 |\n"
            "| 并发 | `asyncio` | goroutine |\n\n"
            "一个最小的 Python 处理函数：\n\n"
            '```python\nasync def hello(request):\n    return web.Response(text="你好")\n```\n\n'
            "如果团队已经熟悉 **Python** 就选它；想要只部署一个文件就选 **Go**。"
        ),
    },
}


def png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", header[16:24])


def shoot(page, name: str, viewport: str) -> Path:
    assert page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    ), f"{name}: the page is wider than the screen"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, animations="disabled", caret="hide")
    size = VIEWPORTS[viewport]["viewport"]
    assert png_size(path) == (size["width"], size["height"]), name
    assert path.stat().st_size < MAX_BYTES, f"{name}: {path.stat().st_size} bytes"
    return path


def seed_conversation(page, fake_upstream, language: str) -> str:
    """Two conversations made through the real page; returns the second one's address."""
    content = CONTENT[language]
    for message, reply in ((content["earlier"], "…"), (content["message"], content["reply"])):
        page.goto("/")
        fake_upstream.queue({"behaviour": "ok", "text": reply})
        page.locator("#message").fill(message)
        page.locator("#message").press("Enter")
        expect(page.locator("article.reply")).to_have_attribute("aria-busy", "false")
        expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    return page.url


@pytest.mark.parametrize("language", LOCALES)
def test_screenshots_of_the_chat_login_and_usage(
    language, new_browser_context, watch_page, browser_log_in, alice, fake_upstream
):
    seeding = watch_page(new_browser_context(locale=LOCALES[language], **VIEWPORTS["desktop"]))
    browser_log_in(seeding.page.context, alice)
    conversation = seed_conversation(seeding.page, fake_upstream, language)
    made = []

    for viewport, options in VIEWPORTS.items():
        for scheme in ("light", "dark"):
            context = new_browser_context(locale=LOCALES[language], color_scheme=scheme, **options)
            page = watch_page(context).page
            page.goto("/login/")
            expect(page.locator("#id_username")).to_be_visible()
            if (viewport, scheme) in {("desktop", "light"), ("phone", "dark")}:
                made.append(shoot(page, f"login-{viewport}-{language}-{scheme}", viewport))
            page.locator("#id_username").fill("alice")
            page.locator("#id_password").fill(PASSWORD)
            page.locator("form.login-form [type=submit]").click()
            expect(page.locator("#message")).to_be_visible()

            page.goto(conversation)
            expect(page.locator("article.reply .codeblock .copy-code")).to_be_visible()
            page.locator("#message").focus()
            page.evaluate("() => window.scrollTo(0, 0)")  # the title and the question in view
            made.append(shoot(page, f"chat-{viewport}-{language}-{scheme}", viewport))
            if viewport == "phone" and scheme == "light":
                page.locator(".menu-toggle").click()
                expect(page.locator("nav.sidebar")).to_be_visible()
                page.wait_for_timeout(300)  # the list's slide-in
                made.append(shoot(page, f"chat-phone-{language}-{scheme}-list", viewport))
            if (viewport, scheme) in {("desktop", "light"), ("phone", "dark")}:
                page.goto("/usage/")
                expect(page.locator("#month-tokens")).not_to_have_text("0")
                made.append(shoot(page, f"usage-{viewport}-{language}-{scheme}", viewport))

    assert len(made) == len(set(made)) == 9  # 4 chat, 1 list, 2 login, 2 usage
    assert len({path.read_bytes() for path in made}) == len(made)  # each shows something else
