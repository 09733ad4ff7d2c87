"""Attaching files in the composer, in a real browser (Chromium through Playwright, the site
under uvicorn), issue 17 point 1: the Attach button opens the file chooser, files dropped on
the chat and images pasted into the box join them; each is a chip (name, size, a thumbnail
for images, "Remove <name>") whose files are exactly the file input's; what the server would
refuse is refused at once with its sentence, the text and the other chips kept; a message may
be only files; without JavaScript the plain file input posts with the form.

These need nothing of the server's side of attachments; the files reaching the relay are in
test_browser_attachments_sent.py."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser_files import (
    MAKE_FILE_JS,
    as_base64,
    payload,
    pdf,
    png,
    png_bytes,
    text_file,
)
from tests.test_accessibility import serious_violations

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]

LAST_REPLY = "article.reply >> nth=-1"
ACCEPTED = (
    "Accepted are images (PNG, JPEG, WebP, GIF), PDF, Word, Excel and PowerPoint files, and "
    "plain text (text, Markdown, CSV, JSON, source code)."
)


def chips(page):
    return page.get_by_role("list", name="Files to send").get_by_role("listitem")


def input_files(page) -> list[str]:
    """The names of the files the form would send (the file input's FileList)."""
    return page.evaluate(
        "() => Array.from(document.getElementById('attachments').files, (file) => file.name)"
    )


def attach_button(page):
    return page.locator("#composer").get_by_role("button", name="Attach", exact=True)


def send_button(page):
    return page.locator("#composer").get_by_role("button", name="Send", exact=True)


def is_send(request) -> bool:
    return request.method == "POST" and request.url.endswith("/send/")


# The browser does not show a body with files to Playwright: the page's fetch is watched to
# see what each send carries (name -> file name, size and first bytes, or the value).
WATCH_SENDS_JS = """() => {
  window.sentForms = [];
  const original = window.fetch;
  window.fetch = async (resource, options) => {
    const body = options?.body;
    if (body instanceof FormData) {
      const entries = [];
      for (const [name, value] of body) {
        entries.push(value instanceof File
          ? [name, { file: value.name, size: value.size, text: await value.slice(0, 40).text() }]
          : [name, value]);
      }
      window.sentForms.push(entries);
    } else if (body !== undefined) {
      window.sentForms.push(String(body));
    }
    return original(resource, options);
  };
}"""


def sent_forms(page) -> list:
    return page.evaluate("() => window.sentForms")


def paste(page, name: str, image: bytes, text: str | None = None) -> bool:
    """Pastes a PNG (and `text`, if any) into the message box; whether the page took it."""
    page.evaluate(MAKE_FILE_JS)
    return page.evaluate(
        """([name, data, text]) => {
          const clipboard = new DataTransfer();
          if (text !== null) clipboard.setData("text/plain", text);
          clipboard.items.add(makeFile(name, "image/png", data));
          const options = { clipboardData: clipboard, bubbles: true, cancelable: true };
          const paste = new ClipboardEvent("paste", options);
          document.getElementById("message").dispatchEvent(paste);
          return paste.defaultPrevented;
        }""",
        [name, as_base64(image), text],
    )


def test_attach_opens_the_chooser_and_each_file_is_a_chip(chat_page):
    page = chat_page.page
    with page.expect_file_chooser() as chosen:
        attach_button(page).click()
    chooser = chosen.value
    assert chooser.is_multiple()
    csv = text_file("data.csv", "a,b\n" * 640)
    chooser.set_files([png("screenshot.png"), pdf("report.pdf"), csv])

    expect(chips(page)).to_have_count(3)
    expect(chips(page).nth(0)).to_contain_text("screenshot.png")
    expect(chips(page).nth(1)).to_contain_text("report.pdf")
    expect(chips(page).nth(2)).to_contain_text("data.csv")
    expect(chips(page).nth(2)).to_contain_text("2.5 KB")  # 2,560 bytes
    small = len(png_bytes())
    expect(chips(page).nth(0)).to_contain_text(f"{small} bytes")
    assert input_files(page) == ["screenshot.png", "report.pdf", "data.csv"]

    # The image shows its thumbnail (the image itself, from the page's memory); others an icon.
    thumbnail = chips(page).nth(0).locator("img")
    expect(thumbnail).to_have_attribute("src", re.compile("^blob:"))
    assert thumbnail.evaluate("(img) => [img.naturalWidth, img.naturalHeight]") == [64, 48]
    expect(chips(page).nth(1).locator("img")).to_have_count(0)
    for name in ("screenshot.png", "report.pdf", "data.csv"):
        expect(page.get_by_role("button", name=f"Remove {name}", exact=True)).to_be_visible()
    expect(page.locator("#attachment-status")).to_have_text(
        "Attached screenshot.png. Attached report.pdf. Attached data.csv."
    )
    assert chat_page.csp_violations() == []  # the thumbnail's blob: address is allowed

    # A second pick adds to the first (the chooser's own list would replace it); the same file
    # again is not added twice.
    page.locator("#attachments").set_input_files([text_file("more.md", "# More\n")])
    expect(chips(page)).to_have_count(4)
    assert input_files(page) == ["screenshot.png", "report.pdf", "data.csv", "more.md"]
    page.evaluate(
        """() => {
          const input = document.getElementById("attachments");
          const again = new DataTransfer();
          again.items.add(input.files[3]);  // the very same file (name, size, date)
          input.files = again.files;
          input.dispatchEvent(new Event("change", { bubbles: true }));
        }"""
    )
    expect(chips(page)).to_have_count(4)
    assert input_files(page) == ["screenshot.png", "report.pdf", "data.csv", "more.md"]


def test_a_chip_is_removed_by_its_button_and_its_file_goes_with_it(chat_page):
    page = chat_page.page
    page.locator("#message").fill("Compare these")
    page.locator("#attachments").set_input_files(
        [png("screenshot.png"), pdf("report.pdf"), text_file("notes.txt")]
    )
    expect(chips(page)).to_have_count(3)
    thumbnail_url = chips(page).nth(0).locator("img").get_attribute("src")

    page.get_by_role("button", name="Remove report.pdf", exact=True).click()
    expect(chips(page)).to_have_count(2)
    assert input_files(page) == ["screenshot.png", "notes.txt"]
    expect(page.locator("#attachment-status")).to_have_text("Removed report.pdf.")
    # Focus goes to the next chip's Remove, so the keyboard can go on removing.
    expect(page.get_by_role("button", name="Remove notes.txt", exact=True)).to_be_focused()

    # By keyboard: the image's chip, and its thumbnail's object URL is given back.
    page.get_by_role("button", name="Remove screenshot.png", exact=True).focus()
    page.keyboard.press("Enter")
    expect(chips(page)).to_have_count(1)
    assert input_files(page) == ["notes.txt"]
    assert (
        page.evaluate(
            "(url) => fetch(url).then(() => 'still there', () => 'revoked')", thumbnail_url
        )
        == "revoked"
    )
    page.keyboard.press("Space")  # the focused "Remove notes.txt"
    expect(chips(page)).to_have_count(0)
    expect(page.get_by_role("list", name="Files to send")).to_be_hidden()
    assert input_files(page) == []
    expect(page.locator("#message")).to_be_focused()
    expect(page.locator("#message")).to_have_value("Compare these")


def test_an_image_pasted_into_the_box_is_attached_and_text_pastes_as_text(chat_page):
    page = chat_page.page
    box = page.locator("#message")
    box.fill("What is in this picture?")
    prevented = paste(page, "image.png", png_bytes(40, 30))
    assert prevented
    expect(chips(page)).to_have_count(1)
    expect(chips(page).first).to_contain_text("image.png")
    image = chips(page).first.locator("img")
    expect(image).to_have_attribute("src", re.compile("^blob:"))
    assert image.evaluate("(img) => img.naturalWidth") == 40
    assert input_files(page) == ["image.png"]
    expect(box).to_have_value("What is in this picture?")

    # Text copied with a picture of it (a spreadsheet's cells, say) pastes as text only.
    prevented = paste(page, "cells.png", png_bytes(), text="a\tb")
    assert not prevented
    expect(chips(page)).to_have_count(1)


def test_files_dropped_on_the_chat_are_attached_after_an_overlay_invites_them(chat_page):
    page = chat_page.page
    page.locator("#message").fill("Summarise this")
    page.evaluate(MAKE_FILE_JS)
    dragged = page.evaluate_handle(
        """(data) => {
          const transfer = new DataTransfer();
          transfer.items.add(makeFile("minutes.pdf", "application/pdf", data));
          return transfer;
        }""",
        as_base64(pdf("minutes.pdf")["buffer"]),
    )
    overlay = page.locator("#drop-overlay")
    expect(overlay).to_be_hidden()
    page.dispatch_event("#transcript", "dragenter", {"dataTransfer": dragged})
    expect(overlay).to_be_visible()
    expect(overlay).to_have_text("Drop files to attach")
    page.dispatch_event("#transcript", "dragleave", {"dataTransfer": dragged})
    expect(overlay).to_be_hidden()  # dragged away again

    page.dispatch_event("#transcript", "dragenter", {"dataTransfer": dragged})
    page.dispatch_event("#transcript", "dragover", {"dataTransfer": dragged})
    page.dispatch_event("#transcript", "drop", {"dataTransfer": dragged})
    expect(overlay).to_be_hidden()
    expect(chips(page)).to_have_count(1)
    expect(chips(page).first).to_contain_text("minutes.pdf")
    assert input_files(page) == ["minutes.pdf"]
    expect(page.locator("#message")).to_have_value("Summarise this")
    # Dropped outside the chat (on the list of conversations) it is not opened by the browser.
    assert page.evaluate(
        """(transfer) => {
          const options = { dataTransfer: transfer, bubbles: true, cancelable: true };
          const drop = new DragEvent("drop", options);
          document.querySelector(".sidebar").dispatchEvent(drop);
          return drop.defaultPrevented;
        }""",
        dragged,
    )
    expect(chips(page)).to_have_count(1)


def test_files_over_a_limit_are_refused_at_once_and_nothing_else_is_lost(chat_page, settings):
    settings.MAX_ATTACHMENT_MB = 1
    settings.MAX_ATTACHMENTS_PER_MESSAGE = 3
    page = chat_page.page
    page.reload()
    box = page.locator("#message")
    box.fill("Please read these")
    error = page.locator("#composer-error")
    page.locator("#attachments").set_input_files([text_file("notes.txt")])
    expect(chips(page)).to_have_count(1)

    big = payload("big.pdf", "application/pdf", b"%PDF-1.4\n" + b"0" * (1536 * 1024))
    program = payload("setup.exe", "application/x-msdownload", b"MZ" + b"\0" * 64)
    page.locator("#attachments").set_input_files([big, program])
    expect(error).to_contain_text("“big.pdf” is too large: files may be at most 1.0 MB.")
    expect(error).to_contain_text(f"“setup.exe” is not a kind of file this site takes. {ACCEPTED}")
    expect(chips(page)).to_have_count(1)
    assert input_files(page) == ["notes.txt"]
    expect(box).to_have_value("Please read these")

    # Three files at most: of three more, two fit.
    page.locator("#attachments").set_input_files(
        [text_file("a.txt"), text_file("b.txt"), text_file("c.txt")]
    )
    expect(error).to_have_text("A message may carry at most 3 files. This one has 4.")
    expect(chips(page)).to_have_count(3)
    assert input_files(page) == ["notes.txt", "a.txt", "b.txt"]
    expect(box).to_have_value("Please read these")

    # Room again: the file fits and the refusal goes.
    page.get_by_role("button", name="Remove a.txt", exact=True).click()
    page.locator("#attachments").set_input_files([text_file("c.txt")])
    expect(error).to_be_empty()
    assert input_files(page) == ["notes.txt", "b.txt", "c.txt"]

    # A file the browser knows no type of goes to the server, which reads its content.
    page.get_by_role("button", name="Remove b.txt", exact=True).click()
    unknown = payload("Dockerfile", "application/octet-stream", b"FROM python:3.13\n")
    page.locator("#attachments").set_input_files([unknown])
    expect(error).to_be_empty()
    assert input_files(page) == ["notes.txt", "c.txt", "Dockerfile"]


def test_a_message_may_be_only_files_and_is_sent_as_multipart_only_with_files(chat_page):
    page = chat_page.page
    box = page.locator("#message")
    sends = []
    page.on("request", lambda request: sends.append(request) if is_send(request) else None)

    box.press("Enter")  # nothing to send
    page.wait_for_timeout(300)
    assert sends == []

    page.evaluate(WATCH_SENDS_JS)
    page.locator("#attachments").set_input_files([text_file("notes.txt", "Remember the milk.\n")])
    expect(send_button(page)).to_be_enabled()
    with page.expect_request(is_send) as sent:
        box.press("Enter")  # the box is empty, a file is attached: it goes
    assert sent.value.headers["content-type"].startswith("multipart/form-data; boundary=")
    (form,) = sent_forms(page)
    files = [value for name, value in form if name == "attachments"]
    assert files == [{"file": "notes.txt", "size": 19, "text": "Remember the milk.\n"}]
    assert ["message", ""] in form


def test_a_refused_send_keeps_text_and_chips_and_a_sent_one_clears_them(
    chat_page, fake_upstream, settings
):
    settings.MAX_MESSAGE_CHARS = 20
    page = chat_page.page
    page.reload()
    page.evaluate(WATCH_SENDS_JS)
    box = page.locator("#message")
    box.fill("A question far too long for the limit")
    page.locator("#attachments").set_input_files([png("screenshot.png"), text_file("notes.txt")])
    send_button(page).click()
    expect(page.locator("#composer-error")).to_contain_text("This message is too long")
    expect(box).to_have_value("A question far too long for the limit")
    expect(chips(page)).to_have_count(2)
    assert input_files(page) == ["screenshot.png", "notes.txt"]
    assert chips(page).first.locator("img").evaluate("(img) => img.naturalWidth") == 64

    fake_upstream.queue({"behaviour": "ok", "text": "Done."})
    box.fill("Short question")
    with page.expect_request(is_send) as sent:
        send_button(page).click()
    assert sent.value.headers["content-type"].startswith("multipart/form-data")
    refused, accepted = sent_forms(page)
    for form in (refused, accepted):
        files = [value["file"] for name, value in form if name == "attachments"]
        assert files == ["screenshot.png", "notes.txt"]  # both times, the same two
    expect(page.locator("article.reply")).to_have_count(1)
    expect(box).to_have_value("")
    expect(chips(page)).to_have_count(0)
    assert input_files(page) == []
    expect(page.locator("#composer-error")).to_be_empty()

    # The next message, without files, goes as a plain form post again.
    expect(page.locator(LAST_REPLY)).to_have_attribute("aria-busy", "false")
    fake_upstream.queue({"behaviour": "ok", "text": "Again."})
    box.fill("Another")
    with page.expect_request(is_send) as sent:
        box.press("Enter")
    assert sent.value.headers["content-type"].startswith("application/x-www-form-urlencoded")
    assert "attachments" not in sent.value.post_data
    assert "message=Another" in sent.value.post_data
    expect(page.locator("article.reply")).to_have_count(2)


def test_saving_the_settings_does_not_carry_the_files(chat_page, fake_upstream):
    page = chat_page.page
    fake_upstream.queue({"behaviour": "ok", "text": "Hello."})
    page.locator("#message").fill("Hi")
    page.locator("#message").press("Enter")
    expect(page.locator(LAST_REPLY)).to_have_attribute("aria-busy", "false")
    page.reload()  # the conversation's page, with Save settings
    page.evaluate(WATCH_SENDS_JS)
    page.locator("#attachments").set_input_files([text_file("notes.txt")])
    page.locator("#composer").get_by_role("button", name="Custom instructions").click()
    dialog = page.get_by_role("dialog", name="Conversation settings")
    dialog.get_by_label("Custom instructions").fill("Be brief.")
    dialog.get_by_role("button", name="Save settings").click()
    expect(dialog.get_by_role("status")).to_have_text("Saved.")
    (form,) = sent_forms(page)
    names = [name for name, _ in form]
    assert "instructions" in names and "attachments" not in names
    dialog.get_by_role("button", name="Done").click()
    assert input_files(page) == ["notes.txt"]  # still attached for the next message


def test_the_keyboard_reaches_attach_just_before_the_box(chat_page):
    page = chat_page.page
    # Playwright catches file choosers once told to; told now, not as the key is pressed.
    page.on("filechooser", lambda chooser: None)
    page.locator("#message").focus()
    page.keyboard.press("Shift+Tab")
    expect(attach_button(page)).to_be_focused()  # the hidden input is not a second stop
    with page.expect_file_chooser() as chosen:
        page.keyboard.press("Enter")
    chosen.value.set_files([text_file("notes.txt")])
    expect(chips(page)).to_have_count(1)
    page.keyboard.press("Tab")
    expect(page.locator("#message")).to_be_focused()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_chips_and_refusals_have_no_serious_accessibility_violations(
    scheme, new_browser_context, watch_page, browser_log_in, alice
):
    context = new_browser_context(color_scheme=scheme)
    browser_log_in(context, alice)
    page = watch_page(context).page
    page.goto("/")
    page.locator("#attachments").set_input_files(
        [png("screenshot.png"), pdf("a report with a rather long name, 2026.pdf")]
    )
    page.locator("#attachments").set_input_files(
        [payload("setup.exe", "application/x-msdownload", b"MZ")]
    )
    expect(chips(page)).to_have_count(2)
    expect(page.locator("#composer-error")).not_to_be_empty()
    assert serious_violations(page) == []
    page.evaluate("() => { document.getElementById('drop-overlay').hidden = false; }")
    assert serious_violations(page) == []


def test_without_javascript_the_file_input_posts_with_the_form(
    new_browser_context, watch_page, browser_log_in, alice, fake_upstream
):
    context = new_browser_context(java_script_enabled=False)
    browser_log_in(context, alice)
    page = watch_page(context).page
    page.goto("/")
    expect(attach_button(page)).to_be_hidden()
    files = page.get_by_label("Files to attach")
    expect(files).to_be_visible()
    files.set_input_files([text_file("notes.txt", "Plain form.\n"), png("screenshot.png")])
    page.get_by_label("Message").fill("Hello with files")
    fake_upstream.queue({"behaviour": "ok", "text": "Hi."})
    with page.expect_request(is_send) as sent:
        send_button(page).click()
    # (What it carried reaches the relay: test_browser_attachments_sent.py.)
    assert sent.value.headers["content-type"].startswith("multipart/form-data")
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
