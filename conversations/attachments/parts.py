"""A turn's files as the relay's input parts: images as `input_image` (a data URL of the
re-encoded image), PDFs as `input_file` (`file_data`, with the file name), text and office
files as `input_text` headed by the file name. The message's own text is the first part."""

import base64
from dataclasses import dataclass
from typing import Any

from conversations.attachments.intake import file_heading
from conversations.models import Attachment


@dataclass(frozen=True)
class DataURL:
    """A stored file's data URL, read and encoded only when the request is written
    (upstream.stream_response writes a request with parts in a worker thread): the request
    prepared in a send's or a reply action's thread holds names, not megabytes."""

    storage: Any
    name: str
    content_type: str

    def encoded(self) -> bytes:
        """The data URL as bytes, base64 encoded a megabyte at a time: each step holds the
        interpreter for about a millisecond, so the event loop's thread never waits long for
        it (one call over 5 MB held it for tens of milliseconds)."""
        with self.storage.open(self.name, "rb") as source:
            data = source.read()
        chunk = 3 * 349_526  # a multiple of 3: the pieces join into one base64 text
        pieces = [f"data:{self.content_type};base64,".encode("ascii")]
        pieces += [base64.b64encode(data[i : i + chunk]) for i in range(0, len(data), chunk)]
        return b"".join(pieces)


def data_url(attachment: Attachment) -> DataURL:
    content_type = attachment.content_type.split(";", 1)[0]
    return DataURL(attachment.file.storage, attachment.file.name, content_type)


def file_part(attachment: Attachment) -> dict[str, Any]:
    if attachment.kind == Attachment.Kind.IMAGE:
        return {"type": "input_image", "image_url": data_url(attachment)}
    if attachment.kind == Attachment.Kind.PDF:
        return {
            "type": "input_file",
            "filename": attachment.name,
            "file_data": data_url(attachment),
        }
    return {"type": "input_text", "text": file_heading(attachment.name) + attachment.text}


def user_content(text: str, attachments: list[Attachment]) -> str | list[dict[str, Any]]:
    """A user message's `content`: the plain text when it has no files (as before files
    existed), else its parts."""
    if not attachments:
        return text
    parts: list[dict[str, Any]] = [{"type": "input_text", "text": text}] if text else []
    return parts + [file_part(attachment) for attachment in attachments]


def uploaded_by_reply(reply_ids) -> dict[Any, list[Attachment]]:
    """The attached files of these turns, in order, by reply id (one query)."""
    files: dict[Any, list[Attachment]] = {}
    rows = Attachment.objects.filter(
        reply_id__in=list(reply_ids), origin=Attachment.Origin.UPLOADED
    ).order_by("position")
    for attachment in rows:
        files.setdefault(attachment.reply_id, []).append(attachment)
    return files
