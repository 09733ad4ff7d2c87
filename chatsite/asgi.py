"""ASGI entry point (uvicorn, `--lifespan on`): Django's own ASGI handler, inside a small ASGI
application that

- runs the process's start-up and shutdown (the `lifespan` scope, chatsite/lifespan.py:
  recovery, the stale sweep, the live channel, draining the replies on SIGTERM);
- sends each request's synchronous work to the right thread (conversations/work_threads.py)
  with asgiref's public ThreadSensitiveContext(executor=...): sends and the reply actions
  (stop, retry...) to the shared thread, in arrival order; live streams' requests to a few
  stream threads; every other request to a thread of its own, as Django does;
- tells the request's sync view which loop is the server's (generation.server_loop), so a send
  queues its reply's start there instead of waiting for the loop.

Importing this module sets Django up and builds the application; it writes nothing and starts
no thread."""

import asyncio
import os

from asgiref.sync import ThreadSensitiveContext
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")


def route(scope) -> str:
    """Where a request's synchronous work runs. "shared": sending and the reply actions, many
    at once, each short, all writing. "stream": a live stream's request, which only looks the
    reply up and then waits on the event loop, and must never queue behind a burst of sends.
    "own": anything else."""
    path = scope["path"].removeprefix(scope.get("root_path", ""))
    if path == "/send/" or path.startswith("/r/"):
        return "stream" if path.endswith("/stream/") else "shared"
    return "own"


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
            await self.django_app(scope, receive, send)
            return
        executor = work_threads.shared() if where == "shared" else work_threads.stream()
        async with ThreadSensitiveContext(executor=executor):
            await self.django_app(scope, receive, send)


def get_application():
    """The site; behind the reverse proxies of TRUSTED_PROXIES, wrapped in uvicorn's
    proxy-headers middleware, which takes the client's address (what the login throttle counts)
    from X-Forwarded-For only on a connection from one of them. Serve with uvicorn's
    --no-proxy-headers so that this list, not uvicorn's default one, decides (README,
    "Deploying")."""
    from django.conf import settings
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    site = Site(get_asgi_application())
    if not settings.TRUSTED_PROXIES:
        return site
    return ProxyHeadersMiddleware(site, trusted_hosts=settings.TRUSTED_PROXIES)


application = get_application()
