"""Small numeric and database helpers for the benchmark's phases."""

import math
import sqlite3
import time
from datetime import datetime
from pathlib import Path


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile (0-100) by linear interpolation; None for no values. A value of
    math.inf (e.g. a first token that never came) counts as the worst; a percentile that lands
    on it is inf."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    if math.isinf(ordered[high]):
        return math.inf
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def ms(seconds: float | None) -> float | None:
    """Milliseconds, rounded; None stays None and inf (never happened) becomes None too."""
    if seconds is None or math.isinf(seconds):
        return None
    return round(seconds * 1000, 1)


class BenchDB:
    """Read-only looks at the benchmark's own database (the server writes it): a SQLite file
    (`path`) or, with `--workers`, a temporary PostgreSQL database (`postgres_url`)."""

    def __init__(self, path: Path | None = None, postgres_url: str | None = None) -> None:
        self.path = path
        self.postgres_url = postgres_url

    def _query(self, sql: str, params=()) -> list[tuple]:
        if self.postgres_url:
            import psycopg

            with psycopg.connect(self.postgres_url, autocommit=True) as db:
                return db.execute(sql.replace("?", "%s"), params).fetchall()
        db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def wait_finished(self, tag: str, timeout: float = 60.0) -> int:
        """Waits until no reply of the phase is queued or generating; returns how many are."""
        deadline = time.monotonic() + timeout
        while True:
            (left,) = self._query(
                "SELECT COUNT(*) FROM conversations_reply "
                "WHERE user_input LIKE ? AND status IN ('queued', 'in_progress')",
                (f"bench {tag} %",),
            )[0]
            if left == 0 or time.monotonic() > deadline:
                return left
            time.sleep(0.5)

    def phase_replies(self, tag: str) -> dict:
        rows = self._query(
            "SELECT status, output_tokens, created_at, started_at, first_token_at, finished_at "
            "FROM conversations_reply WHERE user_input LIKE ?",
            (f"bench {tag} %",),
        )
        by_status: dict[str, int] = {}
        tokens, queue_delays, upstream_ttft = 0, [], []
        for status, output_tokens, created, started, first, _finished in rows:
            by_status[status] = by_status.get(status, 0) + 1
            if status == "completed":
                tokens += output_tokens or 0
            if created and started:
                queue_delays.append(_seconds(created, started))
            if started and first:
                upstream_ttft.append(_seconds(started, first))
        return {
            "total": len(rows),
            "by_status": by_status,
            "completed": by_status.get("completed", 0),
            "failed": len(rows) - by_status.get("completed", 0),
            "output_tokens": tokens,
            # Server-side timings from the stored reply: created -> generation started, and
            # started -> first token received from the relay.
            "db_created_to_started_ms": _summary(queue_delays),
            "db_started_to_first_token_ms": _summary(upstream_ttft),
        }


def _seconds(start, end) -> float:
    return (_parse(end) - _parse(start)).total_seconds()


def _parse(value) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _summary(values: list[float]) -> dict:
    return {
        "p50": ms(percentile(values, 50)),
        "p99": ms(percentile(values, 99)),
        "max": ms(max(values) if values else None),
    }


def summary_ms(values: list[float]) -> dict:
    return _summary(values)
