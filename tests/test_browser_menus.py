"""Each conversation's "More" (⋯) menu in a real browser (Chromium through Playwright, the
site on uvicorn): opened and driven by the keyboard, renaming in place (the header's title, an
entry of the list), the delete dialog and the notices with Undo (in other tabs too), the same
without JavaScript, and tap targets of at least 44 x 44 px on a phone, with the code's Copy
button above the code, never over it."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Conversation
from tests.chat_helpers import conversation_of
from tests.conftest import PASSWORD

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
CODE_REPLY = """Here is the code:

```python
def greet(name):
    return f"Hello, {name}! This line is long enough to reach the right edge of a phone."
```

And a [link](https://example.com/docs) after it."""


@pytest.fixture
def open_chat(new_browser_context, watch_page, browser_log_in, alice):
    """`open_chat(path="/", **context options)`: alice's page, loaded."""

    def open_one(path="/", **options):
        context = new_browser_context(**options)
        browser_log_in(context, alice)
        watched = watch_page(context)
        watched.page.goto(path)
        return watched

    return open_one


def entries(page):
    return page.locator("#sidebar-list .sidebar-item > a")


def test_the_menu_opens_with_enter_moves_with_arrows_and_escape_gives_focus_back(open_chat, alice):
    first, second = conversation_of(alice, "First topic"), conversation_of(alice, "Second topic")
    watched = open_chat(f"/c/{second.pk}/")
    page = watched.page
    button = page.locator(f"#more-{first.pk}")
    menu = page.locator(f"#menu-{first.pk}")
    expect(button).to_have_accessible_name("More actions for “First topic”")
    expect(button).to_have_attribute("aria-haspopup", "menu")
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_hidden()

    button.focus()
    page.keyboard.press("Enter")

    expect(menu).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    items = menu.get_by_role("menuitem")
    expect(items).to_have_text(
        [
            "Rename",
            "Pin",
            "Archive",
            "Export as Markdown",
            "Export as JSON",
            "Export with files (.zip)",
            "Delete",
        ]
    )
    expect(items.nth(0)).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(items.nth(1)).to_be_focused()
    page.keyboard.press("End")
    expect(items.nth(6)).to_be_focused()
    page.keyboard.press("ArrowDown")  # round to the first
    expect(items.nth(0)).to_be_focused()
    page.keyboard.press("ArrowUp")
    expect(items.nth(6)).to_be_focused()
    page.keyboard.press("Home")
    expect(items.nth(0)).to_be_focused()
    # Under its button, inside the window.
    box, anchor = menu.bounding_box(), button.bounding_box()
    assert box["y"] >= anchor["y"] + anchor["height"] - 1
    assert box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"]

    page.keyboard.press("Escape")

    expect(menu).to_be_hidden()
    expect(button).to_be_focused()
    expect(button).to_have_attribute("aria-expanded", "false")
    expect(page).to_have_url(re.compile(rf"/c/{second.pk}/$"))

    # Pin from the menu: the entry moves to the top, the keyboard stays on its ⋯.
    page.keyboard.press("Enter")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    expect(entries(page)).to_have_text(["Pinned: First topic", "Second topic"])
    expect(page.locator(f"#more-{first.pk}")).to_be_focused()
    expect(menu).to_be_hidden()
    assert Conversation.objects.get(pk=first.pk).pinned
    page.locator(f"#more-{first.pk}").press("Enter")
    expect(menu.get_by_role("menuitem").nth(1)).to_have_text("Unpin")
    assert watched.console == []


def test_the_header_title_renames_in_place(open_chat, alice):
    conversation = conversation_of(alice, "Old title")
    watched = open_chat(f"/c/{conversation.pk}/")
    page = watched.page
    title = page.locator("#conversation-title")

    title.get_by_role("link").click()
    box = page.locator("#chat-header input[name=title]")
    expect(box).to_be_focused()
    expect(box).to_have_value("Old title")
    expect(title).to_be_hidden()
    box.fill("Thrown away")
    box.press("Escape")  # cancels
    expect(box).to_have_count(0)
    expect(title).to_have_text("Old title")
    expect(page.locator("#title-link")).to_be_focused()
    assert Conversation.objects.get(pk=conversation.pk).title == "Old title"

    page.locator("#title-link").press("Enter")  # a link: the keyboard renames too
    box.fill("New title")
    box.press("Enter")

    expect(title).to_have_text("New title")
    expect(box).to_have_count(0)
    expect(page.locator(f"#link-{conversation.pk}")).to_have_text("New title")
    expect(page).to_have_title(re.compile(r"^New title · "))
    expect(page.locator("#title-link")).to_be_focused()
    expect(page).to_have_url(re.compile(rf"/c/{conversation.pk}/$"))
    assert Conversation.objects.get(pk=conversation.pk).title == "New title"

    # The header's menu renames in place too.
    page.locator("#more-header").click()
    page.locator("#menu-header").get_by_role("menuitem", name="Rename").click()
    box.fill("Third title")
    box.press("Enter")
    expect(title).to_have_text("Third title")
    assert watched.console == []


def test_an_entry_renames_in_place_from_its_menu(open_chat, alice):
    shown, other = conversation_of(alice, "Shown"), conversation_of(alice, "Other")
    watched = open_chat(f"/c/{shown.pk}/")
    page = watched.page

    page.locator(f"#more-{other.pk}").click()
    page.locator(f"#menu-{other.pk}").get_by_role("menuitem", name="Rename").click()
    box = page.locator(f"#sidebar-item-{other.pk} input[name=title]")
    expect(box).to_be_focused()
    expect(box).to_have_value("Other")
    box.fill("Other, renamed")
    box.press("Enter")

    expect(page.locator(f"#link-{other.pk}")).to_have_text("Other, renamed")
    expect(page.locator(f"#link-{other.pk}")).to_be_focused()
    expect(page.locator("#conversation-title")).to_have_text("Shown")  # the page's own stays
    expect(page).to_have_title(re.compile(r"^Shown · "))
    assert Conversation.objects.get(pk=other.pk).title == "Other, renamed"
    assert watched.console == []


def test_delete_asks_in_a_dialog_and_undo_brings_it_back_in_every_tab(open_chat, alice):
    shown, doomed = conversation_of(alice, "Shown"), conversation_of(alice, "Doomed topic")
    watched = open_chat(f"/c/{shown.pk}/")
    page = watched.page
    there = page.context.new_page()  # another tab of the same browser
    there.goto("/")
    dialog = page.locator("#delete-dialog")
    button = page.locator(f"#more-{doomed.pk}")

    button.click()
    page.locator(f"#menu-{doomed.pk}").get_by_role("menuitem", name="Delete").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_have_accessible_name("Delete this conversation?")
    expect(dialog).to_contain_text("“Doomed topic” will disappear")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(button).to_be_focused()
    button.click()
    page.locator(f"#menu-{doomed.pk}").get_by_role("menuitem", name="Delete").click()
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert Conversation.objects.for_user(alice).count() == 2

    button.click()
    page.locator(f"#menu-{doomed.pk}").get_by_role("menuitem", name="Delete").click()
    delete = dialog.get_by_role("button", name="Delete")
    expect(delete).to_have_class(re.compile(r"\bdanger\b"))
    delete.click()

    expect(entries(page)).to_have_text(["Shown"])
    expect(entries(there)).to_have_text(["Shown"])
    expect(page).to_have_url(re.compile(rf"/c/{shown.pk}/$"))  # the page stays
    toast = page.locator("#toasts .toast")
    expect(page.locator("#toasts")).to_have_attribute("role", "status")
    expect(toast).to_contain_text("Deleted “Doomed topic”.")
    assert not Conversation.objects.for_user(alice).filter(pk=doomed.pk).exists()

    toast.get_by_role("button", name="Undo").click()

    expect(entries(page)).to_have_text(["Doomed topic", "Shown"])
    expect(entries(there)).to_have_text(["Doomed topic", "Shown"])
    expect(toast).to_have_count(0)
    expect(page.locator(f"#link-{doomed.pk}")).to_be_focused()
    assert Conversation.objects.for_user(alice).filter(pk=doomed.pk).exists()
    assert watched.console == []


def test_deleting_the_open_conversation_goes_to_a_new_chat_that_offers_undo(open_chat, alice):
    doomed = conversation_of(alice, "Open and doomed")
    page = open_chat(f"/c/{doomed.pk}/").page

    page.locator("#more-header").click()
    page.locator("#menu-header").get_by_role("menuitem", name="Delete").click()
    page.locator("#delete-dialog").get_by_role("button", name="Delete").click()

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#toasts .toast")).to_contain_text("Deleted “Open and doomed”.")
    expect(entries(page)).to_have_count(0)
    page.locator("#toasts").get_by_role("button", name="Undo").click()
    expect(entries(page)).to_have_text(["Open and doomed"])
    assert Conversation.objects.for_user(alice).filter(pk=doomed.pk).exists()


def test_archive_shows_a_notice_whose_undo_unarchives_and_which_goes_by_itself(open_chat, alice):
    kept, archived = conversation_of(alice, "Kept"), conversation_of(alice, "Put away")
    watched = open_chat()
    page = watched.page

    page.locator(f"#more-{archived.pk}").click()
    page.locator(f"#menu-{archived.pk}").get_by_role("menuitem", name="Archive").click()

    expect(entries(page)).to_have_text(["Kept"])
    toast = page.locator("#toasts .toast")
    expect(toast).to_contain_text("Archived “Put away”.")
    assert Conversation.objects.get(pk=archived.pk).archived
    toast.get_by_role("button", name="Undo").click()
    expect(entries(page)).to_have_text(["Put away", "Kept"])
    expect(toast).to_have_count(0)
    assert not Conversation.objects.get(pk=archived.pk).archived
    # The keyboard goes to the entry that came back (before anything else is clicked: taking
    # the focus later would close a menu opened meanwhile, which menus.js no longer does).
    expect(page.locator(f"#link-{archived.pk}")).to_be_focused()

    page.locator(f"#more-{kept.pk}").click()
    page.locator(f"#menu-{kept.pk}").get_by_role("menuitem", name="Archive").click()
    expect(toast).to_contain_text("Archived “Kept”.")
    page.mouse.move(0, 0)
    expect(toast).to_have_count(0, timeout=12_000)  # about 8 s
    assert Conversation.objects.get(pk=kept.pk).archived
    assert watched.console == []


def test_without_javascript_every_action_of_the_menu_still_works(
    new_browser_context, watch_page, alice
):
    first, second = conversation_of(alice, "Alpha notes"), conversation_of(alice, "Beta notes")
    page = watch_page(new_browser_context(java_script_enabled=False)).page
    page.goto("/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))

    page.get_by_role("button", name="More actions for “Alpha notes”").click()
    page.get_by_role("menuitem", name="Pin").click()
    expect(entries(page).first).to_contain_text("Alpha notes")
    assert Conversation.objects.get(pk=first.pk).pinned

    page.get_by_role("button", name="More actions for “Beta notes”").click()
    page.get_by_role("menuitem", name="Archive").click()
    expect(page.locator("#sidebar-list")).not_to_contain_text("Beta notes")
    expect(page.locator("#toasts")).to_contain_text("Archived “Beta notes”.")
    page.locator("#toasts").get_by_role("button", name="Undo").click()
    expect(page.locator("#sidebar-list")).to_contain_text("Beta notes")
    assert not Conversation.objects.get(pk=second.pk).archived

    page.get_by_role("button", name="More actions for “Alpha notes”").click()
    with page.expect_download() as download:
        page.get_by_role("menuitem", name="Export as Markdown").click()
    assert download.value.suggested_filename.endswith(".md")

    page.goto(f"/c/{first.pk}/")
    page.get_by_role("button", name="More actions for this conversation").click()
    page.locator("#menu-header").get_by_role("menuitem", name="Rename").click()
    box = page.get_by_label("Title")
    expect(box).to_have_value("Alpha notes")
    box.fill("Alpha, renamed")
    box.press("Enter")
    expect(page.locator("#conversation-title")).to_have_text("Alpha, renamed")

    page.get_by_role("button", name="More actions for this conversation").click()
    page.locator("#menu-header").get_by_role("menuitem", name="Delete").click()
    expect(page).to_have_url(re.compile(rf"/c/{first.pk}/delete/$"))
    page.get_by_role("button", name="Delete").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#toasts")).to_contain_text("Deleted “Alpha, renamed”.")
    assert not Conversation.objects.for_user(alice).filter(pk=first.pk).exists()
    page.locator("#toasts").get_by_role("button", name="Undo").click()
    expect(page.locator("#sidebar-list")).to_contain_text("Alpha, renamed")


SMALL_TARGETS = """(root) => {
  const small = [];
  const selector = 'a[href], button, summary, select, input[type=submit], [role=menuitem]';
  for (const element of root.querySelectorAll(selector)) {
    // Links inside a sentence (a reply's text) are exempt, as in WCAG 2.5.8.
    const inSentence = element.closest('.reply-body p, .reply-body li, .user-text');
    if (element.matches('a') && inSentence) continue;
    const box = element.getBoundingClientRect();
    const style = getComputedStyle(element);
    if (!box.width || !box.height || style.visibility === 'hidden') continue;
    if (element.closest('[hidden], .sr-only')) continue;
    if (box.width < 43.5 || box.height < 43.5) {
      const size = `${box.width.toFixed(1)}x${box.height.toFixed(1)}`;
      small.push(`${element.outerHTML.slice(0, 90)}: ${size}`);
    }
  }
  return small;
}"""


def test_on_a_phone_every_tap_target_is_44_px_and_copy_never_covers_code(
    open_chat, alice, fake_upstream
):
    conversation_of(alice, "Another conversation")
    watched = open_chat(**PHONE)
    page = watched.page
    fake_upstream.queue({"text": CODE_REPLY})
    page.locator("#message").fill("Show me code")
    page.locator("#message").press("Enter")
    expect(page.locator('article.reply[aria-busy="false"]')).to_have_count(1)
    fake_upstream.queue({"text": CODE_REPLY.replace("Here", "There")})
    page.get_by_role("button", name="Regenerate").click()  # two versions: the arrows
    expect(page.locator(".versions")).to_contain_text("2 / 2")
    expect(page.locator('article.reply[aria-busy="false"]')).to_have_count(1)
    page.reload()

    # The header: ☰, the title, its ⋯ and New chat, on one line.
    header = page.locator("#chat-header")
    new_chat = header.get_by_role("link", name="New chat")
    expect(new_chat).to_be_visible()
    expect(new_chat).to_have_attribute("href", "/")
    assert page.evaluate(SMALL_TARGETS, header.element_handle()) == []
    transcript = page.locator("#transcript")
    expect(transcript.locator(".versions button")).to_have_count(2)
    expect(transcript.locator(".copy-code")).to_be_visible()
    assert page.evaluate(SMALL_TARGETS, transcript.element_handle()) == []

    # The code block's bar: its language and Copy, above the code.
    bar = page.locator(".codeblock-bar")
    expect(bar.locator(".codeblock-lang")).to_have_text("python")
    copy, code = (
        page.locator(".copy-code").bounding_box(),
        page.locator(".codeblock pre").bounding_box(),
    )
    assert copy["y"] + copy["height"] <= code["y"] + 0.5

    # The list, open over the chat, and an entry's menu.
    page.get_by_role("button", name="Conversations").first.click()
    sidebar = page.locator("nav.sidebar")
    expect(sidebar).to_be_in_viewport()
    more = sidebar.locator(".item-more").first
    expect(more).to_be_visible()  # always on touch screens
    assert page.evaluate(SMALL_TARGETS, sidebar.element_handle()) == []
    more.click()
    menu = page.locator(".menu:popover-open")
    expect(menu).to_be_visible()
    assert page.evaluate(SMALL_TARGETS, menu.element_handle()) == []
    # The title keeps the rest of its row.
    entry = sidebar.locator(".sidebar-item").first
    link, button = entry.locator("> a").bounding_box(), entry.locator(".item-more").bounding_box()
    row = entry.bounding_box()
    assert link["width"] >= row["width"] - button["width"] - 2
    assert watched.console == []


def test_on_a_desktop_the_more_button_shows_on_hover_focus_and_for_the_open_one(open_chat, alice):
    shown, other = conversation_of(alice, "Shown"), conversation_of(alice, "Other")
    page = open_chat(f"/c/{shown.pk}/", viewport={"width": 1280, "height": 800}).page
    opacity = "(element) => getComputedStyle(element).opacity"

    page.mouse.move(900, 400)
    assert page.locator(f"#more-{shown.pk}").evaluate(opacity) == "1"
    assert page.locator(f"#more-{other.pk}").evaluate(opacity) == "0"
    page.locator(f"#link-{other.pk}").hover()
    assert page.locator(f"#more-{other.pk}").evaluate(opacity) == "1"
    page.mouse.move(900, 400)
    page.locator(f"#link-{other.pk}").focus()
    assert page.locator(f"#more-{other.pk}").evaluate(opacity) == "1"
    # The title uses the whole row when the button does not show.
    page.locator("#message").focus()
    row = page.locator(f"#sidebar-item-{other.pk}").bounding_box()
    link = page.locator(f"#link-{other.pk}").bounding_box()
    assert link["width"] >= row["width"] - 1
    expect(page.locator("#chat-header .header-new-chat")).to_be_hidden()  # the sidebar has one
