"""What a file is, decided from its content (conversations/attachments/intake.py): images
re-encoded without metadata and downscaled, PDFs checked, office files read to text, text
checked as UTF-8; everything else refused with a sentence."""

import io

import pytest
from PIL import Image

from conversations.attachments import intake
from conversations.attachments.refusals import Refused
from tests import attachment_files as files


def test_a_photo_loses_its_exif_and_gps_is_turned_upright_and_downscaled(settings):
    settings.ATTACHMENT_IMAGE_MAX_SIDE = 1024
    read = intake.read_bytes(files.jpeg_with_gps(3000, 2000, orientation=6), "holiday.jpeg")
    assert read.kind == "image" and read.content_type == "image/jpeg"
    # Orientation 6 turns a 3000x2000 photo upright (2000x3000), then 1024 on its longest side.
    assert (read.width, read.height) == (683, 1024)
    with Image.open(io.BytesIO(read.data)) as image:
        assert image.size == (683, 1024)
        assert not image.getexif()
        assert "exif" not in image.info and "icc_profile" not in image.info
    assert b"PhoneMaker" not in read.data and b"GPS" not in read.data
    assert read.name == "holiday.jpg"
    # Shorter side already under 768: 683x1024 is 2 x 2 tiles of 512.
    assert read.estimated_tokens == 85 + 170 * 2 * 2


def test_images_with_transparency_stay_png():
    read = intake.read_bytes(files.png(300, 200, alpha=True), "logo.png")
    assert read.content_type == "image/png"
    with Image.open(io.BytesIO(read.data)) as image:
        assert image.mode == "RGBA" and image.size == (300, 200)


def test_a_text_file_named_png_is_refused_by_its_content():
    with pytest.raises(Refused) as refused:
        intake.read_bytes(b"just some text, not an image", "screenshot.png")
    assert "screenshot.png" in str(refused.value) and "PNG, JPEG" in str(refused.value)


def test_a_corrupt_image_is_refused_with_a_sentence():
    broken = files.png()[:200]
    with pytest.raises(Refused) as refused:
        intake.read_bytes(broken, "broken.png")
    assert "could not be read" in str(refused.value)


def test_a_decompression_bomb_is_refused(settings):
    image = Image.new("1", (12000, 12000))
    out = io.BytesIO()
    image.save(out, format="PNG")
    with pytest.raises(Refused) as refused:
        intake.read_bytes(out.getvalue(), "bomb.png")
    assert refused.value.status == 413


def test_an_encrypted_pdf_and_a_broken_pdf_are_refused():
    with pytest.raises(Refused) as refused:
        intake.read_bytes(files.pdf(password="secret"), "locked.pdf")
    assert "password" in str(refused.value)
    with pytest.raises(Refused) as refused:
        intake.read_bytes(b"%PDF-1.7\n garbage garbage", "broken.pdf")
    assert "could not be read" in str(refused.value)


def test_a_pdf_is_kept_as_it_is_with_its_page_count():
    data = files.pdf(pages=3)
    read = intake.read_bytes(data, "report.pdf")
    assert (read.kind, read.pages, read.data) == ("pdf", 3, data)
    assert read.estimated_tokens >= 3 * intake.PDF_PAGE_TOKENS


@pytest.mark.parametrize(
    ("make", "name", "expected"),
    [
        (lambda: files.docx("Hello from Word"), "notes.docx", "Hello from Word"),
        (lambda: files.xlsx(), "figures.xlsx", "North,120"),
        (lambda: files.pptx("Roadmap slide"), "deck.pptx", "Roadmap slide"),
    ],
)
def test_office_files_are_read_to_text(make, name, expected):
    read = intake.read_bytes(make(), name)
    assert read.kind == "document" and expected in read.text


def test_office_text_is_capped_with_a_note(settings):
    settings.ATTACHMENT_TEXT_MAX_CHARS = 50
    read = intake.read_bytes(files.docx("word " * 100), "long.docx")
    assert read.text.startswith("word word") and "left out" in read.text
    assert len(read.text) < 200


def test_a_zip_that_is_no_office_file_is_refused():
    out = io.BytesIO()
    import zipfile

    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("hello.txt", "hi")
    with pytest.raises(Refused):
        intake.read_bytes(out.getvalue(), "archive.docx")


def test_an_office_file_that_unpacks_to_too_much_is_refused_unread():
    bomb = files.docx_bomb(unpacked_mb=300)
    assert len(bomb) < 2 * 1024 * 1024
    with pytest.raises(Refused) as refused:
        intake.read_bytes(bomb, "report.docx")
    assert "report.docx" in str(refused.value) and "unpacks to more than" in str(refused.value)
    assert refused.value.status == 413
    # The same document without the filler is read.
    assert intake.read_bytes(files.docx("Innocent looking"), "report.docx").text
    # A Word file is parsed whole: its XML has a lower limit.
    with pytest.raises(Refused) as refused:
        intake.read_bytes(files.docx_bomb(70, part="word/filler.xml"), "long.docx")
    assert "unpacks to more than 64" in str(refused.value)


def test_text_must_be_utf8_without_nul_bytes():
    read = intake.read_bytes("\ufeffname,amount\nTea,3\n".encode(), "data.csv")
    assert read.kind == "text" and read.text == "name,amount\nTea,3\n"
    for data in (b"\xff\xfe\x00bad", "caf\u00e9".encode("latin-1"), b"a\x00b"):
        with pytest.raises(Refused):
            intake.read_bytes(data, "data.txt")
    with pytest.raises(Refused):
        intake.read_bytes(b"MZ\x90\x00 a program", "setup.exe")


def test_too_large_and_too_many_are_refused_with_413(settings):
    settings.MAX_ATTACHMENT_MB = 1
    with pytest.raises(Refused) as refused:
        intake.read_bytes(b"a" * (1024 * 1024 + 1), "big.txt")
    assert refused.value.status == 413 and "1.0\xa0MB" in str(refused.value)
    settings.MAX_ATTACHMENTS_PER_MESSAGE = 2
    with pytest.raises(Refused) as refused:
        intake.check_count([object()] * 3)
    assert refused.value.status == 413 and "at most 2 files" in str(refused.value)
