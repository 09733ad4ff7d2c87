"""The files the attachments phase sends: a PDF of about 5 MB and a photo of about 4 MB, made
with Pillow from a fixed seed (nothing downloaded, the same bytes every run)."""

import io
import random
from pathlib import Path

from PIL import Image, ImageFilter

PDF_BYTES = 5_000_000
PHOTO_BYTES = 4_000_000


def _photo(width: int, height: int, seed: int) -> Image.Image:
    """Smooth colour fields with fine grain: compresses like a phone photo, not like noise."""
    rng = random.Random(seed)
    base = Image.new("RGB", (width // 16, height // 16))
    base.putdata(
        [
            (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            for _ in range((width // 16) * (height // 16))
        ]
    )
    smooth = base.resize((width, height), Image.Resampling.BICUBIC).filter(
        ImageFilter.GaussianBlur(2)
    )
    grain = Image.effect_noise((width, height), 40).convert("RGB")
    return Image.blend(smooth, grain, 0.18)


def _jpeg_near(image: Image.Image, target: int) -> bytes:
    """The JPEG of `image` at the quality whose size comes closest to `target` bytes."""
    best = b""
    for quality in range(60, 99, 3):
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality)
        data = out.getvalue()
        if not best or abs(len(data) - target) < abs(len(best) - target):
            best = data
    return best


def make(folder: Path) -> list[dict]:
    """Writes the two files into `folder`; returns them as the load generator takes them."""
    photo = folder / "photo.jpg"
    photo.write_bytes(_jpeg_near(_photo(4000, 3000, seed=1), PHOTO_BYTES))
    # A scanned-looking document: pages of photo, as a scanner makes them.
    pages = [_photo(1700, 2200, seed=10 + n) for n in range(3)]
    best = b""
    for quality in range(88, 96):
        out = io.BytesIO()
        pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], quality=quality)
        data = out.getvalue()
        if not best or abs(len(data) - PDF_BYTES) < abs(len(best) - PDF_BYTES):
            best = data
    pdf = folder / "document.pdf"
    pdf.write_bytes(best)
    # The photo as the server sends it on (README, "Attachments": at most 2048 px, JPEG q85),
    # for the fake's own time with the same request (the phase's baseline).
    sent = Image.open(photo)
    sent.draft("RGB", (2048, 2048))
    sent.thumbnail((2048, 2048), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    sent.convert("RGB").save(out, "JPEG", quality=85)
    photo_sent = folder / "photo-as-sent.jpg"
    photo_sent.write_bytes(out.getvalue())
    return [
        {"path": str(pdf), "name": "document.pdf", "content_type": "application/pdf"},
        {
            "path": str(photo),
            "name": "photo.jpg",
            "content_type": "image/jpeg",
            "as_sent": str(photo_sent),
        },
    ]


if __name__ == "__main__":
    import sys
    import tempfile

    for f in make(Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())):
        print(f["path"], Path(f["path"]).stat().st_size)
