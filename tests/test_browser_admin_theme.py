"""The admin in the product's clothes, in Chromium: its name and logo in the header, the chat's
colours (static/css/app.css) in light and in dark, following the system or Django's theme
switch, which keeps working (the review transcript's code blocks follow it too); text has
enough contrast (axe) in both themes; both languages."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from conversations.models import Conversation, Feedback, Reply
from tests.review_fixtures import *  # noqa: F403

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]

# The chat's accent and its dark navy (app.css: --accent, and --user-bubble in dark).
LIGHT = {"header": "rgb(31, 95, 191)", "link": "rgb(31, 95, 191)", "body": "rgb(255, 255, 255)"}
DARK = {"header": "rgb(36, 48, 73)", "link": "rgb(122, 167, 255)", "body": "rgb(22, 24, 28)"}
CODE_BACKGROUND = {"light": "rgb(248, 248, 248)", "dark": "rgb(13, 17, 23)"}  # Pygments' styles


@pytest.fixture
def reviewed_conversation(alice):
    conversation = Conversation.objects.create(owner=alice, title="Quarterly plan", model="m")
    reply = Reply.objects.create(
        conversation=conversation,
        user=alice,
        user_input="How do we grow?",
        text="Grow **carefully**:\n\n```python\ndef grow(x):\n    return x * 2\n```",
        status=Reply.Status.COMPLETED,
        model="m",
    )
    Feedback.give(reply, False, "Too vague.")
    return conversation


def expect_colours(page, expected: dict[str, str], link: str = ".field-owner a") -> None:
    """The header's background, the colour of the `link` and the page's background (waiting
    out the admin's short colour transitions)."""
    expect(page.locator("#header")).to_have_css("background-color", expected["header"])
    expect(page.locator(link).first).to_have_css("color", expected["link"])
    expect(page.locator("body")).to_have_css("background-color", expected["body"])


def code_background(page) -> str:
    return page.locator(".review-reply-body .codeblock").evaluate(
        "block => getComputedStyle(block).backgroundColor"
    )


def contrast_violations(page) -> list[str]:
    results = Axe().run(page, options={"runOnly": ["color-contrast"]}).response
    return [str(node["target"]) for rule in results["violations"] for node in rule["nodes"]]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_admin_wears_the_products_name_logo_and_colours(
    new_browser_context, watch_page, browser_log_in, superuser, reviewed_conversation, scheme
):
    context = new_browser_context(color_scheme=scheme)
    browser_log_in(context, superuser)
    watched = watch_page(context)
    page = watched.page
    expected = LIGHT if scheme == "light" else DARK

    feedback = reviewed_conversation.replies.get().feedback
    transcript = f"/admin/conversations/conversation/{reviewed_conversation.pk}/change/"
    for url, link in [
        ("/admin/", "#usage-reports a"),
        ("/admin/conversations/feedback/", "#result_list tbody a"),
        (f"/admin/conversations/feedback/{feedback.pk}/change/", ".field-conversation_link a"),
        ("/admin/usage/", ".usage-range a"),
        (transcript, ".field-owner a"),
    ]:
        page.goto(url)
        brand = page.locator("#site-name a")
        expect(brand).to_have_text("Chat workspace Admin")
        expect(brand.locator("svg.site-logo")).to_be_visible()
        expect_colours(page, expected, link)
        assert contrast_violations(page) == [], url
        assert page.title().endswith(" | Chat workspace Admin")
    assert code_background(page) == CODE_BACKGROUND[scheme]  # the transcript's, last
    assert watched.csp_violations() == []


def test_the_theme_switch_changes_the_colours_and_the_code_blocks_and_is_remembered(
    new_browser_context, watch_page, browser_log_in, superuser, reviewed_conversation
):
    context = new_browser_context(color_scheme="light")
    browser_log_in(context, superuser)
    page = watch_page(context).page
    page.goto(f"/admin/conversations/conversation/{reviewed_conversation.pk}/change/")
    expect_colours(page, LIGHT)
    assert code_background(page) == CODE_BACKGROUND["light"]

    page.locator("#user-tools .theme-toggle").click()  # auto (light here) -> dark
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    expect_colours(page, DARK)
    assert code_background(page) == CODE_BACKGROUND["dark"]
    keyword = page.locator(".review-reply-body .codeblock .k").first
    assert keyword.evaluate("k => getComputedStyle(k).color") == "rgb(255, 123, 114)"  # github-dark
    assert contrast_violations(page) == []

    page.reload()
    expect_colours(page, DARK)

    page.locator("#user-tools .theme-toggle").click()  # dark -> light
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    expect_colours(page, LIGHT)
    assert code_background(page) == CODE_BACKGROUND["light"]


def test_a_dark_system_switched_to_light_gets_the_light_colours(
    new_browser_context, watch_page, browser_log_in, superuser, reviewed_conversation
):
    context = new_browser_context(color_scheme="dark")
    browser_log_in(context, superuser)
    page = watch_page(context).page
    page.goto(f"/admin/conversations/conversation/{reviewed_conversation.pk}/change/")
    expect_colours(page, DARK)

    page.locator("#user-tools .theme-toggle").click()  # auto (dark here) -> light
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    expect_colours(page, LIGHT)
    assert code_background(page) == CODE_BACKGROUND["light"]
    assert contrast_violations(page) == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_login_page_and_chinese_pages_are_branded_too(
    new_browser_context, watch_page, browser_log_in, superuser, scheme
):
    context = new_browser_context(color_scheme=scheme, locale="zh-CN")
    page = watch_page(context).page
    page.goto("/admin/login/")
    expect(page.locator("#site-name a")).to_have_text("聊天工作台 管理后台")
    expect(page.locator(".theme-toggle")).to_be_visible()  # logged out, the switch is there too
    assert contrast_violations(page) == []

    browser_log_in(context, superuser)
    page.goto("/admin/")
    expect(page.locator("#site-name a")).to_have_text("聊天工作台 管理后台")
    expect_colours(page, LIGHT if scheme == "light" else DARK, "#usage-reports a")
