"""Sending files through the real server (chatsite/asgi.py, the fake relay over HTTP): what the
relay receives, refusals as composer sentences with nothing stored, the full-history fallback,
new versions keeping the files, and the quota reservation counting them."""

import base64
import io
import uuid

import pytest
from PIL import Image

from chatsite.asgi import route
from conversations.models import Attachment, Conversation, Reply, Reservation
from tests import attachment_files as files
from tests.conftest import wait_for_reply_sync

pytestmark = pytest.mark.django_db(transaction=True)


def post_files(client, message="What is in these?", attachments=(), conversation="", htmx=True):
    return client.post(
        "/send/",
        data={
            "message": message,
            "conversation": str(conversation),
            "client_token": str(uuid.uuid4()),
            "model": "gpt-5.5",
            "truncation": "auto",
        },
        files=[("attachments", item) for item in attachments],
        headers={"HX-Request": "true"} if htmx else {},
    )


def sent_parts(fake_upstream, index=-1):
    return fake_upstream.requests[index]["json"]["input"]


def test_a_multipart_send_runs_on_a_thread_of_its_own():
    multipart = {"path": "/send/", "headers": [(b"content-type", b"multipart/form-data; b=x")]}
    plain = {"path": "/send/", "headers": [(b"content-type", b"application/x-www-form-urlencoded")]}
    assert route(multipart) == "own"
    assert route(plain) == "shared"


def test_image_pdf_and_text_reach_the_relay_as_parts(asgi_server, browser_session, fake_upstream):
    response = post_files(
        browser_session,
        attachments=[
            ("photo.png", files.png(800, 600), "image/png"),
            ("report.pdf", files.pdf(pages=3), "application/pdf"),
            ("notes.md", b"# Notes\nBuy tea", "text/markdown"),
        ],
    )
    assert response.status_code == 200, response.text
    reply = wait_for_reply_sync(Reply.objects.get().pk)
    assert reply.status == Reply.Status.COMPLETED

    [message] = sent_parts(fake_upstream)
    assert message["role"] == "user"
    kinds = [part["type"] for part in message["content"]]
    assert kinds == ["input_text", "input_image", "input_file", "input_text"]
    assert message["content"][0]["text"] == "What is in these?"
    image = message["content"][1]["image_url"]
    assert image.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(image.split(",", 1)[1]))) as decoded:
        assert decoded.size == (800, 600)
    pdf = message["content"][2]
    assert pdf["filename"] == "report.pdf"
    assert pdf["file_data"].startswith("data:application/pdf;base64,")
    assert message["content"][3]["text"] == "File: notes.md\n\n# Notes\nBuy tea"
    # The fake relay read them, and counted the image's tokens (both stored).
    assert "800x600 JPEG" in reply.text and "a PDF of 3 pages" in reply.text
    assert reply.input_image_tokens == 85 + 170 * 2 * 2
    # Nothing of the files' data is kept in the recorded request parameters.
    assert "base64" not in str(reply.request_params)
    assert not reply.sent_full_history
    stored = list(reply.attachments.order_by("position"))
    assert [a.kind for a in stored] == ["image", "pdf", "text"]
    assert all(a.file.storage.exists(a.file.name) for a in stored)
    # The new turn, as the page gets it, shows the files.
    assert f'src="/files/{stored[0].pk}/"' in response.text
    assert f'href="/files/{stored[1].pk}/" download' in response.text


def test_a_message_may_be_only_files_and_is_titled_by_the_first(
    asgi_server, browser_session, fake_upstream
):
    response = post_files(
        browser_session, message="", attachments=[("Budget 2027.xlsx", files.xlsx(), "x/y")]
    )
    assert response.status_code == 200, response.text
    reply = wait_for_reply_sync(Reply.objects.get().pk)
    assert reply.conversation.title == "Budget 2027.xlsx"
    [message] = sent_parts(fake_upstream)
    [part] = message["content"]
    assert part["text"].startswith("File: Budget 2027.xlsx\n\n# Figures\nRegion,Sales")


@pytest.mark.parametrize(
    ("attachment", "status", "sentence"),
    [
        (("fake.png", b"plain text, not a picture", "image/png"), 400, "not a kind of file"),
        (("broken.png", files.png()[:300], "image/png"), 400, "could not be read"),
        (("locked.pdf", files.pdf(password="pw"), "application/pdf"), 400, "password"),
        (("broken.pdf", b"%PDF-1.4\nnot really", "application/pdf"), 400, "could not be read"),
        (("program.exe", b"MZ\x90\x00\x03", "application/octet-stream"), 400, "Accepted are"),
    ],
)
def test_refusals_are_composer_sentences_and_store_nothing(
    asgi_server, browser_session, fake_upstream, attachment, status, sentence
):
    good = ("fine.txt", b"fine", "text/plain")
    response = post_files(browser_session, message="Keep me", attachments=[good, attachment])
    assert response.status_code == status
    assert sentence in response.text
    assert response.headers["HX-Retarget"] == "#composer-error"
    assert not Reply.objects.exists() and not Attachment.objects.exists()
    assert fake_upstream.requests == []


def test_without_javascript_a_refusal_gives_the_page_back_with_the_text(
    asgi_server, browser_session, settings
):
    settings.MAX_ATTACHMENT_MB = 1
    response = post_files(
        browser_session,
        message="My long question",
        attachments=[("big.txt", b"a" * (1024 * 1024 + 10), "text/plain")],
        htmx=False,
    )
    assert response.status_code == 413
    assert "too large" in response.text and "My long question" in response.text
    assert 'enctype="multipart/form-data"' in response.text
    assert 'name="attachments"' in response.text


def test_too_many_files_and_the_storage_allowance(
    asgi_server, browser_session, settings, alice, attachment_files
):
    settings.MAX_ATTACHMENTS_PER_MESSAGE = 2
    three = [(f"f{i}.txt", b"x", "text/plain") for i in range(3)]
    response = post_files(browser_session, attachments=three)
    assert response.status_code == 413 and "at most 2 files" in response.text

    settings.ATTACHMENT_STORAGE_PER_USER_MB = 1
    first = post_files(browser_session, attachments=[("a.txt", b"a" * 700_000, "text/plain")])
    assert first.status_code == 200
    wait_for_reply_sync(Reply.objects.get().pk)
    second = post_files(browser_session, attachments=[("b.txt", b"b" * 700_000, "text/plain")])
    assert second.status_code == 413 and "storage for attachments" in second.text
    assert Attachment.objects.count() == 1
    # The refused send's file was removed with its rolled-back row.
    assert len(attachment_files.listdir(str(alice.pk))[1]) == 1


def test_the_reservation_counts_the_files(asgi_server, browser_session, fake_upstream):
    fake_upstream.queue({"behaviour": "ok", "text": "ok", "delay_ms": 400})
    post_files(browser_session, message="Hi", attachments=[("p.pdf", files.pdf(4), "x/y")])
    reply = Reply.objects.get()
    reservation = Reservation.objects.get(reply=reply)
    attachment = reply.attachments.get()
    assert attachment.estimated_tokens >= 4 * 765
    assert reservation.tokens >= attachment.estimated_tokens
    wait_for_reply_sync(reply.pk)


def test_later_turns_chain_and_the_full_history_fallback_resends_the_files(
    asgi_server, browser_session, fake_upstream
):
    post_files(browser_session, message="Look", attachments=[("a.png", files.png(), "image/png")])
    first = wait_for_reply_sync(Reply.objects.get().pk)
    conversation = first.conversation
    # The relay forgot the first response: the second turn is sent again with the history.
    fake_upstream.forget_responses()
    response = browser_session.post(
        "/send/",
        data={
            "message": "And now?",
            "conversation": str(conversation.pk),
            "client_token": str(uuid.uuid4()),
            "model": "gpt-5.5",
            "truncation": "auto",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    second = wait_for_reply_sync(conversation.replies.get(position=1).pk)
    assert second.status == Reply.Status.COMPLETED and second.sent_full_history
    chained, resent = fake_upstream.requests[-2]["json"], fake_upstream.requests[-1]["json"]
    assert chained["input"] == "And now?" and chained["previous_response_id"]
    assert [m["role"] for m in resent["input"]] == ["user", "assistant", "user"]
    first_message = resent["input"][0]["content"]
    assert [part["type"] for part in first_message] == ["input_text", "input_image"]
    assert resent["input"][2]["content"] == "And now?"


def test_regenerate_keeps_the_turns_files_as_copies(asgi_server, browser_session, fake_upstream):
    post_files(browser_session, message="Read", attachments=[("n.txt", b"hello", "text/plain")])
    original = wait_for_reply_sync(Reply.objects.get().pk)
    response = browser_session.post(
        f"/r/{original.pk}/regenerate/",
        data={"client_token": str(uuid.uuid4())},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    again = Reply.objects.exclude(pk=original.pk).get()
    wait_for_reply_sync(again.pk)
    [copy] = again.attachments.all()
    [first] = original.attachments.all()
    assert copy.name == "n.txt" and copy.file.name != first.file.name
    assert copy.file.read() == b"hello"
    [message] = fake_upstream.requests[-1]["json"]["input"]
    assert message["content"][1]["text"] == "File: n.txt\n\nhello"
    # Deleting the conversation removes both files once committed.
    names = [copy.file.name, first.file.name]
    storage = copy.file.storage
    Conversation.objects.filter(pk=original.conversation_id).delete()
    assert not any(storage.exists(name) for name in names)


def test_without_usage_from_the_relay_the_estimate_counts_the_image(
    asgi_server, browser_session, fake_upstream
):
    fake_upstream.queue({"behaviour": "ok", "text": "Seen.", "usage": "none"})
    post_files(browser_session, message="Hi", attachments=[("a.png", files.png(), "image/png")])
    reply = wait_for_reply_sync(Reply.objects.get().pk)
    assert reply.usage_estimated
    assert reply.input_tokens >= reply.attachments.get().estimated_tokens == 765


def test_image_tokens_in_the_chat_naming_scheme_are_stored(
    asgi_server, browser_session, fake_upstream
):
    fake_upstream.queue({"behaviour": "ok", "text": "Seen.", "usage": "chat"})
    post_files(browser_session, message="Hi", attachments=[("a.png", files.png(), "image/png")])
    reply = wait_for_reply_sync(Reply.objects.get().pk)
    assert not reply.usage_estimated and reply.input_image_tokens == 765


def test_edit_keeps_the_files_and_may_leave_no_text(asgi_server, browser_session, fake_upstream):
    post_files(browser_session, message="Read", attachments=[("n.txt", b"hello", "text/plain")])
    original = wait_for_reply_sync(Reply.objects.get().pk)
    response = browser_session.post(
        f"/r/{original.pk}/edit/",
        data={"client_token": str(uuid.uuid4()), "message": ""},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200, response.text
    edited = wait_for_reply_sync(Reply.objects.exclude(pk=original.pk).get().pk)
    assert edited.user_input == "" and [a.name for a in edited.attachments.all()] == ["n.txt"]
    [message] = fake_upstream.requests[-1]["json"]["input"]
    assert message["content"] == [{"type": "input_text", "text": "File: n.txt\n\nhello"}]


def test_a_multipart_message_keeps_its_line_ends_as_typed(
    asgi_server, browser_session, fake_upstream
):
    """Browsers send a textarea's newlines as CRLF in multipart/form-data."""
    response = post_files(
        browser_session,
        message="First line\r\nsecond line",
        attachments=[("n.txt", b"note", "text/plain")],
    )
    assert response.status_code == 200
    reply = wait_for_reply_sync(Reply.objects.get().pk)
    assert reply.user_input == "First line\nsecond line"
