"""Thread-safe state shared by the fake upstream's server thread and the test thread."""

import threading
import time
from collections import deque

from conversations.fake_upstream.behaviours import Behaviour, normalize

# A long-running demo server must not grow without bound.
MAX_LOGGED_REQUESTS = 10_000


class FakeState:
    """The behaviour queue, the request log and the response ids the fake has produced."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Behaviour] = deque()
        self._requests: deque[dict] = deque(maxlen=MAX_LOGGED_REQUESTS)
        self._response_ids: set[str] = set()
        self._forget_always = False

    def queue(self, *entries: str | dict) -> int:
        """Append behaviours (validated first, so a typo fails in the caller's thread)."""
        behaviours = [normalize(entry) for entry in entries]
        with self._lock:
            self._queue.extend(behaviours)
            return len(self._queue)

    def pop_queued(self) -> Behaviour | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def log_request(self, body: dict | None, headers: dict[str, str]) -> dict:
        """The entry logged; its "body_bytes" counts the answer's body bytes as they go out."""
        entry = {"json": body, "headers": headers, "time": time.time(), "body_bytes": 0}
        with self._lock:
            self._requests.append(entry)
        return entry

    def requests(self) -> list[dict]:
        with self._lock:
            return list(self._requests)

    def remember_response(self, response_id: str) -> None:
        with self._lock:
            self._response_ids.add(response_id)

    def knows_response(self, response_id: str) -> bool:
        with self._lock:
            return not self._forget_always and response_id in self._response_ids

    def forget_responses(self, always: bool = False) -> None:
        """Forget every id produced so far; with always=True, fail every lookup until reset()."""
        with self._lock:
            self._response_ids.clear()
            self._forget_always = self._forget_always or always

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._response_ids.clear()
            self._forget_always = False
