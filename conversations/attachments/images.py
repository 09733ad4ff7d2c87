"""Images: opened with Pillow (PNG, JPEG, WebP, GIF only), turned upright, downscaled to
ATTACHMENT_IMAGE_MAX_SIDE and re-encoded, so that no metadata (EXIF, GPS, comments, colour
profiles) of the person's file is kept or sent. Images with transparency and GIFs (their first
frame) become PNG, everything else JPEG (quality 85)."""

import io
import math
import warnings
from dataclasses import dataclass

from django.conf import settings
from PIL import Image, ImageOps, UnidentifiedImageError

from conversations.attachments import refusals

FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
# Pillow's own guard against decompression bombs, made an error (not a warning) below.
MAX_PIXELS = 64_000_000


@dataclass
class Picture:
    data: bytes
    content_type: str
    width: int
    height: int
    extension: str


def looks_like_image(head: bytes) -> bool:
    return (
        head.startswith(b"\x89PNG\r\n\x1a\n")
        or head.startswith(b"\xff\xd8\xff")
        or head.startswith((b"GIF87a", b"GIF89a"))
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    )


def reencode(data: bytes, name: str) -> Picture:
    """The image re-encoded without its metadata; Refused if it is not a whole image of an
    accepted format, or too large to decode safely."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=FORMATS) as image:
                if image.width * image.height > MAX_PIXELS:
                    raise refusals.image_too_large(name)
                was_gif = image.format == "GIF"
                limit = settings.ATTACHMENT_IMAGE_MAX_SIDE
                if image.format == "JPEG":
                    # The JPEG decoder scales by 1/2, 1/4 or 1/8 while decoding, never below
                    # the size asked for: a 48-megapixel photo decodes at a quarter the cost.
                    image.draft("RGB", (limit, limit))
                image.load()
                picture = _small_and_upright(image, limit)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise refusals.image_too_large(name) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        raise refusals.corrupt_image(name) from None
    return _encode(picture, keep_alpha=was_gif or _has_alpha(picture))


def _small_and_upright(image: Image.Image, limit: int) -> Image.Image:
    """Downscaled first (a square bound fits either orientation), then turned upright by its
    EXIF orientation: turning the smaller image is cheaper."""
    if max(image.size) > limit:
        image.thumbnail((limit, limit), Image.Resampling.LANCZOS)  # (in place: ours)
    return ImageOps.exif_transpose(image)


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info
    )


def _encode(image: Image.Image, keep_alpha: bool) -> Picture:
    out = io.BytesIO()
    if keep_alpha:
        image = image.convert("RGBA" if _has_alpha(image) else "RGB")
        image.save(out, format="PNG", optimize=False)
        content_type, extension = "image/png", "png"
    else:
        image = image.convert("RGB")
        image.save(out, format="JPEG", quality=85)
        content_type, extension = "image/jpeg", "jpg"
    return Picture(out.getvalue(), content_type, image.width, image.height, extension)


def image_tokens(width: int, height: int) -> int:
    """OpenAI's rule for an image at high detail: fitted in 2048x2048, then its shorter side
    scaled to 768, counted in 512-pixel tiles: 85 + 170 per tile."""
    scale = min(1.0, 2048 / max(width, height))
    width, height = width * scale, height * scale
    scale = min(1.0, 768 / min(width, height))
    width, height = width * scale, height * scale
    return 85 + 170 * math.ceil(width / 512) * math.ceil(height / 512)
