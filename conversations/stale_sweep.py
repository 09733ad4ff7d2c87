"""Every server process looks, every REPLY_SWEEP_INTERVAL seconds, for generating replies whose
worker stopped beating for REPLY_STALE_AFTER seconds (a process killed, a machine lost: its
heartbeat in the database is late and, with Redis, its key in the live channel gone) and
ends them as interrupted with their text and a usage estimate: their viewers see the end
wherever they watch, and the user can retry. One indexed query (replies by status) per sweep."""

import asyncio
import contextvars
import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from conversations.models import Reply
from conversations.recovery import interrupt, is_orphaned
from conversations.work_threads import database_work

log = logging.getLogger(__name__)


def interrupt_stale_replies() -> int:
    """Ends the generating replies whose heartbeat is older than REPLY_STALE_AFTER (never one
    this process is generating: its own heartbeats are late only when the database is).
    Returns how many it ended. The query reads the generating replies only (through an index
    on status), with no join: what `interrupt` needs of a conversation is read for the rare
    stale reply alone."""
    cutoff = timezone.now() - timedelta(seconds=settings.REPLY_STALE_AFTER)
    stale = (
        Reply.objects.generating()
        .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, created_at__lt=cutoff))
        .order_by()  # (the default ordering would join and sort the conversations)
    )
    return sum(1 for reply in stale if is_orphaned(reply) and interrupt(reply))


class StaleSweep:
    """The periodic sweep of one process, started and stopped by the ASGI lifespan."""

    def __init__(self) -> None:
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        if self.task is None or self.task.done():
            loop = asyncio.get_running_loop()
            self.task = loop.create_task(self._run(), context=contextvars.Context())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None

    async def _run(self) -> None:
        sweep = database_work(interrupt_stale_replies)
        while True:
            await asyncio.sleep(settings.REPLY_SWEEP_INTERVAL)
            try:
                count = await sweep()
            except Exception:
                log.warning("stale sweep failed; trying again later", exc_info=True)
                continue
            if count:
                log.warning("%d replies of a silent worker ended as interrupted", count)


sweep = StaleSweep()
