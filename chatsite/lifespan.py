"""What a server process does when it starts and when it stops (the ASGI lifespan; uvicorn runs
it with `--lifespan on`). Nothing of this happens at import.

Start-up: refuse to serve on a serving system check error (chatsite/checks.py), end the replies
a dead process left generating, start the services (the stale sweep, the live channel), then
settle the long-lived objects and freeze them (gc.freeze).
Shutdown (SIGTERM, after uvicorn has stopped taking requests and closed the open connections):
let this process's replies finish for up to SHUTDOWN_GRACE_SECONDS, end the rest as
interrupted, then stop the services in reverse order."""

import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import checks

log = logging.getLogger("conversations")


@dataclass(frozen=True)
class Service:
    """Something that runs beside the requests for the life of the process."""

    name: str
    start: Callable[[], Awaitable[None]]
    stop: Callable[[], Awaitable[None]]


def services() -> list[Service]:
    """Started in this order, stopped in the reverse one (after the replies have drained, so a
    reply's last write still reaches its viewers). A new service plugs in with one line here."""
    from conversations import live_channel
    from conversations.stale_sweep import sweep

    return [
        Service(
            "live channel", lambda: live_channel.get().start(), lambda: live_channel.get().close()
        ),
        Service("stale sweep", sweep.start, sweep.stop),
    ]


class StartupRefused(Exception):
    """A system check error: the process must not serve."""


def serving_errors() -> list[str]:
    found = checks.run_checks(tags=["serving"])
    return [
        f"{error.id}: {error.msg}"
        for error in found
        if error.level >= checks.ERROR and not error.is_silenced()
    ]


def recover_replies() -> int:
    """Ends the replies that a process no longer running left generating (idempotent; also
    `manage.py recover_replies`). A database not migrated yet is logged and skipped."""
    from django.db import DatabaseError

    from conversations.recovery import interrupt_orphaned_replies

    try:
        count = interrupt_orphaned_replies()
    except DatabaseError:
        log.warning("start-up recovery skipped: database not ready")
        return 0
    if count:
        log.warning("%d interrupted replies recovered", count)
    return count


def settle_long_lived_objects() -> None:
    """Loads what every request would otherwise load on first use (the URL patterns, the chat
    page's compiled template), then moves everything alive now out of the cyclic garbage
    collector's reach (gc.freeze): those objects live as long as the process, yet every full
    collection walked them all (make bench, steady phase, 200 replies streaming: the longest
    pause went from 246 to 149 ms)."""
    from django.template.loader import get_template
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 (imports every view module)
    get_template("conversations/chat.html")
    gc.collect()
    gc.freeze()


class Lifespan:
    def __init__(self) -> None:
        self.running: list[Service] = []

    async def startup(self) -> None:
        from conversations.work_threads import database_work

        errors = serving_errors()
        if errors:
            raise StartupRefused("\n".join(errors))
        await database_work(recover_replies)()
        try:
            for service in services():
                await service.start()
                self.running.append(service)
        except BaseException:
            await self.stop_services()
            raise
        await sync_to_async(settle_long_lived_objects, thread_sensitive=False)()

    async def shutdown(self) -> None:
        from conversations.generation import drain

        cut = await drain(settings.SHUTDOWN_GRACE_SECONDS)
        if cut:
            log.warning("%d replies ended as interrupted at shutdown", cut)
        await self.stop_services()
        from conversations.attachments import converter

        await sync_to_async(converter.shutdown, thread_sensitive=False)()

    async def stop_services(self) -> None:
        while self.running:
            service = self.running.pop()
            try:
                await service.stop()
            except Exception:
                log.exception("%s did not stop cleanly", service.name)

    async def __call__(self, receive, send) -> None:
        """The ASGI lifespan protocol: start-up, then shutdown, each answered."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except StartupRefused as error:  # uvicorn logs the message and exits
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                except Exception as error:
                    log.exception("start-up failed")
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                except Exception as error:
                    log.exception("shutdown failed")
                    await send({"type": "lifespan.shutdown.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return
