"""The sentences a refused attachment gets: plain, in the composer, the typed text kept."""

from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import ngettext


class Refused(Exception):
    """An attachment the site does not take; `str()` is the sentence for the person. `status`
    is the HTTP status of the answer (413 for what is too large, else 400)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status

    def __reduce__(self):
        # From a converter process (converter.py), with its status.
        return (Refused, (str(self), self.status))


def accepted_sentence() -> str:
    return _(
        "Accepted are images (PNG, JPEG, WebP, GIF), PDF, Word, Excel and PowerPoint files, "
        "and plain text (text, Markdown, CSV, JSON, source code)."
    )


def not_accepted(name: str) -> Refused:
    return Refused(
        _("“%(name)s” is not a kind of file this site takes.") % {"name": name}
        + " "
        + accepted_sentence()
    )


def too_large(name: str) -> Refused:
    return Refused(
        _("“%(name)s” is too large: files may be at most %(limit)s.")
        % {"name": name, "limit": filesizeformat(settings.MAX_ATTACHMENT_MB * 1024 * 1024)},
        413,
    )


def too_many(count: int) -> Refused:
    limit = settings.MAX_ATTACHMENTS_PER_MESSAGE
    return Refused(
        ngettext(
            "A message may carry at most %(limit)s file.",
            "A message may carry at most %(limit)s files.",
            limit,
        )
        % {"limit": limit}
        + " "
        + _("This one has %(count)s.") % {"count": count},
        413,
    )


def over_storage(allowed_bytes: int) -> Refused:
    return Refused(
        _(
            "These files would take you over your storage for attachments (%(limit)s). "
            "Delete conversations with files you no longer need, or ask your administrator."
        )
        % {"limit": filesizeformat(allowed_bytes)},
        413,
    )


def corrupt_image(name: str) -> Refused:
    return Refused(_("The image “%(name)s” could not be read: it may be damaged.") % {"name": name})


def image_too_large(name: str) -> Refused:
    return Refused(
        _("The image “%(name)s” has too many pixels to be read safely.") % {"name": name}, 413
    )


def encrypted_pdf(name: str) -> Refused:
    return Refused(
        _(
            "The PDF “%(name)s” is protected by a password. Save a copy without the "
            "password and attach that."
        )
        % {"name": name}
    )


def broken_pdf(name: str) -> Refused:
    return Refused(_("The PDF “%(name)s” could not be read: it may be damaged.") % {"name": name})


def broken_document(name: str) -> Refused:
    return Refused(_("The file “%(name)s” could not be read: it may be damaged.") % {"name": name})


def too_slow(name: str, seconds: float) -> Refused:
    return Refused(
        _(
            "“%(name)s” took too long to read (over %(seconds)s seconds). Attach a smaller "
            "file, or copy the part you need into the message."
        )
        % {"name": name, "seconds": seconds},
        413,
    )


def unpacks_too_large(name: str, limit_bytes: int) -> Refused:
    return Refused(
        _(
            "“%(name)s” unpacks to more than %(limit)s, more than this site reads. Save a "
            "smaller copy (fewer pages, sheets or pictures) and attach that."
        )
        % {"name": name, "limit": filesizeformat(limit_bytes)},
        413,
    )
