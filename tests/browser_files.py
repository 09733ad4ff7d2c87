"""Small real files for the attachment tests (an image made by Pillow, a PDF by pypdf), as
Playwright's file payloads and as JavaScript that builds the same file inside the page."""

import base64
import io

from PIL import Image
from pypdf import PdfWriter


def png_bytes(width: int = 64, height: int = 48, colour=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def pdf_bytes(pages: int = 2) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def payload(name: str, mime_type: str, data: bytes) -> dict:
    """A file for Playwright's `set_files` / `set_input_files`."""
    return {"name": name, "mimeType": mime_type, "buffer": data}


def png(name: str = "screenshot.png", **size) -> dict:
    return payload(name, "image/png", png_bytes(**size))


def pdf(name: str = "report.pdf", pages: int = 2) -> dict:
    return payload(name, "application/pdf", pdf_bytes(pages))


def text_file(name: str = "notes.txt", text: str = "Some notes.\n") -> dict:
    return payload(name, "text/plain", text.encode())


# In the page: `makeFile(name, type, base64)` gives a File of those bytes.
MAKE_FILE_JS = """
window.makeFile = (name, type, data) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  return new File([bytes], name, { type });
};
true;
"""


def as_base64(data: bytes) -> str:
    return base64.b64encode(data).decode()
