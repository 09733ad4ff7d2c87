"""Accessibility checks by axe-core (bundled in axe-playwright-python: no network) in Chromium:
the login page, the chat (empty, with a finished reply with code and a table, its feedback
chosen, with a failed reply) and My usage, in both languages and both colour schemes.
Violations of serious or critical impact fail, colour contrast (WCAG AA) included."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from conversations.models import Reply
from tests.conftest import PASSWORD, wait_for_reply_sync

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]

LOCALES = {"en": "en-US", "zh-hans": "zh-CN"}
FAILING = {"serious", "critical"}
# WCAG 2.x A and AA rules, and axe's best practices (landmarks, headings, regions).
OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"]}}

FINISHED_REPLY = """Here is a **summary** with `inline code` and a [link](https://example.com/docs).

| Name | Tokens |
| --- | ---: |
| 输入 | 1,024 |
| Output | 512 |

```python
def greet(name):
    return f"Hello, {name}!"  # a comment
```

> A quoted line, and a list:

1. first
2. second
"""


def serious_violations(page) -> list[str]:
    results = Axe().run(page, options=OPTIONS).response
    assert any(rule["id"] == "color-contrast" for rule in results["passes"] + results["violations"])
    return [
        f"{rule['id']} ({rule['impact']}): {node['target']} {node.get('failureSummary', '')}"
        for rule in results["violations"]
        if rule["impact"] in FAILING
        for node in rule["nodes"]
    ]


def send_and_wait(page, message: str) -> None:
    before = page.locator("article.reply").count()
    page.locator("#message").fill(message)
    page.locator("#message").press("Enter")
    expect(page.locator("article.reply")).to_have_count(before + 1)
    expect(page.locator("article.reply").last).to_have_attribute("aria-busy", "false")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("language", LOCALES)
def test_pages_have_no_serious_accessibility_violations(
    language, scheme, new_browser_context, watch_page, alice, fake_upstream
):
    context = new_browser_context(locale=LOCALES[language], color_scheme=scheme)
    page = watch_page(context).page
    found = {}

    page.goto("/login/")
    found["login"] = serious_violations(page)
    page.locator("#id_username").fill("alice")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("form.login-form [type=submit]").click()
    expect(page.locator("#message")).to_be_visible()
    found["empty chat"] = serious_violations(page)

    fake_upstream.queue({"behaviour": "ok", "text": FINISHED_REPLY})
    send_and_wait(page, "Summarise, with a table and some code")
    expect(page.locator("article.reply .codeblock button.copy-code")).to_be_visible()
    found["finished reply"] = serious_violations(page)
    page.locator(".feedback button[value=yes]").click()  # pressed, the comment box open
    expect(page.locator(".feedback-comment textarea")).to_be_visible()
    found["feedback chosen"] = serious_violations(page)

    fake_upstream.queue({"behaviour": "http_error", "status": 401})
    send_and_wait(page, "And once more")
    expect(page.locator("article.reply .reply-error")).to_be_visible()
    found["failed reply"] = serious_violations(page)
    assert [r.status for r in Reply.objects.filter(user=alice).order_by("created_at")] == [
        "completed",
        "failed",
    ]
    wait_for_reply_sync(Reply.objects.filter(user=alice).latest("created_at").pk)

    page.goto("/usage/")
    expect(page.locator("#month-tokens")).to_be_visible()
    found["my usage"] = serious_violations(page)

    assert {name: problems for name, problems in found.items() if problems} == {}


def test_axe_reports_text_of_too_little_contrast(new_browser_context, watch_page, alice):
    """The check above can fail: a pale grey sentence on the login page is reported."""
    page = watch_page(new_browser_context()).page
    page.goto("/login/")
    assert serious_violations(page) == []
    page.evaluate(
        """() => { const p = document.createElement('p'); p.textContent = 'Barely readable';
                   p.style.color = '#c8c8c8'; document.querySelector('main').append(p); }"""
    )
    assert any(
        problem.startswith("color-contrast (serious)") for problem in serious_violations(page)
    )
