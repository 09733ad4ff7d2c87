"""Attachments end to end, in a real browser (issue 17 points 1 to 3 and 9): files attached in
the composer reach the relay (an image as an `input_image` part, a PDF as an `input_file`
part, with and without JavaScript, a message of files only), and the server's own refusals
(over its size or number limits, a file that is not what its name says) show in the composer
with the typed text and the chips kept. These need the server's side of attachments (the send
view taking files); the composer alone is tested in test_browser_attachments.py."""

import base64
import io
import os
import re

import pytest
from PIL import Image
from playwright.sync_api import expect
from pypdf import PdfReader

from tests.browser_files import payload, pdf, pdf_bytes, png, png_bytes, text_file
from tests.test_browser_attachments import (
    LAST_REPLY,
    chips,
    input_files,
    paste,
    send_button,
)

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]


def user_parts(request: dict) -> list[dict]:
    """The content parts of the last user message the relay was sent."""
    messages = request["json"]["input"]
    assert isinstance(messages, list)
    last = [item for item in messages if item.get("role") == "user"][-1]
    return last["content"]


def data_url_bytes(url: str, media_type: str) -> bytes:
    prefix = f"data:{media_type};base64,"
    assert url.startswith(prefix), url[:40]
    return base64.b64decode(url[len(prefix) :])


def image_part(parts: list[dict]) -> Image.Image:
    (part,) = [part for part in parts if part["type"] == "input_image"]
    media_type = re.match(r"data:([^;]+);", part["image_url"]).group(1)
    assert media_type.startswith("image/")
    return Image.open(io.BytesIO(data_url_bytes(part["image_url"], media_type)))


def wait_until_answered(page) -> None:
    expect(page.locator("article.reply")).not_to_have_count(0)
    expect(page.locator(LAST_REPLY)).to_have_attribute("aria-busy", "false")


def test_an_image_and_a_pdf_attached_reach_the_relay(chat_page, fake_upstream):
    page = chat_page.page
    fake_upstream.queue({"behaviour": "ok", "text": "I see them."})
    page.locator("#message").fill("What do these show?")
    page.locator("#attachments").set_input_files([png("chart.png"), pdf("report.pdf", pages=3)])
    expect(chips(page)).to_have_count(2)
    send_button(page).click()
    wait_until_answered(page)
    expect(chips(page)).to_have_count(0)
    assert input_files(page) == []

    parts = user_parts(fake_upstream.requests[-1])
    assert parts[0] == {"type": "input_text", "text": "What do these show?"}
    assert image_part(parts).size == (64, 48)
    (document,) = [part for part in parts if part["type"] == "input_file"]
    assert document["filename"] == "report.pdf"
    sent = data_url_bytes(document["file_data"], "application/pdf")
    assert len(PdfReader(io.BytesIO(sent)).pages) == 3


def test_a_message_of_a_pasted_image_only_is_sent(chat_page, fake_upstream):
    page = chat_page.page
    fake_upstream.queue({"behaviour": "ok", "text": "A red rectangle."})
    paste(page, "image.png", png_bytes(120, 80))
    expect(chips(page)).to_have_count(1)
    page.locator("#message").press("Enter")
    wait_until_answered(page)
    parts = user_parts(fake_upstream.requests[-1])
    assert [part["type"] for part in parts if part["type"] != "input_text"] == ["input_image"]
    assert image_part(parts).size == (120, 80)
    expect(page.locator("#composer-error")).to_be_empty()


def test_without_javascript_the_files_reach_the_relay(
    new_browser_context, watch_page, browser_log_in, alice, fake_upstream
):
    context = new_browser_context(java_script_enabled=False)
    browser_log_in(context, alice)
    page = watch_page(context).page
    page.goto("/")
    fake_upstream.queue({"behaviour": "ok", "text": "Got them."})
    page.get_by_label("Files to attach").set_input_files([png("chart.png"), pdf("report.pdf")])
    page.get_by_label("Message").fill("Plain form")
    send_button(page).click()
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    parts = user_parts(fake_upstream.requests[-1])
    assert {part["type"] for part in parts} == {"input_text", "input_image", "input_file"}


def test_the_servers_refusals_keep_the_text_and_the_chips(chat_page, fake_upstream, settings):
    """The page was loaded under larger limits than the server now has, and a file is not
    what its name says: the server refuses, the page keeps everything."""
    page = chat_page.page  # loaded with 20 MB and 10 files
    settings.MAX_ATTACHMENT_MB = 1
    settings.MAX_ATTACHMENTS_PER_MESSAGE = 2
    box = page.locator("#message")
    error = page.locator("#composer-error")
    box.fill("Look at this")

    noise = Image.frombytes("RGB", (800, 700), os.urandom(800 * 700 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG")
    assert buffer.tell() > 1024 * 1024
    large = payload("noise.png", "image/png", buffer.getvalue())
    page.locator("#attachments").set_input_files([large])
    send_button(page).click()
    expect(error).to_have_text("“noise.png” is too large: files may be at most 1.0 MB.")
    expect(box).to_have_value("Look at this")
    assert input_files(page) == ["noise.png"]
    page.get_by_role("button", name="Remove noise.png", exact=True).click()

    page.locator("#attachments").set_input_files(
        [text_file("a.txt"), text_file("b.txt"), text_file("c.txt")]
    )
    send_button(page).click()
    expect(error).to_have_text("A message may carry at most 2 files. This one has 3.")
    expect(chips(page)).to_have_count(3)
    for name in ("a.txt", "b.txt", "c.txt"):
        page.get_by_role("button", name=f"Remove {name}", exact=True).click()

    disguised = payload("notes.txt", "text/plain", b"MZ\x90\x00\x03\x00\x00\x00" * 64 + pdf_bytes())
    page.locator("#attachments").set_input_files([disguised, text_file("real.txt")])
    send_button(page).click()
    expect(error).to_contain_text("“notes.txt” is not a kind of file this site takes. Accepted are")
    expect(box).to_have_value("Look at this")
    expect(chips(page)).to_have_count(2)
    assert input_files(page) == ["notes.txt", "real.txt"]
    assert fake_upstream.requests == []  # nothing reached the relay
