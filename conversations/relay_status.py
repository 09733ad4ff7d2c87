"""Whether the AI service (the relay) is answering, judged site-wide from how the latest reply
ended: shown in the sidebar so staff know a failure is not their fault. Kept in the cache (one
key, no query); with REDIS_URL every worker process shares it."""

from django.core.cache import cache

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


def record(status: str, error_code: str) -> None:
    """Called once a reply has ended. A stopped reply, or a failure that is about the request
    itself, says nothing about the service and changes nothing."""
    if status in (Reply.Status.COMPLETED, Reply.Status.INCOMPLETE):
        cache.set(KEY, OK, WINDOW_SECONDS)
    elif error_code in TROUBLE_CODES:
        cache.set(KEY, TROUBLE, WINDOW_SECONDS)


def current() -> str | None:
    """ "ok", "trouble", or None when no reply ended recently."""
    return cache.get(KEY)


def forget() -> None:
    cache.delete(KEY)
