"""Finding and organising conversations in a real browser (Chromium through Playwright, the site
on uvicorn, the fake relay): search with its shortcut and highlighted matches, pin and archive
without losing focus, the notice when a reply finishes in a conversation not open, example
prompts, the new-chat shortcut, and the same without JavaScript. In English and Chinese where
the text matters."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from conversations.models import Conversation, Reply
from tests.chat_helpers import conversation_of
from tests.conftest import PASSWORD, wait_for_reply_sync

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]

LANGUAGES = {"en": "en-US", "zh": "zh-CN"}
TEXTS = {
    "en": {"heading": "Search your conversations", "ready": "Reply ready in", "unpin": "Unpin"},
    "zh": {"heading": "搜索你的对话", "ready": "中的回复已完成", "unpin": "取消置顶"},
}


def choose(page, conversation, action: str) -> None:
    """An action of the entry's "More" menu, with the mouse."""
    page.locator(f"#more-{conversation.pk}").click()
    page.locator(f"#menu-{conversation.pk}").get_by_role("menuitem", name=action).click()


@pytest.fixture
def open_chat(new_browser_context, watch_page, browser_log_in, alice):
    """`open_chat(language, path="/")`: alice's page in that language, loaded."""

    def open_one(language="en", path="/", **options):
        context = new_browser_context(locale=LANGUAGES[language], **options)
        browser_log_in(context, alice)
        watched = watch_page(context)
        watched.page.goto(path)
        return watched

    return open_one


@pytest.mark.parametrize("language", LANGUAGES)
def test_search_shortcuts_find_and_highlight_matches(open_chat, alice, bob, language):
    budget = conversation_of(alice, "Planning", "What is the BUDGET?", "The budget is 10k.")
    conversation_of(alice, "Lunch", "Soup?", "Yes.")
    conversation_of(bob, "Bob's budget", "budget", "budget")
    watched = open_chat(language)
    page = watched.page
    search = page.locator("#search-box")

    page.evaluate("() => document.activeElement.blur()")  # the message box has autofocus
    page.keyboard.press("/")
    expect(search).to_be_focused()
    expect(search).to_have_value("")
    page.get_by_label("Message" if language == "en" else "消息").focus()
    page.keyboard.press("Control+k")
    expect(search).to_be_focused()
    search.fill("budget")
    search.press("Enter")

    expect(page).to_have_url(re.compile(r"/search/\?q=budget$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(TEXTS[language]["heading"])
    expect(page.locator(".search-result")).to_have_count(1)
    expect(page.locator(".search-result mark")).to_have_text(["BUDGET", "budget"])
    expect(page.locator(".search-result h3 a")).to_have_attribute("href", f"/c/{budget.pk}/")
    assert "Bob" not in page.content()
    assert watched.csp_violations() == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_pin_and_archive_swap_the_sidebar_and_keep_focus(open_chat, alice, language):
    first = conversation_of(alice, "First topic")
    second = conversation_of(alice, "Second topic")
    watched = open_chat(language, f"/c/{second.pk}/")
    page = watched.page
    items = page.locator("#sidebar-list .sidebar-item > a")
    expect(items).to_have_text(["Second topic", "First topic"])

    more = page.locator(f"#more-{first.pk}")
    more.focus()
    page.keyboard.press("Enter")  # the menu
    page.keyboard.press("ArrowDown")  # Pin
    page.keyboard.press("Enter")

    expect(items.first).to_contain_text("First topic")
    expect(page.locator(f"#pin-{first.pk}")).to_have_text(TEXTS[language]["unpin"])
    expect(more).to_be_focused()
    expect(page).to_have_url(re.compile(rf"/c/{second.pk}/$"))  # swapped, not reloaded
    expect(page.locator(f"#link-{second.pk}")).to_have_attribute("aria-current", "page")
    assert Conversation.objects.get(pk=first.pk).pinned

    choose(page, first, "Archive" if language == "en" else "归档")

    expect(items).to_have_text(["Second topic"])
    expect(page.locator("#message")).to_be_focused()
    first.refresh_from_db()
    assert first.archived and not first.pinned

    page.goto("/search/?q=topic")
    archived = page.locator(".search-result", has_text="First topic")
    expect(archived.locator(".badge")).to_have_text("Archived" if language == "en" else "已归档")
    assert watched.csp_violations() == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_reply_finishing_elsewhere_shows_a_quiet_notice(
    open_chat, fake_upstream, alice, language
):
    text = " ".join(f"word{i}" for i in range(30))
    fake_upstream.queue({"behaviour": "ok", "text": text, "delay_ms": 100})
    watched = open_chat(language)
    page = watched.page
    page.locator("#message").fill("Long story")
    page.locator("#message").press("Enter")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    reply = Reply.objects.get(user=alice)

    page.locator("a.new-chat").click()  # leave while the reply is being written
    expect(page).to_have_url(re.compile(r"/$"))
    link = page.locator(f"#link-{reply.conversation_id}")
    expect(link.locator(".generating-indicator")).to_be_visible()
    expect(link.locator(".sr-only")).to_have_count(1)

    notices = page.locator("#sidebar-notices")
    expect(notices).to_have_attribute("role", "status")
    expect(notices).to_contain_text(TEXTS[language]["ready"], timeout=15_000)
    expect(notices).to_contain_text("“Long story”")
    expect(link.locator(".generating-indicator")).to_have_count(0)
    assert wait_for_reply_sync(reply.pk).status == "completed"

    notices.locator("[data-dismiss]").click()
    expect(notices.locator(".ready-notice")).to_have_count(0)
    assert watched.csp_violations() == []


def test_no_notice_for_the_conversation_that_is_open(open_chat, fake_upstream, alice):
    fake_upstream.queue({"behaviour": "ok", "text": "short answer here", "delay_ms": 100})
    page = open_chat().page
    page.locator("#message").fill("Quick one")
    page.locator("#message").press("Enter")
    expect(page.locator("article.reply")).to_have_attribute("aria-busy", "false")
    reply = Reply.objects.get(user=alice)
    # The sidebar catches up with the finished reply (the poll) and says nothing.
    expect(page.locator(f"#link-{reply.conversation_id} .generating-indicator")).to_have_count(
        0, timeout=8_000
    )
    page.wait_for_timeout(500)
    expect(page.locator("#sidebar-notices .ready-notice")).to_have_count(0)


def test_a_send_moves_its_conversation_to_the_top_and_the_open_one_stays_marked(
    open_chat, fake_upstream, alice
):
    busy = conversation_of(alice, "Busy elsewhere")  # a reply being written in another tab
    Reply.objects.filter(conversation=busy).update(status=Reply.Status.IN_PROGRESS)
    pinned = conversation_of(alice, "Pinned topic", pinned=True)
    older, newer = conversation_of(alice, "Older topic"), conversation_of(alice, "Newer topic")
    watched = open_chat()
    page = watched.page
    items = page.locator("#sidebar-list .sidebar-item > a")
    expect(items).to_contain_text(["Pinned topic", "Newer topic", "Older topic", "Busy"])

    text = " ".join(f"word{i}" for i in range(20))
    fake_upstream.queue({"behaviour": "ok", "text": text, "delay_ms": 150})
    page.locator("#message").fill("Brand new question")
    with page.expect_request("**/send/") as sent:
        page.locator("#message").press("Enter")

    # The send says what the page shows as being written (fields outside the form, with form=).
    assert f"watching={busy.pk}" in sent.value.post_data
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    new = Reply.objects.get(user=alice, user_input="Brand new question").conversation_id
    expect(items).to_have_count(5)
    expect(items).to_contain_text(["Pinned", "Brand new", "Newer topic", "Older topic", "Busy"])
    expect(page.locator(f"#link-{new}")).to_have_attribute("aria-current", "page")
    expect(page.locator(f"#link-{new} .generating-indicator")).to_have_count(1)

    # Pinning another entry while the reply is written re-renders the list: the open
    # conversation stays the marked one, although the other entries' forms were rendered on
    # the new-chat page.
    choose(page, older, "Pin")
    expect(page.locator(f"#link-{older.pk} .sr-only")).to_have_count(1)  # "Pinned:"
    expect(page.locator(f"#link-{new}")).to_have_attribute("aria-current", "page")
    expect(page.locator(f"#link-{new} .generating-indicator")).to_have_count(1)
    # The mark goes when the reply is done (the poll watches the new conversation too).
    expect(page.locator(f"#link-{new} .generating-indicator")).to_have_count(0, timeout=10_000)
    expect(page.locator("#sidebar-notices .ready-notice")).to_have_count(0)  # (it is open)

    page.locator(f"#link-{newer.pk}").click()
    expect(page).to_have_url(re.compile(rf"/c/{newer.pk}/$"))
    fake_upstream.queue({"behaviour": "ok", "text": "Again.", "delay_ms": 50})
    page.locator("#message").fill("A follow-up")
    page.locator("#message").press("Enter")
    expect(page.locator(f"#link-{newer.pk} .generating-indicator")).to_have_count(1)
    expect(items).to_have_count(5)  # moved, not copied
    expect(items).to_contain_text(["Older", "Pinned", "Newer topic", "Brand new", "Busy"])
    expect(page.locator(f"#link-{busy.pk} .generating-indicator")).to_have_count(1)
    expect(page.locator("article.reply").last).to_have_attribute("aria-busy", "false")
    assert Conversation.objects.get(pk=pinned.pk).pinned

    # The other tab's reply ends while the keyboard is on its entry: the poll moves the entry
    # (taken out and put back at the top), and the focus stays on the same control.
    page.locator(f"#more-{busy.pk}").focus()
    Reply.objects.filter(conversation=busy).update(status=Reply.Status.COMPLETED)
    Conversation.objects.filter(pk=busy.pk).update(updated_at=timezone.now())  # (as its end)
    expect(page.locator(f"#link-{busy.pk} .generating-indicator")).to_have_count(0, timeout=8_000)
    expect(items.nth(2)).to_contain_text("Busy elsewhere")
    expect(page.locator(f"#more-{busy.pk}")).to_be_focused()
    expect(page.locator("#sidebar-notices")).to_contain_text("“Busy elsewhere”")
    assert watched.console == []


def test_the_sidebar_loads_more_entries_as_it_is_scrolled(open_chat, alice):
    start = timezone.now() - timedelta(days=1)
    Conversation.objects.bulk_create(
        Conversation(owner=alice, title=f"Topic {i:03d}", updated_at=start + timedelta(seconds=i))
        for i in range(120)
    )
    watched = open_chat()
    page = watched.page
    items = page.locator("#sidebar-list .sidebar-item > a")
    expect(items).to_have_count(50)
    expect(items.first).to_have_text("Topic 119")

    page.locator("#sidebar-more").scroll_into_view_if_needed()
    expect(items).to_have_count(100)
    page.locator("#sidebar-more").scroll_into_view_if_needed()
    expect(items).to_have_count(120)
    expect(items.last).to_have_text("Topic 000")
    expect(page.locator("#sidebar-more")).to_have_count(0)

    # Archiving and pinning far down the list move that one entry; the rest stays loaded.
    topic = {c.title: c for c in Conversation.objects.filter(owner=alice)}
    choose(page, topic["Topic 010"], "Archive")
    expect(items).to_have_count(119)
    choose(page, topic["Topic 005"], "Pin")
    expect(items.first).to_contain_text("Topic 005")
    expect(items).to_have_count(119)
    expect(items.nth(1)).to_have_text("Topic 119")
    ids = page.eval_on_selector_all("#sidebar-list [id]", "nodes => nodes.map(n => n.id)")
    assert len(ids) == len(set(ids))

    # Renaming the open conversation changes its entry in place.
    page.locator(f"#link-{topic['Topic 118'].pk}").click()
    page.locator("#title-link").click()
    page.locator("#rename-box").fill("Renamed topic")
    page.locator("#rename-box").press("Enter")
    expect(page.locator("#rename-status")).to_have_text("Saved.")
    expect(page.locator(f"#link-{topic['Topic 118'].pk}")).to_have_text("Renamed topic")
    assert watched.console == []


def test_other_tabs_lists_follow_a_pin_an_archive_a_rename_and_a_delete(open_chat, alice):
    alpha, beta = conversation_of(alice, "Alpha notes"), conversation_of(alice, "Beta notes")
    gamma = conversation_of(alice, "Gamma notes")
    here = open_chat("en", gamma.get_absolute_url()).page
    there = here.context.new_page()  # another tab of the same browser
    problems = []
    there.on("console", lambda m: problems.append(m.text) if m.type in ("error", "warning") else 0)
    there.goto("/")
    items = there.locator("#sidebar-list .sidebar-item > a")
    expect(items).to_have_text(["Gamma notes", "Beta notes", "Alpha notes"])

    choose(here, alpha, "Pin")
    expect(items).to_have_text(["Pinned: Alpha notes", "Gamma notes", "Beta notes"])
    choose(here, beta, "Archive")
    expect(items).to_have_text(["Pinned: Alpha notes", "Gamma notes"])
    here.locator("#title-link").click()
    here.locator("#rename-box").fill("Gamma, renamed")
    here.locator("#rename-box").press("Enter")
    expect(items).to_have_text(["Pinned: Alpha notes", "Gamma, renamed"])
    expect(there.locator(f"#link-{gamma.pk}")).not_to_have_attribute("aria-current", "page")

    here.goto(f"/c/{alpha.pk}/delete/")
    here.get_by_role("button", name="Delete").click()
    expect(items).to_have_text(["Gamma, renamed"])
    expect(here.locator("#toasts")).to_contain_text("Deleted “Alpha notes”.")
    assert not Conversation.objects.for_user(alice).filter(pk=alpha.pk).exists()
    assert problems == []


@pytest.mark.parametrize("new_group", [False, True])
def test_moving_down_onto_show_more_lands_on_the_first_entry_it_loads(open_chat, alice, new_group):
    """The list is one Tab stop: Down from the last entry goes to "Show more conversations",
    which loads the next entries; the focus goes to the first (past its heading when it starts
    a new group: `new_group`, the 51st entry is days older than the first 50)."""
    # An hour ago, but never before today's midnight (the entries must be in "Today").
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    start = max(timezone.now() - timedelta(hours=1), today)
    made = Conversation.objects.bulk_create(
        Conversation(
            owner=alice,
            title=f"Topic {i:03d}",
            updated_at=start + timedelta(seconds=i) - timedelta(days=4 * (new_group and i < 70)),
        )
        for i in range(120)
    )
    page = open_chat().page
    items = page.locator("#sidebar-list .sidebar-item > a")
    expect(items).to_have_count(50)

    page.locator(f"#more-{made[70].pk}").focus()  # the 50th entry's last control
    page.keyboard.press("ArrowDown")  # onto "Show more conversations", which loads the next 50

    expect(items).to_have_count(100)
    expect(page.locator(f"#link-{made[69].pk}")).to_be_focused()  # the 51st entry
    page.keyboard.press("ArrowRight")
    expect(page.locator(f"#more-{made[69].pk}")).to_be_focused()
    headings = page.locator("#sidebar-list .sidebar-heading")
    expect(headings).to_have_text(["Today", "Previous 7 days"] if new_group else ["Today"])


def test_a_conversation_opened_far_down_the_list_is_listed_in_view(open_chat, alice):
    start = timezone.now() - timedelta(days=1)
    made = Conversation.objects.bulk_create(
        Conversation(owner=alice, title=f"Topic {i:03d}", updated_at=start + timedelta(seconds=i))
        for i in range(120)
    )
    watched = open_chat("en", made[20].get_absolute_url())  # the 100th newest
    page = watched.page
    entry = page.locator(f"#link-{made[20].pk}")

    expect(entry).to_have_attribute("aria-current", "page")
    expect(entry).to_be_in_viewport()
    assert page.evaluate("() => document.getElementById('sidebar-list').scrollTop") > 0
    # The list's end is in view too, so the rest loads; the entry stays where it was.
    expect(page.locator("#sidebar-list .sidebar-item > a")).to_have_count(120)
    expect(entry).to_be_in_viewport()
    assert watched.console == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_example_prompts_fill_the_box_without_sending(open_chat, alice, language):
    watched = open_chat(language)
    page = watched.page
    examples = page.locator("button.example-prompt")
    expect(examples).to_have_count(4)
    chosen = examples.nth(2).inner_text()

    examples.nth(2).click()

    box = page.locator("#message")
    expect(box).to_have_value(chosen)
    expect(box).to_be_focused()
    page.wait_for_timeout(300)
    assert not any("/send/" in url for url in watched.requests)
    assert Reply.objects.count() == 0
    assert re.search(r"[\u4e00-\u9fff]", chosen) if language == "zh" else chosen.isascii()


def test_new_chat_shortcut_opens_a_new_chat(open_chat, alice):
    conversation = conversation_of(alice, "Old chat")
    page = open_chat("en", f"/c/{conversation.pk}/").page
    page.locator("#message").focus()
    page.keyboard.press("Control+Shift+O")
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#empty-state")).to_be_visible()


def test_without_javascript_pin_archive_search_and_examples_still_work(
    new_browser_context, watch_page, alice
):
    first, second = conversation_of(alice, "Alpha notes"), conversation_of(alice, "Beta notes")
    page = watch_page(new_browser_context(java_script_enabled=False)).page
    page.goto("/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("[data-example-prompt]")).to_have_count(4)
    expect(page.locator("button.example-prompt")).to_have_count(0)  # plain text

    page.get_by_role("button", name="More actions for “Alpha notes”").click()
    page.get_by_role("menuitem", name="Pin").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#sidebar-list .sidebar-item > a").first).to_contain_text("Alpha notes")
    page.get_by_role("button", name="More actions for “Beta notes”").click()
    page.get_by_role("menuitem", name="Archive").click()
    expect(page.locator("#sidebar-list")).not_to_contain_text("Beta notes")
    assert Conversation.objects.get(pk=second.pk).archived
    assert Conversation.objects.get(pk=first.pk).pinned

    page.get_by_label("Search").fill("beta")
    page.get_by_label("Search").press("Enter")
    expect(page.locator(".search-result mark")).to_have_text(["Beta"])
