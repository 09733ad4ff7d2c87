"""The owner's downloads of a conversation: Markdown or JSON. Another user's conversation is a
404 like everywhere else."""

import uuid

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.views.decorators.http import require_GET

from conversations.exports import FORMATS, conversation_json, conversation_markdown
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
