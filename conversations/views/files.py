"""A stored attachment, served only to its owner (while the conversation is theirs, not
deleted) and to reviewers (who read conversations in the admin; each download is recorded in
the audit record); anyone else gets a 404. Images inline, everything else as a download; never
sniffed, never cached by a shared cache."""

import uuid

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET

from conversations.audit import record_access
from conversations.models import Attachment, ReviewAccess


def may_review(user) -> bool:
    """Reviewers and administrators: those who read other people's conversations in the admin."""
    return user.is_active and user.is_staff and user.has_perm("conversations.view_conversation")


def attachment_for(user, attachment_id: uuid.UUID) -> Attachment:
    attachment = (
        Attachment.objects.select_related("reply__conversation__owner")
        .filter(pk=attachment_id)
        .first()
    )
    if attachment is None:
        raise Http404
    conversation = attachment.reply.conversation
    if conversation.owner_id == user.pk and conversation.deleted_at is None:
        return attachment
    if conversation.owner_id != user.pk and may_review(user):
        return attachment
    raise Http404


@login_required
@require_GET
def attachment(request, attachment_id: uuid.UUID):
    attachment = attachment_for(request.user, attachment_id)
    try:
        stream = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    record_access(
        request.user,
        attachment.reply.conversation,
        ReviewAccess.Action.DOWNLOADED,
        detail=f"{attachment.name} ({attachment.pk})",
    )
    response = FileResponse(
        stream,
        as_attachment=not attachment.is_image,
        filename=attachment.name,
        content_type=attachment.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
