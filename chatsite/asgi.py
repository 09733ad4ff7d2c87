"""ASGI entry point (uvicorn): Django's handler, tuned for many sends and streams at once. Serving
starts by marking replies that a previous process left generating as interrupted, so none stays
"in progress" forever."""

import asyncio
import gc
import itertools
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import SyncToAsync, ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")


def _route(scope) -> str:
    """Where a request's synchronous work runs. "shared": sending and the reply actions (stop,
    retry...), many at once, each short, all writing. "stream": a live stream's request, which
    only looks the reply up and then waits on the event loop, and must never queue behind a
    burst of sends. "own": anything else."""
    if scope["type"] != "http":
        return "own"
    path = scope["path"].removeprefix(scope.get("root_path", ""))
    if path == "/send/" or path.startswith("/r/"):
        return "stream" if path.endswith("/stream/") else "shared"
    return "own"


# The threads that live streams' requests take turns on. Django gives every request a new
# thread of its own (started, given its own database connection, ended): for hundreds of
# streams opening at once that was a sixth of the server's CPU per reply (make bench: 44 -> 38
# ms per reply in the burst; the steady phase's added first-token time halved).
_STREAM_THREADS = [ThreadPoolExecutor(max_workers=1, thread_name_prefix="stream") for _ in range(4)]
_next_stream_thread = itertools.cycle(_STREAM_THREADS)

# The shared thread (asgiref's single thread, where sends and the reply tasks' database work
# run) and the stream threads live as long as the server: their database connections are kept
# for DATABASE_THREAD_CONN_MAX_AGE seconds instead of opened and closed for every request and
# every end of a reply (make bench, steady phase: a seventh of the server's CPU). Every other
# request runs in a thread of its own, so its connection is still closed at its end, as Django
# advises under ASGI (CONN_MAX_AGE 0).
_LONG_LIVED_THREADS: set[threading.Thread] = set()


def _mark_long_lived() -> None:
    _LONG_LIVED_THREADS.add(threading.current_thread())


def _mark_long_lived_threads() -> None:
    """Run first on each long-lived thread (queued on the server's first request, not at import:
    a server that forks its workers after importing this module would start them twice)."""
    for executor in [SyncToAsync.single_thread_executor, *_STREAM_THREADS]:
        executor.submit(_mark_long_lived)


@receiver(connection_created)
def _keep_connections_of_long_lived_threads(sender, connection, **kwargs) -> None:
    if threading.current_thread() in _LONG_LIVED_THREADS and connection.close_at is not None:
        keep_until = time.monotonic() + settings.DATABASE_THREAD_CONN_MAX_AGE
        connection.close_at = max(connection.close_at, keep_until)


class OneHopASGIHandler(ASGIHandler):
    """Django's ASGI handler, changed in two ways that matter when hundreds of people send at
    once (README, "Where the server's time goes"):

    - The middleware runs synchronously, in one trip to a worker thread per request. Django's
      async chain runs each sync-based middleware method (sessions, locale, CSRF, auth,
      WhiteNoise...) in a trip of its own: about twenty thread switches per request. A
      streamed response is still sent from the event loop.
    - Sends and reply actions (stop, retry...) do their database work on the one thread that
      the reply tasks use, in arrival order, instead of a new thread per request: hundreds of
      threads fight for the GIL and, on SQLite, for the write lock, whose busy wait sleeps
      between tries (that thread keeps its database connection: see above). Live
      streams' requests take turns on a few threads of their own; other pages keep a thread
      each, so a slow page (a big report) never holds up sending.

    It also tells the request's sync view which loop is the server's (generation.server_loop),
    so a send queues its reply's start there instead of waiting for the loop."""

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)
        self._middleware_chain = sync_to_async(self._middleware_chain, thread_sensitive=True)

    _threads_marked = False

    async def __call__(self, scope, receive, send):
        if not OneHopASGIHandler._threads_marked:
            OneHopASGIHandler._threads_marked = True
            _mark_long_lived_threads()
        from conversations.generation import server_loop

        server_loop.set(asyncio.get_running_loop())  # replies start without a round trip
        route = _route(scope)
        if route == "shared":
            await self.handle(scope, receive, send)
        elif route == "stream":
            async with ThreadSensitiveContext(executor=next(_next_stream_thread)):
                await self.handle(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


def get_application():
    """Django's handler; behind the reverse proxies of TRUSTED_PROXIES, wrapped in uvicorn's
    proxy-headers middleware, which takes the client's address (what the login throttle counts)
    from X-Forwarded-For only on a connection from one of them. Serve with uvicorn's
    --no-proxy-headers so that this list, not uvicorn's default one, decides (README,
    "Deploying")."""
    django.setup(set_prefix=False)
    handler = OneHopASGIHandler()
    if not settings.TRUSTED_PROXIES:
        return handler
    return ProxyHeadersMiddleware(handler, trusted_hosts=settings.TRUSTED_PROXIES)


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


def _settle_long_lived_objects() -> None:
    """Loads what every request would otherwise load on first use (the URL patterns, the chat
    page's compiled template), then moves everything alive now out of the cyclic garbage
    collector's reach (gc.freeze): those objects live as long as the process, yet every full
    collection walked them all (make bench, steady phase, 200 replies streaming: the longest
    pause went from 246 to 149 ms; README, "Where the server's time goes")."""
    from django.template.loader import get_template
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports every view module)
    get_template("conversations/chat.html")
    gc.collect()
    gc.freeze()


_settle_long_lived_objects()
