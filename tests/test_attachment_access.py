"""Who gets a stored file, and how it is served; files in exports; files removed with their
conversation by a purge and kept under a legal hold."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from conversations.attachments import intake, store
from conversations.models import Conversation, Reply, ReviewAccess
from tests import attachment_files as files
from tests.review_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db


def conversation_with_files(owner, days_idle=0, **fields):
    moment = timezone.now() - timedelta(days=days_idle)
    conversation = Conversation.objects.create(
        owner=owner, title="With files", model="gpt-5.5", updated_at=moment, **fields
    )
    reply = Reply.objects.create(
        conversation=conversation,
        user=owner,
        user_input="Look",
        text="Seen.",
        status=Reply.Status.COMPLETED,
        model="gpt-5.5",
    )
    image, pdf = store.attach(
        reply,
        [
            intake.read_bytes(files.png(640, 480), "chart.png"),
            intake.read_bytes(files.pdf(pages=2), "report.pdf"),
        ],
    )
    return conversation, image, pdf


def test_the_owner_gets_an_image_inline_and_a_pdf_as_a_download(alice, alice_client):
    _, image, pdf = conversation_with_files(alice)
    shown = alice_client.get(f"/files/{image.pk}/")
    assert shown.status_code == 200
    assert shown["Content-Type"] == "image/jpeg"
    assert shown["Content-Disposition"] == 'inline; filename="chart.jpg"'
    assert shown["X-Content-Type-Options"] == "nosniff"
    assert shown["Cache-Control"].startswith("private")
    assert shown["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert b"".join(shown.streaming_content) == image.file.storage.open(image.file.name).read()
    downloaded = alice_client.get(f"/files/{pdf.pk}/")
    assert downloaded["Content-Disposition"] == 'attachment; filename="report.pdf"'
    assert downloaded["Content-Type"] == "application/pdf"
    assert not ReviewAccess.objects.exists()  # the owner's own reads are not recorded


def test_another_user_gets_a_404_and_a_reviewer_is_recorded(
    alice, bob_client, reviewer, reviewer_client
):
    conversation, image, _ = conversation_with_files(alice)
    assert bob_client.get(f"/files/{image.pk}/").status_code == 404
    assert reviewer_client.get(f"/files/{image.pk}/").status_code == 200
    entry = ReviewAccess.objects.get()
    assert (entry.actor, entry.action, entry.conversation) == (reviewer, "downloaded", conversation)
    assert "chart.jpg" in entry.detail and str(image.pk) in entry.detail


def test_a_deleted_conversations_files_are_gone_for_the_owner_not_for_reviewers(
    alice, alice_client, reviewer_client
):
    conversation, image, _ = conversation_with_files(alice)
    conversation.delete_for_owner()
    assert alice_client.get(f"/files/{image.pk}/").status_code == 404
    assert reviewer_client.get(f"/files/{image.pk}/").status_code == 200


def test_the_page_shows_thumbnails_and_file_chips(alice, alice_client):
    conversation, image, pdf = conversation_with_files(alice)
    page = alice_client.get(conversation.get_absolute_url()).text
    assert f'src="/files/{image.pk}/"' in page and 'width="640" height="480"' in page
    assert f'href="/files/{pdf.pk}/" download' in page and "report.pdf" in page


def test_exports_carry_the_files(alice, alice_client):
    conversation, image, pdf = conversation_with_files(alice)
    data = json.loads(alice_client.get(f"/c/{conversation.pk}/export.json").content)
    listed = data["replies"][0]["attachments"]
    assert [(a["name"], a["kind"], a["size"]) for a in listed] == [
        ("chart.jpg", "image", image.size),
        ("report.pdf", "pdf", pdf.size),
    ]
    response = alice_client.get(f"/c/{conversation.pk}/export.zip")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    inside = json.loads(archive.read("conversation.json"))
    assert inside["replies"][0]["attachments"] == listed
    for entry in listed:
        with pdf.file.storage.open(
            (image if entry["kind"] == "image" else pdf).file.name
        ) as stored:
            assert archive.read(entry["path_in_zip"]) == stored.read()


def test_the_zip_export_is_the_owners_only(alice, bob_client, reviewer_client):
    conversation, _, _ = conversation_with_files(alice)
    assert bob_client.get(f"/c/{conversation.pk}/export.zip").status_code == 404
    assert reviewer_client.get(f"/c/{conversation.pk}/export.zip").status_code == 404


def test_a_purge_removes_the_files_and_a_hold_keeps_them(
    alice, settings, django_capture_on_commit_callbacks
):
    settings.CONVERSATION_RETENTION_DAYS = 30
    _, stale_image, stale_pdf = conversation_with_files(alice, days_idle=40)
    _, held_image, held_pdf = conversation_with_files(alice, days_idle=40, legal_hold=True)
    storage = stale_image.file.storage
    stale = [stale_image.file.name, stale_pdf.file.name]
    held = [held_image.file.name, held_pdf.file.name]
    assert all(storage.exists(name) for name in stale + held)
    with django_capture_on_commit_callbacks(execute=True):
        call_command("purge_conversations", stdout=io.StringIO())
    assert not any(storage.exists(name) for name in stale)
    assert all(storage.exists(name) for name in held)


def test_my_usage_shows_the_storage_used(alice, alice_client, settings):
    settings.ATTACHMENT_STORAGE_PER_USER_MB = 5
    conversation, image, pdf = conversation_with_files(alice)
    conversation.replies.update(input_image_tokens=1234)
    page = alice_client.get("/usage/").text
    assert "5.0\xa0MB" in page and 'id="attachment-storage"' in page
    assert f"{(image.size + pdf.size) / 1024:.1f}\xa0KB" in page
    assert '<dd id="month-image-tokens">1,234</dd>' in page


def test_deleted_conversations_lose_their_files_after_undo_unless_held(
    alice, settings, django_capture_on_commit_callbacks
):
    """With deleted conversations not kept, the owner's next visit removes what they deleted
    longer ago than Undo allows, files included; a legal hold keeps conversation and files."""
    from conversations.models.chat import UNDO_WINDOW

    settings.KEEP_DELETED_CONVERSATIONS = False
    gone, gone_image, _ = conversation_with_files(alice)
    held, held_image, _ = conversation_with_files(alice, legal_hold=True)
    long_ago = timezone.now() - UNDO_WINDOW - timedelta(minutes=1)
    Conversation.objects.filter(pk__in=[gone.pk, held.pk]).update(deleted_at=long_ago)
    storage = gone_image.file.storage
    with django_capture_on_commit_callbacks(execute=True):
        Conversation.objects.purge_lapsed_deletes(alice)
    assert not storage.exists(gone_image.file.name)
    assert storage.exists(held_image.file.name)
    assert Conversation.objects.filter(pk=held.pk).exists()


def test_a_reviewer_exports_the_zip_from_the_admin_and_it_is_recorded(
    alice, reviewer, reviewer_client
):
    conversation, _, _ = conversation_with_files(alice)
    response = reviewer_client.post(
        "/admin/conversations/conversation/",
        {"action": "export_zip", "_selected_action": [str(conversation.pk)]},
    )
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    assert len([name for name in archive.namelist() if name.startswith("files/")]) == 2
    entry = ReviewAccess.objects.get()
    assert (entry.actor, entry.action, entry.conversation) == (reviewer, "exported", conversation)
