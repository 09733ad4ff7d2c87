"""Files that belong to a turn: what the person attached to their message (images, PDFs, text
and office files), and images a hosted tool made in the reply. Kept through Django's storage
API (STORAGES["attachments"]: the file system under var/ by default, any django-storages
backend by setting), never under a public URL: the chat serves each one after checking who
asks. A row's file is deleted with the row, once the deletion is committed."""

import uuid

from django.conf import settings
from django.core.files.storage import storages
from django.db import models, transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def attachment_storage():
    return storages["attachments"]


def stored_name(attachment: "Attachment", filename: str) -> str:
    """Where the file goes in storage: by owner and the row's random id, never the person's
    file name (which is kept in `name`, for display and downloads only)."""
    return f"{attachment.owner_id}/{attachment.pk.hex}"


class Attachment(models.Model):
    class Kind(models.TextChoices):
        IMAGE = "image", _("Image")
        PDF = "pdf", _("PDF")
        TEXT = "text", _("Text")
        DOCUMENT = "document", _("Document")

    class Origin(models.TextChoices):
        UPLOADED = "uploaded", _("Attached by the person")
        GENERATED = "generated", _("Made by the model")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        related_name="attachments",
    )
    reply = models.ForeignKey(
        "conversations.Reply",
        verbose_name=_("reply"),
        on_delete=models.CASCADE,
        related_name="attachments",
    )
    origin = models.CharField(
        _("origin"), max_length=10, choices=Origin.choices, default=Origin.UPLOADED
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    # The person's file name, for display and downloads only.
    name = models.CharField(_("file name"), max_length=255)
    # Of the stored file (as decided from its content, never from the name).
    content_type = models.CharField(_("content type"), max_length=100)
    size = models.PositiveBigIntegerField(_("size"))
    file = models.FileField(storage=attachment_storage, upload_to=stored_name, max_length=300)
    # What the model is given for text and office files (read once, when it was attached).
    text = models.TextField(_("text"), blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    pages = models.PositiveIntegerField(null=True, blank=True)
    # The input tokens counted for it before the call (the rule is in the README).
    estimated_tokens = models.PositiveIntegerField(default=0)
    # Where it sits among its turn's files.
    position = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(_("attached"), default=timezone.now)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["reply", "origin", "position"]
        indexes = [models.Index(fields=["owner", "created_at"], name="attachment_owner_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_image(self) -> bool:
        return self.kind == self.Kind.IMAGE


@receiver(post_delete, sender=Attachment, dispatch_uid="attachment_file_deleted_with_row")
def _delete_file_with_row(sender, instance: Attachment, using, **kwargs) -> None:
    """Deleting a conversation (a purge, its owner) deletes its replies and so their files; the
    file goes once the deletion is committed, so a rolled-back delete keeps it."""
    name = instance.file.name
    if name:
        storage = instance.file.storage
        transaction.on_commit(lambda: storage.delete(name), using=using)
