"""The threads where the server's synchronous work runs, beside the event loop.

- The shared thread: sends, the reply actions (stop, retry...) and the reply tasks' database
  work, in arrival order. Many short writes at once queue there instead of each starting a
  thread: hundreds of threads would fight for the GIL and, on SQLite, for the write lock.
- A few stream threads that live streams' requests take turns on: a stream only looks its reply
  up, then waits on the event loop; a new thread for each was a sixth of the server's CPU when
  hundreds opened at once, and they must never queue behind a burst of sends.

Each is a one-thread executor, created on first use (never at import). Requests are sent to
them with asgiref's public ThreadSensitiveContext(executor=...) (chatsite/asgi.py), the reply
tasks with sync_to_async(executor=...) (`database_work`). Their database connections follow
Django's rules (CONN_MAX_AGE, health checks): on SQLite kept for reuse, on PostgreSQL given
back to the pool after each request or piece of work. Any other request gets a thread of its
own (`own_thread`) that closes its connections when the request ends."""

import asyncio
import contextlib
import itertools
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connections

STREAM_THREADS = 4

_lock = threading.Lock()
_shared: ThreadPoolExecutor | None = None
_streams: list[ThreadPoolExecutor] = []
_next_stream = itertools.count()


def shared() -> ThreadPoolExecutor:
    global _shared
    if _shared is None:
        with _lock:
            if _shared is None:
                _shared = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shared")
    return _shared


def stream() -> ThreadPoolExecutor:
    """The next stream thread, in turn."""
    if not _streams:
        with _lock:
            if not _streams:
                _streams.extend(
                    ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"stream{i}")
                    for i in range(STREAM_THREADS)
                )
    return _streams[next(_next_stream) % STREAM_THREADS]


@contextlib.asynccontextmanager
async def own_thread() -> AsyncIterator[ThreadPoolExecutor]:
    """A thread for one request, as Django gives each; at the end its database connections are
    closed (CONN_MAX_AGE keeps connections for the long-lived threads only: this one ends)."""
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="request")
    try:
        yield executor
    finally:
        await asyncio.get_running_loop().run_in_executor(executor, connections.close_all)
        executor.shutdown(wait=False)


def database_work(work):
    """`sync_to_async` for database work outside a request (reply tasks, the stale sweep,
    start-up recovery), on the shared thread. It does what a request's start and end do: drops
    a connection that is too old or broken before, and gives it back after (to the pool on
    PostgreSQL; on SQLite kept for DATABASE_CONN_MAX_AGE seconds)."""

    def run(*args, **kwargs):
        close_old_connections()
        try:
            return work(*args, **kwargs)
        finally:
            close_old_connections()

    return sync_to_async(run, thread_sensitive=False, executor=shared())
