"""What the fake relay makes of a request's files: it decodes each `input_image` (format and
size, as Pillow reads it) and `input_file` (name; page count of a PDF, as pypdf reads it) and
notes the `input_text` parts headed "File: name", so a reply can say what it was given. Images
are counted like OpenAI counts them (images.image_tokens) and reported as `image_tokens`."""

import base64
import binascii
import io
from dataclasses import dataclass, field
from typing import Any


@dataclass
class FilesSeen:
    notes: list[str] = field(default_factory=list)
    image_tokens: int = 0


def _decoded(data_url: Any) -> bytes | None:
    if not isinstance(data_url, str) or not data_url.startswith("data:") or "," not in data_url:
        return None
    header, payload = data_url.split(",", 1)
    if not header.endswith(";base64"):
        return None
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return None


def _image_note(part: dict, seen: FilesSeen) -> None:
    from PIL import Image, UnidentifiedImageError

    from conversations.attachments.images import image_tokens

    data = _decoded(part.get("image_url"))
    try:
        with Image.open(io.BytesIO(data or b"")) as image:
            width, height, kind = image.width, image.height, image.format
    except (UnidentifiedImageError, OSError, ValueError):
        seen.notes.append("I could not read one of the images.")
        return
    seen.image_tokens += image_tokens(width, height)
    seen.notes.append(f"I see a {width}x{height} {kind} image.")


def _file_note(part: dict, seen: FilesSeen) -> None:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    name = part.get("filename") or "a file"
    data = _decoded(part.get("file_data"))
    try:
        pages = len(PdfReader(io.BytesIO(data or b"")).pages)
    except (PyPdfError, ValueError, OSError, KeyError, TypeError):
        seen.notes.append(f"I received the file “{name}” but could not read it.")
        return
    plural = "page" if pages == 1 else "pages"
    seen.notes.append(f"I read “{name}”, a PDF of {pages} {plural}.")


def files_seen(request_input: Any) -> FilesSeen:
    """Notes on the files of the last user message; image tokens of every image sent."""
    seen = FilesSeen()
    if not isinstance(request_input, list):
        return seen
    users = [
        item for item in request_input if isinstance(item, dict) and item.get("role") == "user"
    ]
    for index, message in enumerate(users):
        content = message.get("content")
        if not isinstance(content, list):
            continue
        last = index == len(users) - 1
        for part in content:
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "input_image":
                note = FilesSeen()
                _image_note(part, note)
                seen.image_tokens += note.image_tokens
                if last:
                    seen.notes += note.notes
            elif kind == "input_file" and last:
                _file_note(part, seen)
            elif kind == "input_text" and last and str(part.get("text", "")).startswith("File: "):
                name = str(part["text"]).split("\n", 1)[0].removeprefix("File: ")
                seen.notes.append(f"I read the file “{name}”.")
    return seen
