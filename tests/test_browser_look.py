"""Look and feel in a real browser (Chromium through Playwright, the site under uvicorn, the fake
relay): the phone layout with its folding list, the keyboard, focus, what screen readers hear
when a reply ends, scrolling that follows a reply, no layout shift or flicker, text kept exactly
as typed or written, and the system's light or dark theme. Both interface languages where text
matters."""

import re

import pytest
from django.utils import translation
from playwright.sync_api import expect

from conversations.models import Reply
from tests.conftest import wait_for_reply_sync

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
LANGUAGES = {"en": "en-US", "zh-hans": "zh-CN"}  # interface language: the browser's locale
LAST_REPLY = "article.reply >> nth=-1"


def gettext_in(language: str, message: str) -> str:
    """A sentence as the site shows it in `language` (from the compiled catalogue)."""
    with translation.override(language):
        return translation.gettext(message)


def open_chat(new_browser_context, watch_page, browser_log_in, user, language="en", **options):
    context = new_browser_context(locale=LANGUAGES[language], **options)
    browser_log_in(context, user)
    watched = watch_page(context)
    watched.page.goto("/")
    return watched.page


def send(page, message: str) -> None:
    box = page.locator("#message")
    box.fill(message)
    box.press("Enter")


def wait_until_finished(page) -> None:
    expect(page.locator(LAST_REPLY)).to_have_attribute("aria-busy", "false")


def no_horizontal_scroll(page) -> bool:
    return page.evaluate(
        "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


# ---- Phone: the list folds away, the message box stays at the bottom ----


@pytest.mark.parametrize("language", LANGUAGES)
def test_on_a_phone_the_list_folds_behind_a_labelled_button(
    language, new_browser_context, watch_page, browser_log_in, alice, fake_upstream
):
    page = open_chat(new_browser_context, watch_page, browser_log_in, alice, language, **PHONE)
    fake_upstream.queue({"behaviour": "ok", "text": "Noted."})
    send(page, "A first conversation")
    wait_until_finished(page)
    nav = page.get_by_role("navigation", name=gettext_in(language, "Conversations"))
    toggle = page.get_by_role("button", name=gettext_in(language, "Conversations"), exact=True)

    expect(nav).to_be_hidden()
    expect(toggle).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "false")
    box = page.locator("#message").bounding_box()
    assert 844 * 0.75 < box["y"] and box["y"] + box["height"] <= 844  # at the bottom, visible
    assert no_horizontal_scroll(page)

    toggle.click()
    expect(nav).to_be_visible()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(nav.get_by_role("link", name="A first conversation")).to_be_visible()
    assert page.evaluate(
        "() => document.querySelector('nav.sidebar').contains(document.activeElement)"
    )
    assert page.evaluate("() => document.getElementById('main').inert")  # the chat is covered
    page.keyboard.press("Escape")
    expect(nav).to_be_hidden()
    expect(toggle).to_be_focused()
    expect(toggle).to_have_attribute("aria-expanded", "false")

    toggle.click()
    expect(nav).to_be_visible()
    page.get_by_role("button", name=gettext_in(language, "Close the list of conversations")).tap(
        position={"x": 370, "y": 400}
    )
    expect(nav).to_be_hidden()
    assert not page.evaluate("() => document.getElementById('main').inert")
    send(page, "Still reachable")  # the chat works again
    expect(page.locator("article.reply")).to_have_count(2)

    # The on-screen keyboard shrinks the page (interactive-widget=resizes-content): the box
    # stays at the bottom of what is left, in view.
    viewport = page.locator("meta[name=viewport]").get_attribute("content")
    assert "interactive-widget=resizes-content" in viewport
    page.set_viewport_size({"width": 390, "height": 460})
    page.locator("#message").focus()
    box = page.locator("#message").bounding_box()
    assert 460 * 0.6 < box["y"] and box["y"] + box["height"] <= 460, box


def test_on_a_desktop_the_list_stays_and_there_is_no_menu_button(chat_page):
    page = chat_page.page
    expect(page.get_by_role("navigation", name="Conversations")).to_be_visible()
    expect(page.locator(".menu-toggle")).to_be_hidden()
    width = page.locator("#transcript").bounding_box()["width"]
    assert 600 <= width <= 760  # a comfortable reading width, not the whole 1280 px window


def test_without_javascript_a_phone_shows_the_list_above_the_chat(
    new_browser_context, watch_page, browser_log_in, alice
):
    page = open_chat(
        new_browser_context, watch_page, browser_log_in, alice, java_script_enabled=False, **PHONE
    )
    expect(page.get_by_role("navigation", name="Conversations")).to_be_visible()
    expect(page.locator(".menu-toggle")).to_be_hidden()
    expect(page.locator("#message")).to_be_visible()
    assert no_horizontal_scroll(page)


# ---- Keyboard and focus ----


def test_enter_sends_shift_enter_breaks_the_line_escape_stops_and_focus_stays(
    chat_page, fake_upstream, alice
):
    page = chat_page.page
    fake_upstream.queue({"behaviour": "stall_mid", "after_tokens": 3, "text": "one two three four"})
    box = page.locator("#message")
    box.fill("Go on")
    box.press("Shift+Enter")  # a new line, not a send
    box.press_sequentially("forever")
    expect(box).to_have_value("Go on\nforever")
    assert page.locator("article.reply").count() == 0
    box.press("Enter")
    expect(box).to_have_value("")
    expect(page.locator("article.reply .reply-content")).to_contain_text("three")
    expect(page.locator("#message")).to_be_focused()
    page.keyboard.press("Escape")
    wait_until_finished(page)
    expect(page.locator("article.reply")).to_have_class(re.compile("status-cancelled"))
    expect(page.locator("#message")).to_be_focused()
    reply = wait_for_reply_sync(Reply.objects.get(user=alice).pk)
    assert (reply.status, reply.user_input) == ("cancelled", "Go on\nforever")


def test_focus_moves_to_the_message_box_when_retry_or_stop_disappears(chat_page, fake_upstream):
    page = chat_page.page
    fake_upstream.queue({"behaviour": "http_error", "status": 401})
    send(page, "This one fails")
    retry = page.locator(LAST_REPLY).get_by_role("button", name="Retry")
    fake_upstream.queue({"behaviour": "ok", "text": "Fine now."})
    retry.focus()
    page.keyboard.press("Enter")  # Retry, by keyboard: the button then leaves the page
    expect(page.locator(LAST_REPLY)).to_contain_text("Fine now.")
    wait_until_finished(page)
    expect(page.locator("#message")).to_be_focused()

    fake_upstream.queue({"behaviour": "stall_mid", "after_tokens": 2, "text": "one two three"})
    send(page, "Start something")
    stop = page.get_by_role("button", name="Stop")
    stop.focus()
    page.keyboard.press("Enter")
    wait_until_finished(page)
    expect(page.locator(LAST_REPLY)).to_have_class(re.compile("status-cancelled"))
    expect(page.locator("#message")).to_be_focused()


def test_a_refreshed_list_gives_focus_back_to_the_same_control(chat_page, fake_upstream):
    page = chat_page.page
    fake_upstream.queue({"behaviour": "ok", "text": "Done."})
    send(page, "Something to pin")
    wait_until_finished(page)
    control = page.locator("#sidebar-list .item-more").first
    control_id = control.get_attribute("id")
    pin = page.locator("#sidebar-list [id^=pin-]").first
    label = pin.text_content()
    control.focus()
    page.keyboard.press("Enter")  # its menu
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")  # Pin: the entry is swapped for a new one
    expect(page.locator("#sidebar-list [id^=pin-]").first).not_to_have_text(label)
    expect(page.locator(f"[id='{control_id}']")).to_be_focused()


# ---- What screen readers hear ----

RECORD_ANNOUNCEMENTS = """() => {
  window.__said = [];
  const region = document.getElementById('announcer');
  new MutationObserver(() => { if (region.textContent) window.__said.push(region.textContent); })
    .observe(region, {childList: true, characterData: true, subtree: true});
}"""


LIVE_REGIONS_AROUND_THE_REPLY = """() => {
  const live = (e) => e.hasAttribute('aria-live') || ['status', 'alert', 'log', 'marquee']
    .includes(e.getAttribute('role'));
  const reply = document.querySelector('article.reply[aria-busy="true"]');
  const around = [];
  for (const text of reply.querySelectorAll('.reply-body, .reasoning-text')) {
    around.push(...text.querySelectorAll('*'));
    for (let e = text; e; e = e.parentElement) around.push(e);
  }
  return around.filter(live).map((e) => e.outerHTML.slice(0, 80));
}"""


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_finished_reply_is_announced_once_not_token_by_token(
    language, new_browser_context, watch_page, browser_log_in, alice, fake_upstream
):
    page = open_chat(new_browser_context, watch_page, browser_log_in, alice, language)
    region = page.locator("#announcer")
    expect(region).to_have_attribute("role", "status")
    page.evaluate(RECORD_ANNOUNCEMENTS)
    words = " ".join(f"w{i}" for i in range(40))
    fake_upstream.queue({"behaviour": "ok", "text": words, "delay_ms": 20})
    send(page, "Talk to me")
    expect(page.locator("article.reply")).to_have_attribute("aria-busy", "true")
    # The reply being written is not in a live region (or every token would be read out); the
    # tool activity beside it ("Searching the web…") is one, and says nothing here.
    assert page.evaluate(LIVE_REGIONS_AROUND_THE_REPLY) == []
    expect(page.locator("article.reply .tool-activity")).to_have_text("")
    wait_until_finished(page)
    expect(region).to_have_text(gettext_in(language, "Reply finished."))

    fake_upstream.queue({"behaviour": "http_error", "status": 401})
    send(page, "And now?")
    expect(page.locator(LAST_REPLY).locator(".reply-error")).to_be_visible()
    sentence = page.evaluate(
        """() => { const errors = document.querySelectorAll('article.reply .reply-error');
                   const p = errors[errors.length - 1].cloneNode(true);
                   p.querySelector('.reference').remove(); return p.textContent.trim(); }"""
    )
    expect(region).to_have_text(sentence)
    page.wait_for_timeout(400)  # nothing more comes
    said = page.evaluate("() => window.__said")
    assert said == [gettext_in(language, "Reply finished."), sentence]
    assert not re.search(r"\bw\d+\b", " ".join(said))


# ---- Scrolling follows a growing reply until the reader scrolls up ----

AT_BOTTOM = "() => innerHeight + scrollY >= document.documentElement.scrollHeight - 100"


def test_scrolling_follows_the_reply_until_the_reader_scrolls_up(
    new_browser_context, watch_page, browser_log_in, alice, fake_upstream
):
    page = open_chat(
        new_browser_context,
        watch_page,
        browser_log_in,
        alice,
        viewport={"width": 900, "height": 600},
    )
    fake_upstream.queue({"behaviour": "ok", "tokens": 700, "delay_ms": 15})
    send(page, "A long one, please")
    page.wait_for_function("() => document.documentElement.scrollHeight > innerHeight + 400")
    for _ in range(5):  # while it grows, the bottom stays in view
        page.wait_for_timeout(150)
        assert page.evaluate(AT_BOTTOM)
    assert page.locator("article.reply").get_attribute("aria-busy") == "true"

    page.mouse.move(450, 300)
    page.mouse.wheel(0, -300)
    page.wait_for_function(
        "() => innerHeight + scrollY < document.documentElement.scrollHeight - 250"
    )
    kept = page.evaluate("() => [scrollY, document.documentElement.scrollHeight]")
    page.wait_for_function(f"() => document.documentElement.scrollHeight > {kept[1] + 200}")
    assert abs(page.evaluate("() => scrollY") - kept[0]) <= 2  # it stays where the reader is
    wait_until_finished(page)
    assert abs(page.evaluate("() => scrollY") - kept[0]) <= 2


# ---- No layout shift when a reply starts, no flicker when the final rendering arrives ----

RECORD_LAYOUT = """() => {
  window.__shifts = [];
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries())
      if (!entry.hadRecentInput) window.__shifts.push([entry.startTime, entry.value]);
  }).observe({type: 'layout-shift'});
  window.__frames = [];  // per change of the newest reply: time, busy, height, text length
  const seen = new Set(document.querySelectorAll('article.reply'));
  new MutationObserver(() => {
    const replies = [...document.querySelectorAll('article.reply')].filter((r) => !seen.has(r));
    const reply = replies[replies.length - 1];
    const composer = document.getElementById('composer').getBoundingClientRect();
    const turn = reply?.closest('.turn')?.querySelector('.user-message');
    window.__frames.push({
      t: performance.now(), busy: reply?.getAttribute('aria-busy') ?? null,
      height: reply ? reply.getBoundingClientRect().height : null,
      text: reply ? reply.querySelector('.reply-content').innerText.trim().length : 0,
      userTop: turn ? turn.getBoundingClientRect().top + scrollY : null,
      composerTop: composer.top,
    });
  }).observe(document.getElementById('transcript'),
             {subtree: true, childList: true, characterData: true, attributes: true});
}"""

REPLY_MARKDOWN = (
    "Intro paragraph with **bold** text and `code`.\n\n"
    + " ".join(f"word{i}" for i in range(60))
    + "\n\n- first item\n- second item\n\n```python\nprint('hello')\n```\n\nThe end."
)


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_no_layout_shift_when_a_reply_starts_and_no_flicker_when_it_ends(
    viewport, new_browser_context, watch_page, browser_log_in, alice, fake_upstream
):
    options = PHONE if viewport == "phone" else {"viewport": {"width": 1280, "height": 800}}
    page = open_chat(new_browser_context, watch_page, browser_log_in, alice, **options)
    fake_upstream.queue({"behaviour": "ok", "text": "Earlier answer."})
    send(page, "An earlier question")
    wait_until_finished(page)
    page.evaluate(RECORD_LAYOUT)
    sent_at = page.evaluate("() => performance.now()")
    fake_upstream.queue({"behaviour": "ok", "text": REPLY_MARKDOWN, "delay_ms": 25})
    send(page, "Write the answer")
    expect(page.locator("article.reply")).to_have_count(2)
    wait_until_finished(page)
    page.wait_for_timeout(500)
    frames = page.evaluate("() => window.__frames")
    shifts = page.evaluate("() => window.__shifts")

    with_reply = [f for f in frames if f["busy"] is not None]
    live = [f for f in with_reply if f["busy"] == "true"]
    final = [f for f in with_reply if f["busy"] == "false"]
    assert live and final
    first_text = next(f["t"] for f in live if f["text"])
    ended = final[0]["t"]
    # When the reply starts (the turn appears, then its first words) nothing on screen moves.
    starting = sum(v for t, v in shifts if sent_at <= t <= first_text + 200)
    assert starting < 0.01, shifts
    # The user's message does not move while the reply is written or when it ends ...
    tops = {round(f["userTop"]) for f in with_reply}
    assert max(tops) - min(tops) <= 1, tops
    # ... and neither does the message box.
    composer = {round(f["composerTop"]) for f in frames}
    assert max(composer) - min(composer) <= 1, composer
    # The final rendering replaces the live one without a blank frame and without shrinking.
    shown = [f for f in with_reply if f["t"] >= first_text]
    assert min(f["text"] for f in shown) > 0
    assert min(f["height"] for f in shown) > 0
    assert final[-1]["height"] >= live[-1]["height"] - 2, (live[-1], final[-1])
    ending = sum(v for t, v in shifts if ended - 50 <= t <= ended + 500)
    assert ending < 0.01, shifts


def test_the_header_keeps_its_height_when_a_first_message_starts_a_conversation(
    chat_page, fake_upstream
):
    page = chat_page.page
    before = page.locator("#chat-header").bounding_box()["height"]
    fake_upstream.queue({"behaviour": "ok", "text": "Hello."})
    send(page, "Hi")
    expect(page.get_by_role("button", name="More actions for this conversation")).to_be_visible()
    assert page.locator("#chat-header").bounding_box()["height"] == before


# ---- Text is kept exactly, and wraps on a phone ----

CHINESE = "这是一段很长的中文文字没有任何空格用来检查在手机屏幕上是否能够正确换行而不会撑破页面" * 3
EMOJI = "👩‍👩‍👧 家庭 🇨🇳 旗帜 🧑🏽‍💻 程序员 ✅"
MIXED = "Mixed 中文 English العربية עברית 123 — ok"
URL = "https://example.com/" + "a-very-long-path-segment-without-any-break" * 4
CODE_LINE = "x = '" + "0123456789" * 30 + "'"
REPLY_TEXT = "\n\n".join(
    [
        CHINESE,
        EMOJI,
        MIXED,
        URL,
        f"```python\n{CODE_LINE}\n```",
        "| 列一 | 列二 | Column three |\n| --- | --- | --- |\n| " + "数据" * 40 + " | b | c |",
    ]
)


@pytest.mark.parametrize("language", LANGUAGES)
def test_chinese_emoji_and_mixed_scripts_are_kept_and_wrap_on_a_phone(
    language, new_browser_context, watch_page, browser_log_in, alice, fake_upstream
):
    page = open_chat(new_browser_context, watch_page, browser_log_in, alice, language, **PHONE)
    message = f"{CHINESE}\n{EMOJI}\n  {MIXED}\n{URL}"
    fake_upstream.queue({"behaviour": "ok", "text": REPLY_TEXT, "delay_ms": 5, "piece_chars": 3})
    send(page, message)
    wait_until_finished(page)

    assert page.locator(".user-text").inner_text() == message
    content = page.locator("article.reply .reply-body").inner_text()
    for piece in (CHINESE, EMOJI, MIXED, URL, CODE_LINE):
        assert piece in content
    reply = wait_for_reply_sync(Reply.objects.get(user=alice).pk)
    assert (reply.user_input, reply.text) == (message, REPLY_TEXT)

    assert no_horizontal_scroll(page)
    overflowing = page.evaluate(
        """() => [...document.querySelectorAll('#transcript *')]
                 .filter((e) => !e.closest('pre, .reply-body table'))
                 .filter((e) => e.getBoundingClientRect().right > innerWidth + 0.5)
                 .map((e) => e.tagName + '.' + e.className)"""
    )
    assert overflowing == []
    # The long line of code scrolls inside its own block; the table wraps within the screen.
    code = page.eval_on_selector(
        "article.reply pre",
        "(e) => [e.scrollWidth, e.clientWidth, e.getBoundingClientRect().right]",
    )
    assert code[0] > code[1] and code[2] <= 390, code
    table = page.locator("article.reply .reply-body table")
    assert table.bounding_box()["x"] + table.bounding_box()["width"] <= 390
    expect(table).to_contain_text("数据" * 40)
    page.reload()
    assert page.locator(".user-text").inner_text() == message
    assert no_horizontal_scroll(page)


# ---- Light and dark follow the system ----


def luminance(css_colour: str) -> float:
    """WCAG's relative luminance of an `rgb(…)` colour."""
    channels = [int(v) / 255 for v in re.findall(r"\d+", css_colour)[:3]]
    red, green, blue = (
        c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels
    )
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_theme_follows_the_system_setting(
    scheme, new_browser_context, watch_page, browser_log_in, alice
):
    page = open_chat(new_browser_context, watch_page, browser_log_in, alice, color_scheme=scheme)
    colours = page.evaluate(
        """() => { const s = getComputedStyle(document.documentElement);
                   return [s.backgroundColor, s.color, s.colorScheme]; }"""
    )
    background, text = luminance(colours[0]), luminance(colours[1])
    if scheme == "dark":
        assert background < 0.05 < 0.6 < text, colours
    else:
        assert text < 0.05 < 0.8 < background, colours
    page.emulate_media(color_scheme="dark" if scheme == "light" else "light")
    assert (
        page.evaluate("() => getComputedStyle(document.documentElement).backgroundColor")
        != colours[0]
    )


# ---- Focus is always visible ----


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_keyboard_focus_shows_a_clear_outline(
    scheme, new_browser_context, watch_page, browser_log_in, alice
):
    page = open_chat(new_browser_context, watch_page, browser_log_in, alice, color_scheme=scheme)
    page.locator("#message").focus()
    page.keyboard.press("Tab")  # to the Send button
    expect(page.get_by_role("button", name="Send")).to_be_focused()
    ring = page.evaluate(
        """() => { const s = getComputedStyle(document.activeElement);
                   return [s.outlineStyle, parseFloat(s.outlineWidth), s.outlineColor,
                           getComputedStyle(document.documentElement).backgroundColor]; }"""
    )
    assert ring[0] == "solid" and ring[1] >= 2, ring
    ring_light, page_light = luminance(ring[2]), luminance(ring[3])
    # WCAG 1.4.11: 3:1 against the page for the focus indicator.
    high, low = max(ring_light, page_light), min(ring_light, page_light)
    assert (high + 0.05) / (low + 0.05) >= 3, ring
