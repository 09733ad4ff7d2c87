"""History by date in a real browser (Chromium through Playwright, the site on uvicorn, the fake
relay): headings in the browser's own time zone that follow a send, a pin, an unpin and an
archive; the list as one Tab stop moved through with the arrow keys; the account menu; and how
few Tab presses the message box is from the top of a conversation's page."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import Conversation, Reply
from tests.conftest import PASSWORD

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]

SHANGHAI = "Asia/Shanghai"
HEADINGS = "#sidebar-list .sidebar-heading"
FOCUSED_ID = "() => document.activeElement?.id || document.activeElement?.className"


def conversation_of(owner, title, turns=1, **fields) -> Conversation:
    conversation = Conversation.objects.create(owner=owner, title=title, model="gpt-5.5", **fields)
    for turn in range(turns):
        reply = conversation.add_turn(f"Question {turn + 1} about {title}")
        Reply.objects.filter(pk=reply.pk).update(
            status=Reply.Status.COMPLETED, text=f"Answer {turn + 1}, with **some** detail."
        )
    return conversation


def last_active(conversation, when: datetime) -> None:
    Conversation.objects.filter(pk=conversation.pk).update(updated_at=when)


def local_noon(zone: str, days_back: int) -> datetime:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    day = timezone.now().astimezone(tz).date() - timedelta(days=days_back)
    return datetime(day.year, day.month, day.day, 12, tzinfo=tz)


@pytest.fixture
def open_page(new_browser_context, watch_page, browser_log_in, alice):
    """`open_page(path, **context_options)`: alice's page, loaded (the browser's time zone in
    its cookie after the first page: loaded twice)."""

    def open_one(path="/", user=alice, **options):
        context = new_browser_context(**options)
        browser_log_in(context, user)
        watched = watch_page(context)
        watched.page.goto(path)
        watched.page.reload()
        return watched

    return open_one


def test_headings_are_the_browsers_days_and_follow_moves(open_page, fake_upstream, alice):
    """Yesterday noon in Shanghai; a send moves it under Today (Yesterday goes, being empty);
    a pin, an unpin and an archive put entries under the right headings."""
    yesterday = conversation_of(alice, "Yesterday's plan")
    last_active(yesterday, local_noon(SHANGHAI, 1))
    older = conversation_of(alice, "Older notes")
    last_active(older, local_noon(SHANGHAI, 12))
    ancient = conversation_of(alice, "Ancient notes")
    last_active(ancient, datetime(2024, 2, 10, 12, tzinfo=UTC))

    watched = open_page(f"/c/{yesterday.pk}/", timezone_id=SHANGHAI)
    page = watched.page
    assert {"name": "time_zone", "value": SHANGHAI} in [
        {"name": c["name"], "value": c["value"]} for c in page.context.cookies()
    ]
    headings = page.locator(HEADINGS)
    expect(headings).to_have_text(["Yesterday", "Previous 30 days", "February 2024"])
    expect(page.locator(f"{HEADINGS} h2")).to_have_count(3)

    fake_upstream.queue({"behaviour": "ok", "text": "Sure.", "delay_ms": 20})
    page.locator("#message").fill("One more thing")
    page.locator("#message").press("Enter")
    expect(headings).to_have_text(["Today", "Previous 30 days", "February 2024"])
    items = page.locator("#sidebar-list > li:not([hidden])")
    expect(items.first).to_have_text("Today")
    expect(items.nth(1)).to_contain_text("Yesterday's plan")
    expect(page.locator("article.reply").last).to_have_attribute("aria-busy", "false")

    menu_action(page, older, "pin")
    expect(headings).to_have_text(["Pinned", "Today", "February 2024"])
    expect(items.nth(1)).to_contain_text("Older notes")
    menu_action(page, older, "pin")  # unpinned: back under its own heading
    expect(headings).to_have_text(["Today", "Previous 30 days", "February 2024"])
    expect(items.nth(3)).to_contain_text("Older notes")
    menu_action(page, ancient, "archive")
    expect(headings).to_have_text(["Today", "Previous 30 days"])
    menu_action(page, yesterday, "archive")
    expect(headings).to_have_text(["Previous 30 days"])
    assert watched.console == []


def test_the_list_is_one_tab_stop_moved_through_with_the_arrow_keys(open_page, alice):
    pinned = conversation_of(alice, "Pinned one", pinned=True)
    names = ["Fourth", "Third", "Second", "First"]  # newest last
    made = {}
    for days_back, name in zip([40, 20, 1, 0], names, strict=True):
        made[name] = conversation_of(alice, name)
        last_active(made[name], timezone.now() - timedelta(days=days_back))
    page = open_page(f"/c/{made['Second'].pk}/").page
    expect(page.locator(HEADINGS)).to_have_count(5)
    link = lambda name: page.locator(  # noqa: E731
        f"#link-{(pinned if name == 'Pinned one' else made[name]).pk}"
    )

    # Tab lands on the open conversation's entry, and the next Tab leaves the list.
    page.locator("#search-box").focus()
    page.keyboard.press("Tab")
    expect(link("Second")).to_be_focused()
    assert page.eval_on_selector_all("#sidebar-list [tabindex='0']", "n => n.length") == 1
    page.keyboard.press("Tab")
    expect(page.locator("#account-menu > summary")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(link("Second")).to_be_focused()

    # Up and Down move between entries, over the headings; Home and End to the ends.
    page.keyboard.press("ArrowDown")
    expect(link("Third")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(link("Fourth")).to_be_focused()
    page.keyboard.press("ArrowDown")  # (the last one: stays)
    expect(link("Fourth")).to_be_focused()
    page.keyboard.press("Home")
    expect(link("Pinned one")).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(link("First")).to_be_focused()
    page.keyboard.press("End")
    expect(link("Fourth")).to_be_focused()

    # Left and Right move between an entry's controls; Up and Down keep the column.
    page.keyboard.press("ArrowRight")
    expect(page.locator(f"#more-{made['Fourth'].pk}")).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(page.locator(f"#more-{made['Third'].pk}")).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(link("Third")).to_be_focused()
    page.keyboard.press("ArrowLeft")
    expect(link("Third")).to_be_focused()

    # Leaving and coming back returns to the entry last focused.
    page.keyboard.press("Tab")
    expect(page.locator("#account-menu > summary")).to_be_focused()
    page.keyboard.press("Shift+Tab")
    expect(link("Third")).to_be_focused()
    assert page.eval_on_selector_all("#sidebar-list [tabindex='0']", "n => n.length") == 1

    # An entry moved by a pin keeps one stop in the list, on the control that had the focus.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")  # opens the menu on its first item, Rename
    page.keyboard.press("ArrowDown")
    expect(page.locator(f"#pin-{made['Third'].pk}")).to_be_focused()
    page.keyboard.press("Enter")
    expect(link("Third")).to_contain_text("Pinned:")
    expect(page.locator(f"#more-{made['Third'].pk}")).to_be_focused()
    assert page.eval_on_selector_all("#sidebar-list [tabindex='0']", "n => n.length") == 1
    page.keyboard.press("ArrowUp")  # (the older pinned one is the second)
    expect(page.locator(f"#more-{pinned.pk}")).to_be_focused()


def menu_action(page, conversation, action: str) -> None:
    """Opens the entry's ⋯ menu and chooses an action in it (pin, archive, …)."""
    page.locator(f"#more-{conversation.pk}").click()
    page.locator(f"#{action}-{conversation.pk}").click()


def test_after_a_new_chats_first_send_tab_lands_on_its_entry(open_page, fake_upstream, alice):
    conversation_of(alice, "Older one")
    page = open_page().page
    page.locator("#search-box").focus()
    page.keyboard.press("Tab")
    expect(page.locator("#sidebar-list .sidebar-item a").first).to_be_focused()  # (no open one)

    fake_upstream.queue({"behaviour": "ok", "text": "Hello.", "delay_ms": 20})
    page.locator("#message").fill("A fresh start")
    page.locator("#message").press("Enter")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    current = page.locator('#sidebar-list a[aria-current="page"]')
    expect(current).to_have_text("A fresh start")
    page.locator("#search-box").focus()
    page.keyboard.press("Tab")
    expect(current).to_be_focused()
    expect(page.locator("article.reply").last).to_have_attribute("aria-busy", "false")


def test_the_account_menu_opens_and_closes_by_keyboard_and_click(open_page, alice, bob):
    from django.contrib.auth import get_user_model

    get_user_model().objects.filter(pk=bob.pk).update(is_staff=True)
    page = open_page().page
    menu, button = page.locator("#account-menu"), page.locator("#account-menu > summary")
    expect(button).to_contain_text("alice")
    expect(page.get_by_role("link", name="My usage")).to_be_hidden()

    button.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="My usage")).to_be_visible()
    expect(page.get_by_role("link", name="Reviews of my conversations")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.get_by_label("Language")).to_be_visible()
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)  # (alice is not staff)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="My usage")).to_be_focused()
    page.keyboard.press("Escape")
    expect(menu).not_to_have_attribute("open", "")
    expect(button).to_be_focused()

    button.click()
    expect(page.get_by_role("link", name="My usage")).to_be_visible()
    page.locator("#transcript").click()
    expect(page.get_by_role("link", name="My usage")).to_be_hidden()

    staff = open_page(user=bob).page
    staff.locator("#account-menu > summary").click()
    staff.get_by_role("link", name="Admin").click()
    expect(staff).to_have_url(re.compile(r"/admin/$"))


def test_without_javascript_the_account_menu_still_opens(new_browser_context, watch_page, alice):
    conversation_of(alice, "Something")
    page = watch_page(new_browser_context(java_script_enabled=False)).page
    page.goto("/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(HEADINGS)).to_have_text(["Today"])
    page.locator("#account-menu > summary").click()
    page.get_by_label("Language").select_option("zh-hans")
    page.get_by_role("button", name="Change").click()
    expect(page.locator(HEADINGS)).to_have_text(["今天"])
    page.locator("#account-menu > summary").click()
    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(re.compile(r"/login/"))


def tab_stops_to_the_message_box(page, most: int = 30) -> list[str]:
    """The controls Tab visits from the top of the page until the message box (that one
    last), each as "sidebar:…" or "main:…"."""
    page.evaluate(
        """() => { const start = document.createElement('div'); start.tabIndex = -1;
                   start.id = 'tab-start'; document.body.prepend(start); start.focus(); }"""
    )
    stops = []
    for _ in range(most):
        page.keyboard.press("Tab")
        where = page.evaluate(
            """() => { const e = document.activeElement;
                const part = e.closest('nav.sidebar') ? 'sidebar'
                  : e.closest('main') ? 'main' : 'top';
                return part + ':' + (e.id || e.getAttribute('aria-label')
                                     || e.textContent.trim().slice(0, 30)); }"""
        )
        stops.append(where)
        if where == "main:message":
            break
    return stops


def many_turns_and_entries(alice) -> Conversation:
    conversation_of(alice, "Pinned plan", pinned=True)
    for i in range(6):
        last_active(conversation_of(alice, f"Topic {i}"), timezone.now() - timedelta(days=i * 9))
    return conversation_of(alice, "Long talk", turns=4)


def test_the_whole_sidebar_is_at_most_five_tab_stops(open_page, alice):
    """From the top: the skip link, New chat, Search, the list, the account menu."""
    conversation = many_turns_and_entries(alice)
    page = open_page(f"/c/{conversation.pk}/", viewport={"width": 1280, "height": 800}).page
    expect(page.locator(HEADINGS).nth(3)).to_be_attached()  # (Pinned, Today, 30 days, months)
    stops = tab_stops_to_the_message_box(page)
    first_in_main = next(i for i, stop in enumerate(stops) if stop.startswith("main:"))
    assert first_in_main <= 5, stops
    assert stops[first_in_main - 1] == "sidebar:" + page.locator(
        "#account-menu > summary"
    ).evaluate("e => e.id || e.getAttribute('aria-label') || e.textContent.trim().slice(0, 30)")
    assert f"sidebar:link-{conversation.pk}" in stops


def test_the_message_box_is_at_most_ten_tab_presses_from_the_top(open_page, alice):
    conversation = many_turns_and_entries(alice)
    page = open_page(f"/c/{conversation.pk}/", viewport={"width": 1280, "height": 800}).page
    stops = tab_stops_to_the_message_box(page)
    assert stops[-1] == "main:message" and len(stops) <= 10, stops
