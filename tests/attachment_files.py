"""Small files of every kind the attachment tests send, made here with the libraries."""

import io

from PIL import Image


def png(width=800, height=600, alpha=False) -> bytes:
    image = Image.new("RGBA" if alpha else "RGB", (width, height), (200, 30, 30, 128))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def jpeg_with_gps(width=3000, height=2000, orientation=6) -> bytes:
    """A photo with EXIF: a camera, GPS coordinates and an orientation tag (6: turn 90°)."""
    image = Image.new("RGB", (width, height), (10, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x0112] = orientation  # Orientation
    gps = {1: "N", 2: (48.0, 51.0, 30.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    exif[0x8825] = gps  # GPSInfo
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif, quality=90)
    return out.getvalue()


def noisy_photo(width=4000, height=3000) -> bytes:
    """A real-ish 12-megapixel JPEG (noise compresses like a photo: a few MB)."""
    import os

    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=40)
    return out.getvalue()


def pdf(pages=2, password: str | None = None, pad_to=0) -> bytes:
    """Blank pages (pypdf writes them); `pad_to` adds that many bytes of metadata."""
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=612, height=792)
    if pad_to:
        writer.add_metadata({"/Padding": "x" * pad_to})
    if password:
        writer.encrypt(password)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx(text="Hello from Word") -> bytes:
    import docx as python_docx

    document = python_docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def xlsx(rows=(("Region", "Sales"), ("North", 120), ("South", 80))) -> bytes:
    import openpyxl

    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Figures"
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def pptx(title="Roadmap slide") -> bytes:
    import pptx as python_pptx

    presentation = python_pptx.Presentation()
    slide = presentation.slides.add_slide(presentation.slide_layouts[1])
    slide.shapes.title.text = title
    out = io.BytesIO()
    presentation.save(out)
    return out.getvalue()


def docx_bomb(unpacked_mb=300, part="word/media/filler.bin") -> bytes:
    """A real Word file with one more part that unpacks to `unpacked_mb` megabytes of zeros
    (a few hundred kilobytes packed): a "zip bomb" dressed as a document."""
    import zipfile

    out = io.BytesIO(docx("Innocent looking"))
    with zipfile.ZipFile(out, "a", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open(part, "w", force_zip64=True) as member:
            chunk = bytes(1024 * 1024)
            for _ in range(unpacked_mb):
                member.write(chunk)
    return out.getvalue()
