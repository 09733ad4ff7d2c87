"""Attaching without JavaScript (helper F's composer tests cover the scripted chips, drop and
paste): the plain file input posts the form as multipart; the turn shows the image and the
file, and a refused file gives the page back with the typed text."""

import re

import pytest
from playwright.sync_api import expect

from conversations.models import Reply
from tests import attachment_files as files
from tests.conftest import PASSWORD

pytest_plugins = ["tests.browser_fixtures"]
pytestmark = [pytest.mark.browser]


def log_in_without_scripts(new_browser_context, watch_page):
    page = watch_page(new_browser_context(java_script_enabled=False)).page
    page.goto("/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/$"))
    return page


def test_without_javascript_files_are_sent_and_shown(
    new_browser_context, watch_page, fake_upstream, alice, tmp_path
):
    image, pdf = tmp_path / "chart.png", tmp_path / "report.pdf"
    image.write_bytes(files.png(640, 480))
    pdf.write_bytes(files.pdf(pages=2))
    page = log_in_without_scripts(new_browser_context, watch_page)
    page.get_by_label("Message").fill("What do these show?")
    page.get_by_label("Files to attach").set_input_files([str(image), str(pdf)])
    page.get_by_role("button", name="Send").click()

    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}/$"))
    expect(page.locator("article.reply")).to_have_attribute("aria-busy", "false")
    thumbnail = page.locator(".turn-files img")
    expect(thumbnail).to_have_attribute("alt", "chart.jpg")
    assert page.evaluate("document.querySelector('.turn-files img').naturalWidth") == 640
    expect(page.locator(".turn-files .file-chip")).to_contain_text("report.pdf")
    expect(page.locator("article.reply")).to_contain_text("I see a 640x480 JPEG image.")
    expect(page.locator("article.reply")).to_contain_text("a PDF of 2 pages")
    reply = Reply.objects.get(user=alice)
    assert reply.attachments.count() == 2


def test_without_javascript_a_refused_file_keeps_the_text(
    new_browser_context, watch_page, fake_upstream, alice, tmp_path
):
    fake = tmp_path / "photo.png"
    fake.write_text("not a picture at all")
    page = log_in_without_scripts(new_browser_context, watch_page)
    page.get_by_label("Message").fill("Keep this question")
    page.get_by_label("Files to attach").set_input_files(str(fake))
    page.get_by_role("button", name="Send").click()

    expect(page.locator("#composer-error")).to_contain_text("not a kind of file this site takes")
    expect(page.get_by_label("Message")).to_have_value("Keep this question")
    assert not Reply.objects.exists()
