"""Reads an uploaded file and decides what it is from its content, never from its name alone:
an image Pillow opens, a PDF pypdf reads, a Word/Excel/PowerPoint file its library reads, or
UTF-8 text without NUL bytes; anything else is refused with a sentence listing what is
accepted. Runs before the send's transaction, in a converter process (converter.py) that the
request's own thread waits for (chatsite/asgi.py sends a multipart /send/ there), never on the
event loop."""

import os
from dataclasses import dataclass

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile

from conversations.attachments import documents, images, refusals
from conversations.models import Attachment
from conversations.tokens import estimate_tokens

TEXT_EXTENSIONS = {
    ".txt",
    ".md",
    ".markdown",
    ".csv",
    ".tsv",
    ".json",
    ".jsonl",
    ".xml",
    ".yaml",
    ".yml",
    ".toml",
    ".ini",
    ".cfg",
    ".conf",
    ".log",
    ".rst",
    ".tex",
    ".html",
    ".htm",
    ".css",
    ".js",
    ".mjs",
    ".ts",
    ".tsx",
    ".jsx",
    ".py",
    ".rb",
    ".php",
    ".java",
    ".kt",
    ".swift",
    ".go",
    ".rs",
    ".c",
    ".h",
    ".cc",
    ".cpp",
    ".hpp",
    ".cs",
    ".m",
    ".scala",
    ".sh",
    ".bash",
    ".zsh",
    ".ps1",
    ".sql",
    ".r",
    ".pl",
    ".lua",
    ".dart",
    ".vue",
    ".svelte",
    ".ipynb",
    ".diff",
    ".patch",
    ".env",
    ".properties",
    ".gradle",
    ".dockerfile",
    ".makefile",
}
TEXT_NAMES = {"dockerfile", "makefile", "readme", "license", "changelog"}
TEXT_TYPES = {
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
}
# Per PDF page, on top of its text: the relay gives the model an image of each page too
# (OpenAI's figure for a page-sized image at high detail, 85 + 170 x 4 tiles).
PDF_PAGE_TOKENS = 765


@dataclass
class Intake:
    """A file read and converted, ready to be stored (store.py) with its reply."""

    kind: str
    name: str
    content_type: str
    data: bytes
    text: str = ""
    width: int | None = None
    height: int | None = None
    pages: int | None = None
    estimated_tokens: int = 0

    @property
    def size(self) -> int:
        return len(self.data)


def accept_attribute() -> str:
    """The <input type=file accept=...> list (a hint for the chooser; the server decides)."""
    return ",".join(
        [
            "image/png",
            "image/jpeg",
            "image/webp",
            "image/gif",
            "application/pdf",
            ".docx",
            ".xlsx",
            ".pptx",
            *sorted(TEXT_EXTENSIONS),
        ]
    )


def limits_context() -> dict:
    return {
        "max_mb": settings.MAX_ATTACHMENT_MB,
        "max_bytes": settings.MAX_ATTACHMENT_MB * 1024 * 1024,
        "max_files": settings.MAX_ATTACHMENTS_PER_MESSAGE,
        "accept": accept_attribute(),
    }


def check_count(files: list[UploadedFile]) -> None:
    if len(files) > settings.MAX_ATTACHMENTS_PER_MESSAGE:
        raise refusals.too_many(len(files))


def read_all(files: list[UploadedFile]) -> list[Intake]:
    """Every file read, in order; the first refusal stops (Refused)."""
    check_count(files)
    for upload in files:  # sizes first: nothing is read of a message that cannot go
        if upload.size > settings.MAX_ATTACHMENT_MB * 1024 * 1024:
            raise refusals.too_large(display_name(upload.name))
    return [read_upload(upload) for upload in files]


def display_name(name: str | None) -> str:
    name = os.path.basename((name or "").replace("\\", "/")).strip()
    name = "".join(char for char in name if char.isprintable())
    return name[:200] or "file"


def read_upload(upload: UploadedFile) -> Intake:
    """The upload read and converted in a converter process (converter.py)."""
    from conversations.attachments import converter

    name = display_name(upload.name)
    upload.seek(0)
    data = upload.read()
    return converter.convert(data, name)


def read_bytes(data: bytes, name: str) -> Intake:
    if len(data) > settings.MAX_ATTACHMENT_MB * 1024 * 1024:
        raise refusals.too_large(name)
    head = data[:16]
    if images.looks_like_image(head):
        return _image(data, name)
    if head.startswith(b"%PDF-"):
        return _pdf(data, name)
    if head.startswith(b"PK\x03\x04"):
        return _office(data, name)
    return _text(data, name)


def _image(data: bytes, name: str) -> Intake:
    picture = images.reencode(data, name)
    stem = os.path.splitext(name)[0] or "image"
    return Intake(
        kind=Attachment.Kind.IMAGE,
        name=f"{stem}.{picture.extension}",
        content_type=picture.content_type,
        data=picture.data,
        width=picture.width,
        height=picture.height,
        estimated_tokens=images.image_tokens(picture.width, picture.height),
    )


def _pdf(data: bytes, name: str) -> Intake:
    pages, text = documents.read_pdf(data, name)
    return Intake(
        kind=Attachment.Kind.PDF,
        name=name,
        content_type="application/pdf",
        data=data,
        pages=pages,
        estimated_tokens=pages * PDF_PAGE_TOKENS + estimate_tokens(text),
    )


def _office(data: bytes, name: str) -> Intake:
    content_type = documents.ooxml_type(data)
    if content_type is None:
        raise refusals.not_accepted(name)
    text = documents.office_text(data, content_type, name)
    return Intake(
        kind=Attachment.Kind.DOCUMENT,
        name=name,
        content_type=content_type,
        data=data,
        text=text,
        estimated_tokens=estimate_tokens(file_heading(name) + text),
    )


def _text(data: bytes, name: str) -> Intake:
    extension = os.path.splitext(name)[1].lower()
    named_as_text = extension in TEXT_EXTENSIONS or name.lower() in TEXT_NAMES
    if not named_as_text or b"\x00" in data:
        raise refusals.not_accepted(name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise refusals.not_accepted(name) from None
    text = documents.capped(text)
    return Intake(
        kind=Attachment.Kind.TEXT,
        name=name,
        content_type=TEXT_TYPES.get(extension, "text/plain") + "; charset=utf-8",
        data=data,
        text=text,
        estimated_tokens=estimate_tokens(file_heading(name) + text),
    )


def file_heading(name: str) -> str:
    """How a text or office file's text is headed in the request."""
    return f"File: {name}\n\n"
