"""Storing a turn's files. `store_generated_image`: an image a hosted tool made in a reply
(image_generation_call), kept as the reply's attachment and served by the site itself, never
loaded from elsewhere."""

import io

from django.core.files.base import ContentFile
from PIL import Image, UnidentifiedImageError

from conversations.models import Attachment, Reply

# The largest generated image kept, in pixels (a relay's image is one or two megapixels; this also
# refuses a decompression bomb before it is decoded).
MAX_GENERATED_PIXELS = 40_000_000


class GeneratedImageError(ValueError):
    """The relay's image data is not an image this site can read."""


def store_generated_image(reply_id, owner_id, data: bytes, name: str) -> Attachment:
    """Reads the relay's bytes as an image (whatever it claims to be), writes it again as PNG
    without metadata, and stores it as the reply's generated attachment, after the reply's
    other generated images."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_GENERATED_PIXELS:
                raise GeneratedImageError("image too large")
            image.load()
            converted = image.convert("RGBA" if "A" in image.getbands() else "RGB")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError) as error:
        raise GeneratedImageError(str(error)) from error
    out = io.BytesIO()
    converted.save(out, format="PNG", optimize=True)
    png = out.getvalue()
    position = Attachment.objects.filter(
        reply_id=reply_id, origin=Attachment.Origin.GENERATED
    ).count()
    attachment = Attachment(
        owner_id=owner_id,
        reply=Reply(pk=reply_id),
        origin=Attachment.Origin.GENERATED,
        kind=Attachment.Kind.IMAGE,
        name=name,
        content_type="image/png",
        size=len(png),
        width=converted.width,
        height=converted.height,
        position=position,
    )
    attachment.file.save(name, ContentFile(png), save=False)
    attachment.save()
    return attachment
