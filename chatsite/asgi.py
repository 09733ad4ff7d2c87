"""ASGI entry point (uvicorn): Django's handler, tuned for many sends and streams at once. Serving
starts by marking replies that a previous process left generating as interrupted, so none stays
"in progress" forever."""

import logging
import os

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")


def _on_shared_thread(scope) -> bool:
    """Sending and the reply actions (stop, retry...): many at once, each short, all writing.
    A live stream only reads (and waits on the event loop): it keeps a thread of its own, so
    that it never queues behind a burst of sends."""
    path = scope["path"].removeprefix(scope.get("root_path", ""))
    return path == "/send/" or (path.startswith("/r/") and not path.endswith("/stream/"))


class OneHopASGIHandler(ASGIHandler):
    """Django's ASGI handler, changed in two ways that matter when hundreds of people send at
    once (README, "Where the server's time goes"):

    - The middleware runs synchronously, in one trip to a worker thread per request. Django's
      async chain runs each sync-based middleware method (sessions, locale, CSRF, auth,
      WhiteNoise...) in a trip of its own: about twenty thread switches per request. Async
      views (stop, retry...) still run on the event loop, and a streamed response is still
      sent from it.
    - Sends and reply actions do their database work on the one thread that the reply tasks
      use, in arrival order, instead of a new thread (and database connection) per request:
      hundreds of threads fight for the GIL and, on SQLite, for the write lock, whose busy
      wait sleeps between tries. Other pages keep a thread each, so a slow page (a big
      report) never holds up sending."""

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and _on_shared_thread(scope):
            await self.handle(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def get_application() -> OneHopASGIHandler:
    django.setup(set_prefix=False)
    return OneHopASGIHandler()


application = get_application()


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
