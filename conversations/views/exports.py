"""The owner's downloads of a conversation: Markdown or JSON. Another user's conversation is a
404 like everywhere else."""

import uuid

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpResponse
from django.views.decorators.http import require_GET

from conversations.audit import record_access
from conversations.exports import (
    FORMATS,
    conversation_json,
    conversation_markdown,
    conversation_zip,
)
from conversations.exports import export_filename as filename
from conversations.views.lookups import get_conversation_for_user

RENDERERS = {"md": conversation_markdown, "json": conversation_json}


def download(conversation, extension: str) -> HttpResponse:
    """The file as an attachment: browsers save it, never render it as a page."""
    return HttpResponse(
        RENDERERS[extension](conversation),
        content_type=FORMATS[extension],
        headers={
            "Content-Disposition": f'attachment; filename="{filename(conversation, extension)}"'
        },
    )


@login_required
@require_GET
def export_conversation(request, conversation_id: uuid.UUID, extension: str):
    return download(get_conversation_for_user(request.user, conversation_id), extension)


@login_required
@require_GET
def export_conversation_zip(request, conversation_id: uuid.UUID):
    """The JSON export with the conversation's files (exports.conversation_zip)."""
    conversation = get_conversation_for_user(request.user, conversation_id)
    record_access(request.user, conversation, "exported")  # (nothing for the owner)
    return FileResponse(
        conversation_zip(conversation),
        as_attachment=True,
        filename=filename(conversation, "zip"),
        content_type="application/zip",
    )
