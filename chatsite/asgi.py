"""ASGI entry point (uvicorn, `--lifespan on`): Django's own ASGI handler, inside a small ASGI
application that

- runs the process's start-up and shutdown (the `lifespan` scope, chatsite/lifespan.py:
  recovery, the stale sweep, the live channel, draining the replies on SIGTERM);
- sends each request's synchronous work to the right thread (conversations/work_threads.py)
  with asgiref's public ThreadSensitiveContext(executor=...): sends and the reply actions
  (stop, retry...) to the shared thread, in arrival order; live streams' requests to a few
  stream threads; every other request to a thread of its own, as Django does, which closes its
  database connection at the end (the long-lived threads keep theirs, SQLite only);
- tells the request's sync view which loop is the server's (generation.server_loop), so a send
  queues its reply's start there instead of waiting for the loop.

Importing this module sets Django up and builds the application; it writes nothing and starts
no thread."""

import asyncio
import os

import django
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")


def route(scope) -> str:
    """Where a request's synchronous work runs. "shared": sending and the reply actions, many
    at once, each short, all writing. "stream": a live stream's request, which only looks the
    reply up and then waits on the event loop, and must never queue behind a burst of sends.
    "own": anything else, and a send with files (multipart/form-data): reading and converting
    them takes up to seconds, which must never delay the other sends on the shared thread."""
    path = scope["path"].removeprefix(scope.get("root_path", ""))
    if path == "/send/" and is_multipart(scope):
        return "own"
    if path == "/send/" or path.startswith("/r/"):
        return "stream" if path.endswith("/stream/") else "shared"
    return "own"


def is_multipart(scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.split(b";", 1)[0].strip().lower() == b"multipart/form-data"
    return False


class OneTripASGIHandler(ASGIHandler):
    """Django's ASGI handler, with each request's middleware and view run in one trip to a
    worker thread, as Django's WSGI handler runs them.

    Django's async middleware chain makes a trip to a thread for each method of each
    sync-based middleware (sessions, locale, CSRF, auth...: about fifteen per request here),
    and WhiteNoise, sync only, holds the request's thread while the rest of the chain goes
    back and forth through the event loop: under load, sends and streams queued behind each
    other on their threads (make bench's phase of 200 streams took up to twice as long, with a
    quarter to four fifths more server CPU per token). Here the chain is built as Django's
    WSGIHandler builds it (BaseHandler.load_middleware()) and a request is answered by its
    public get_response() in one sync_to_async trip; reading the request and sending the
    response (streams included) stay Django's ASGI code on the event loop. Should a Django
    release stop calling get_response_async, the handler's own async chain (loaded too)
    answers: slower, not wrong."""

    def __init__(self) -> None:
        super().__init__()
        self.sync_handler = BaseHandler()
        self.sync_handler.load_middleware()

    async def get_response_async(self, request):
        return await sync_to_async(self.sync_handler.get_response, thread_sensitive=True)(request)


class Site:
    """The ASGI application: lifespan, then Django for HTTP."""

    def __init__(self, django_app) -> None:
        from chatsite.lifespan import Lifespan

        self.django_app = django_app
        self.lifespan = Lifespan()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        from conversations import work_threads
        from conversations.generation import server_loop

        server_loop.set(asyncio.get_running_loop())  # replies start without a round trip
        where = route(scope) if scope["type"] == "http" else "own"
        if where == "own":
            async with work_threads.own_thread() as executor:
                async with ThreadSensitiveContext(executor=executor):
                    await self.django_app(scope, receive, send)
            return
        if where == "shared":
            async with ThreadSensitiveContext(executor=work_threads.shared()):
                await self.django_app(scope, receive, send)
            return
        async with ThreadSensitiveContext(executor=work_threads.stream()):
            await end_cleanly_when_cancelled(self.django_app, scope, receive, send)


async def end_cleanly_when_cancelled(app, scope, receive, send) -> None:
    """A live stream still open when its server stops is cancelled by the server (uvicorn, after
    --timeout-graceful-shutdown). It then ends as a complete response instead of a cut
    connection with an error and a traceback in the log for each: the page's SSE extension
    reconnects either way, through the proxy to another process, which follows the reply on.
    Only the server cancels a request's task (a browser that goes away ends the response inside
    Django), so nothing else is swallowed."""
    started = ended = False

    async def tracking_send(message) -> None:
        nonlocal started, ended
        if message["type"] == "http.response.start":
            started = True
        elif message["type"] == "http.response.body" and not message.get("more_body", False):
            ended = True
        await send(message)

    try:
        await app(scope, receive, tracking_send)
    except asyncio.CancelledError:
        if not started or ended:
            raise
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def get_application():
    """The site; behind the reverse proxies of TRUSTED_PROXIES, wrapped in uvicorn's
    proxy-headers middleware, which takes the client's address (what the login throttle counts)
    from X-Forwarded-For only on a connection from one of them. Serve with uvicorn's
    --no-proxy-headers so that this list, not uvicorn's default one, decides (README,
    "Deploying")."""
    from django.conf import settings
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    django.setup(set_prefix=False)  # as django.core.asgi.get_asgi_application() does
    site = Site(OneTripASGIHandler())
    if not settings.TRUSTED_PROXIES:
        return site
    return ProxyHeadersMiddleware(site, trusted_hosts=settings.TRUSTED_PROXIES)


application = get_application()
