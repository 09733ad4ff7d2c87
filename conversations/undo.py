"""The short notice that follows an archive or a delete, with its Undo. An htmx request gets it
with its answer; a plain form post (no JavaScript) keeps it in the session for the next chat
page, which shows it once (conversations/views/pages.py)."""

import time

from conversations.models import Conversation
from conversations.models.chat import UNDO_WINDOW

SESSION_KEY = "undo_notice"


def notice(action: str, conversation: Conversation) -> dict:
    """What the notice says and undoes: `action` is "archive" or "delete"."""
    return {"action": action, "id": str(conversation.pk), "title": conversation.display_title}


def keep_for_next_page(request, action: str, conversation: Conversation) -> None:
    request.session[SESSION_KEY] = {**notice(action, conversation), "at": time.time()}


def take(request) -> dict | None:
    """The notice kept for this page, once; none once Undo could no longer work."""
    kept = request.session.pop(SESSION_KEY, None)
    if not isinstance(kept, dict) or time.time() - kept.get("at", 0) > UNDO_WINDOW.total_seconds():
        return None
    return kept
