"""ASGI entry point (uvicorn). Serving starts by marking replies that a previous process left
generating as interrupted, so none stays "in progress" forever."""

import logging
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
application = get_asgi_application()


def _recover() -> None:
    from django.db import DatabaseError

    from conversations.recovery import interrupt_orphaned_replies

    try:
        count = interrupt_orphaned_replies()
    except DatabaseError:
        logging.getLogger("conversations").warning("start-up recovery skipped: database not ready")
        return
    if count:
        logging.getLogger("conversations").warning("%d interrupted replies recovered", count)


_recover()
