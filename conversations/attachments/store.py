"""Keeps read files (intake.py) as Attachment rows of their reply, through the storage API, in
the send's transaction; checks the person's storage allowance (ATTACHMENT_STORAGE_PER_USER_MB)
under the same lock as their quota. Files written by a transaction that then rolls back are
removed (`removed_unless_committed`)."""

import contextlib
import contextvars
import dataclasses
from collections.abc import Iterator

from django.conf import settings
from django.core.files.base import ContentFile
from django.db.models import Sum

from conversations.attachments import refusals
from conversations.attachments.intake import Intake
from conversations.models import Attachment, Reply

# The names written in the current transaction (removed_unless_committed), per request.
_written: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "attachments_written", default=None
)


def storage_used(user) -> int:
    """Bytes of attachments the person keeps (theirs and the images made for them)."""
    return Attachment.objects.filter(owner=user).aggregate(total=Sum("size"))["total"] or 0


def storage_allowed() -> int:
    return settings.ATTACHMENT_STORAGE_PER_USER_MB * 1024 * 1024


@contextlib.contextmanager
def removed_unless_committed() -> Iterator[list[str]]:
    """Around a transaction that stores files: if it raises, the files it wrote go (the rows
    went with the rollback)."""
    written: list[str] = []
    token = _written.set(written)
    try:
        yield written
    except BaseException:
        remove(written)
        raise
    finally:
        _written.reset(token)


def remove(names: list[str]) -> None:
    """Removes files whose rows were rolled back."""
    storage = Attachment._meta.get_field("file").storage
    for name in names:
        storage.delete(name)


def _note_written(name: str) -> None:
    written = _written.get()
    if written is not None:
        written.append(name)


def attach(reply: Reply, intakes: list[Intake]) -> list[Attachment]:
    """Stores the files as the reply's attachments, in order; Refused past the person's storage
    allowance. Call under the person's lock (Reply.objects.submit's `attach`)."""
    if not intakes:
        return []
    incoming = sum(intake.size for intake in intakes)
    if storage_used(reply.user_id) + incoming > storage_allowed():
        raise refusals.over_storage(storage_allowed())
    return [_save(reply, intake, position) for position, intake in enumerate(intakes)]


def _save(reply: Reply, intake: Intake, position: int, origin=Attachment.Origin.UPLOADED):
    attachment = Attachment(
        owner_id=reply.user_id,
        reply=reply,
        origin=origin,
        kind=intake.kind,
        name=intake.name,
        content_type=intake.content_type,
        size=intake.size,
        text=intake.text,
        width=intake.width,
        height=intake.height,
        pages=intake.pages,
        estimated_tokens=intake.estimated_tokens,
        position=position,
    )
    attachment.file.save(intake.name, ContentFile(intake.data), save=False)
    _note_written(attachment.file.name)
    attachment.save()
    return attachment


def copy_to(original: Reply, reply: Reply) -> None:
    """A new version of a turn carries the same files: each copied (its own stored file, so
    deleting one version never takes another's)."""
    for attachment in original.attachments.filter(origin=Attachment.Origin.UPLOADED):
        with attachment.file.open("rb") as source:
            data = source.read()
        intake = Intake(
            kind=attachment.kind,
            name=attachment.name,
            content_type=attachment.content_type,
            data=data,
            text=attachment.text,
            width=attachment.width,
            height=attachment.height,
            pages=attachment.pages,
            estimated_tokens=attachment.estimated_tokens,
        )
        _save(reply, intake, attachment.position)


def store_generated_image(reply_id, owner_id, picture: Intake) -> Attachment:
    """An image a hosted tool made in the reply, already re-encoded like an attached one
    (generation._read_images); it is no input of the person's, so it counts no tokens."""
    reply = Reply.objects.only("id", "user_id").get(pk=reply_id, user_id=owner_id)
    position = Attachment.objects.filter(reply=reply, origin=Attachment.Origin.GENERATED).count()
    picture = dataclasses.replace(picture, estimated_tokens=0)
    return _save(reply, picture, position, origin=Attachment.Origin.GENERATED)
