"""Whether the AI service (the relay) is answering, judged site-wide from how the latest reply
ended: shown in the sidebar so staff know a failure is not their fault. Kept in the cache (one
key, no query); with REDIS_URL every worker process shares it. The notice is a hint: while the
cache cannot be reached it is neither recorded nor shown, and nothing else fails because of it."""

import logging

from django.core.cache import cache
from redis.exceptions import RedisError

from conversations.models import Reply

KEY = "relay-status:last-outcome"
# How long one outcome speaks for the service: after this with no reply, nothing is shown.
WINDOW_SECONDS = 600
# Failures that say the service is in trouble (not this conversation's settings or length).
TROUBLE_CODES = frozenset(
    {
        "unauthorized",
        "upstream_quota",
        "rate_limited",
        "upstream_unavailable",
        "timeout",
        "network",
        "stalled",
        "cut",
    }
)
OK, TROUBLE = "ok", "trouble"
log = logging.getLogger(__name__)


def record(status: str, error_code: str) -> None:
    """Called once a reply has ended. A stopped reply, or a failure that is about the request
    itself, says nothing about the service and changes nothing."""
    if status in (Reply.Status.COMPLETED, Reply.Status.INCOMPLETE):
        _set(OK)
    elif error_code in TROUBLE_CODES:
        _set(TROUBLE)


def _set(value: str) -> None:
    try:
        cache.set(KEY, value, WINDOW_SECONDS)
    except RedisError as error:  # the shared cache's server is down
        log.warning("relay status not recorded: the cache is unreachable (%s)", error)


def current() -> str | None:
    """ "ok", "trouble", or None when no reply ended recently (or the cache is unreachable)."""
    try:
        return cache.get(KEY)
    except RedisError as error:
        log.warning("relay status unknown: the cache is unreachable (%s)", error)
        return None


def forget() -> None:
    cache.delete(KEY)
