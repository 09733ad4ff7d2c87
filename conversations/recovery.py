"""Finds replies that a stopped process left "generating" and marks them interrupted, keeping
their batched text and an estimate of their usage, so the user can retry them."""

import logging
import os
import socket

from django.db import transaction
from django.utils import timezone

from conversations import live, live_channel
from conversations.failures import MESSAGES
from conversations.models import Reply
from conversations.tokens import estimate_tokens

log = logging.getLogger(__name__)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _orphaned_at_startup(reply: Reply) -> bool:
    """On this host, a reply is orphaned when its worker process is gone (or is us: a new
    process has no replies yet). Elsewhere, only a stale heartbeat tells."""
    host, _, pid = reply.worker.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        return int(pid) == os.getpid() or not _process_alive(int(pid))
    return is_orphaned(reply)


def is_orphaned(reply: Reply) -> bool:
    """Whether nothing is writing a generating reply whose heartbeat in the database is stale.
    This process knows its own replies (one whose task never started or died is orphaned);
    another process is alive while the live channel hears it beat (a process whose database
    writes queue behind a burst of sends beats late in the database, yet writes its replies)."""
    if not reply.is_stale():
        return False
    if reply.worker == live.WORKER:
        return live.get(reply.pk) is None
    return not live_channel.get().worker_alive(reply.worker)


def interrupt(
    reply: Reply, code: str = "server_restart", status: str = Reply.Status.INTERRUPTED
) -> bool:
    """Ends one generating reply (interrupted, or cancelled with no error when `code` is
    empty) unless it ended meanwhile, with an estimate of its usage, and bills it."""
    fields = {
        "status": status,
        "error_code": code,
        "error_message": MESSAGES[code] if code else "",
        "finished_at": timezone.now(),
    }
    if reply.started_at and not reply.has_usage:
        input_tokens = estimate_tokens(reply.conversation.instructions + reply.user_input)
        output_tokens = estimate_tokens(reply.text + reply.refusal)
        reasoning = estimate_tokens(reply.reasoning_summary)
        fields.update(
            input_tokens=input_tokens,
            output_tokens=output_tokens + reasoning,
            reasoning_tokens=reasoning,
            total_tokens=input_tokens + output_tokens + reasoning,
            usage_estimated=True,
        )
    with transaction.atomic():
        changed = Reply.objects.generating().filter(pk=reply.pk).update(**fields)
        if changed:
            Reply.objects.get(pk=reply.pk).bill()
    if changed:
        log.warning("reply %s ended as %s (%s)", reply.pk, status, code)
    return bool(changed)


def interrupt_orphaned_replies() -> int:
    """Run once when a server process starts."""
    count = 0
    for reply in Reply.objects.generating().select_related("conversation"):
        if _orphaned_at_startup(reply) and interrupt(reply):
            count += 1
    return count


def interrupt_if_stale(reply: Reply) -> bool:
    """For pages and streams that find a generating reply no process of ours is writing."""
    return is_orphaned(reply) and interrupt(reply)
