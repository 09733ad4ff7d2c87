"""PDFs and office files, read on the server: a PDF is checked (pypdf: not encrypted, its pages
readable) and sent as it is, with its text for the token estimate; Word, Excel and PowerPoint
files (OOXML) are read to text with python-docx, openpyxl and python-pptx, capped at
ATTACHMENT_TEXT_MAX_CHARS with a note that the rest was left out. An office file is a zip: one
that says it unpacks to more than OFFICE_UNPACKED_LIMIT, or a Word or PowerPoint file whose XML
does past OFFICE_XML_LIMIT (a "zip bomb" among them), is refused before any library reads it
(Python's zipfile never unpacks a member past its stated size)."""

import io
import logging
import zipfile

from django.conf import settings
from django.utils.translation import gettext as _

from conversations.attachments import refusals

log = logging.getLogger(__name__)

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
OFFICE_UNPACKED_LIMIT = 256 * 1024 * 1024
# Word and PowerPoint files are parsed whole (an XML tree takes several times its size): their
# XML may unpack to this much (a Word file of thousands of pages).
OFFICE_XML_LIMIT = 64 * 1024 * 1024
# The main part's content type in [Content_Types].xml, for each kind of OOXML file.
_MAIN_PARTS = {
    b"wordprocessingml.document.main+xml": DOCX,
    b"spreadsheetml.sheet.main+xml": XLSX,
    b"spreadsheetml.template.main+xml": XLSX,
    b"presentationml.presentation.main+xml": PPTX,
    b"presentationml.slideshow.main+xml": PPTX,
}


def read_pdf(data: bytes, name: str) -> tuple[int, str]:
    """(pages, text) of a PDF; Refused if it is encrypted or cannot be read."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            raise refusals.encrypted_pdf(name)
        pages = len(reader.pages)
        if pages == 0:
            raise refusals.broken_pdf(name)
        text = "\n".join((page.extract_text() or "") for page in reader.pages)
    except refusals.Refused:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError, AttributeError):
        log.info("refused PDF %r", name, exc_info=True)
        raise refusals.broken_pdf(name) from None
    return pages, text


def ooxml_type(data: bytes) -> str | None:
    """The content type of an OOXML file (Word, Excel, PowerPoint) from its
    [Content_Types].xml, or None if the zip is not one."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            manifest = archive.read("[Content_Types].xml")
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        return None
    for marker, content_type in _MAIN_PARTS.items():
        if marker in manifest:
            return content_type
    return None


def office_text(data: bytes, content_type: str, name: str) -> str:
    """The text of an office file, capped; Refused if it unpacks to too much or the library
    cannot read it."""
    readers = {DOCX: _docx_text, XLSX: _xlsx_text, PPTX: _pptx_text}
    total, xml = unpacked_size(data)
    if total > OFFICE_UNPACKED_LIMIT:
        raise refusals.unpacks_too_large(name, OFFICE_UNPACKED_LIMIT)
    if content_type != XLSX and xml > OFFICE_XML_LIMIT:  # (openpyxl reads sheets as streams)
        raise refusals.unpacks_too_large(name, OFFICE_XML_LIMIT)
    try:
        text = readers[content_type](io.BytesIO(data))
    except Exception:  # any library's error on a damaged file is a refusal, never a 500
        log.info("refused office file %r", name, exc_info=True)
        raise refusals.broken_document(name) from None
    return capped(text)


def unpacked_size(data: bytes) -> tuple[int, int]:
    """(all, XML): the sums of the sizes a zip's members say they unpack to, all of them and
    the XML parts ((0, 0) if it is no zip)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return 0, 0
    xml = (m.file_size for m in members if m.filename.lower().endswith((".xml", ".rels")))
    return sum(m.file_size for m in members), sum(xml)


def capped(text: str) -> str:
    limit = settings.ATTACHMENT_TEXT_MAX_CHARS
    if len(text) <= limit:
        return text
    return (
        text[:limit]
        + "\n\n"
        + _("[The rest of this file, past %(limit)s characters, was left out.]") % {"limit": limit}
    )


def _docx_text(stream) -> str:
    import docx

    document = docx.Document(stream)
    lines = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append("\t".join(cell.text for cell in row.cells))
    return "\n".join(lines)


def _xlsx_text(stream) -> str:
    import openpyxl

    workbook = openpyxl.load_workbook(stream, read_only=True, data_only=True)
    lines: list[str] = []
    length = 0
    try:
        for sheet in workbook.worksheets:
            lines.append(f"# {sheet.title}")
            for row in sheet.iter_rows(values_only=True):
                if any(value is not None for value in row):
                    line = ",".join("" if value is None else str(value) for value in row)
                    lines.append(line)
                    length += len(line) + 1
                if length > settings.ATTACHMENT_TEXT_MAX_CHARS:  # (capped() adds the note)
                    break
    finally:
        workbook.close()
    return "\n".join(lines)


def _pptx_text(stream) -> str:
    import pptx

    presentation = pptx.Presentation(stream)
    lines: list[str] = []
    for number, slide in enumerate(presentation.slides, start=1):
        lines.append(f"# Slide {number}")
        for shape in slide.shapes:
            if shape.has_text_frame:
                lines.append(shape.text_frame.text)
    return "\n".join(lines)
