"""Replies being generated in this process, shared between the task that writes them and the
browsers that watch them. A LiveReply changes on the server's event loop thread only (its
`ended` is set by the task's last database trip, before `finish()` tells the viewers); the
registry is also read from the threads that open streams and stop replies."""

import asyncio
import os
import socket
import time
import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from conversations.streaming_markdown import StreamingMarkdown

# This process, as replies record who generates them (Reply.worker) and as the live channel
# says which processes are alive.
WORKER = f"{socket.gethostname()}:{os.getpid()}"


class LiveReply:
    """The growing text of one reply. Viewers wait for a change, then read what is new; the
    snapshot and the wait happen on one thread, so a late viewer gets no gap and no repeat."""

    def __init__(self, reply_id: uuid.UUID, conversation_id: uuid.UUID, user_id: int):
        self.reply_id = reply_id
        self.conversation_id = conversation_id
        self.user_id = user_id
        self.text = ""
        self.reasoning = ""
        self.refusal = ""
        # What a hosted tool is doing now: the web search's query while the relay searches
        # (None: no search under way; "" searching, query not known yet). Cleared by text.
        self.searching: str | None = None
        self.citations: list[dict[str, Any]] = []  # url_citation annotations so far
        self.tools_version = 0  # moves with `searching` and `citations`, for the channel
        self.images: list[Any] = []  # generated images (upstream.GeneratedImage), stored at end
        self.unknown_items: list[dict[str, str]] = []  # output items of types not shown
        self.version = 0
        self.done = False
        self.accepted = False  # the relay answered 200: the reply has started and is billable
        self.attempts = 0  # requests made to the relay for this reply (retries included)
        self.stop_requested = False
        self.upstream_id = ""
        self.first_token_at: datetime | None = None
        # The Reply as the task stored it at the end (None if it could not, or if another
        # process had already ended it: viewers then read it from the database).
        self.ended: Any = None
        self.reservation: Any = None  # the quota reservation held at send, if known here
        self.output_limit = ""  # which length limit applies (models.OutputLimit), if known here
        # Set on a mirror (live_channel.py) whose channel broke while the reply went on: its
        # viewers are asked to reload rather than left waiting.
        self.broken = False
        self.task: asyncio.Task | None = None
        self._changed: asyncio.Future | None = None
        self._markdown = StreamingMarkdown()
        self._flushed_version = 0
        self._flushed_citations = 0
        self._beat = time.monotonic()

    @property
    def got_output(self) -> bool:
        return bool(self.text or self.reasoning or self.refusal or self.images)

    def add_text(self, text: str) -> None:
        self.text += text
        if text and self.searching is not None:
            self.searching = None  # the answer resumed: the search is over
            self.tools_version += 1
        self._grew(text)

    def set_searching(self, query: str | None) -> None:
        """A web search under way (its query, "" while unknown), or over (None). A query
        once known is kept until the search ends."""
        if query is not None and not query and self.searching:
            return
        if query != self.searching:
            self.searching = query
            self.tools_version += 1
            self._notify()

    def add_citations(self, citations: list[dict[str, Any]]) -> None:
        if citations:
            self.citations.extend(citations)
            self.tools_version += 1
            self._notify()

    def add_reasoning(self, text: str) -> None:
        self.reasoning += text
        self._grew(text)

    def add_refusal(self, text: str) -> None:
        self.refusal += text
        self._grew(text)

    def _grew(self, text: str) -> None:
        if self.first_token_at is None and text:
            self.first_token_at = timezone.now()
        self._notify()

    def finish(self) -> None:
        self.done = True
        self._notify()

    def _notify(self) -> None:
        self.version += 1
        if self._changed is not None:
            if not self._changed.done():
                self._changed.set_result(None)
            self._changed = None

    async def wait_for_change(self, seen_version: int, timeout: float) -> bool:
        """Waits until the version moves past `seen_version`; False on timeout."""
        if self.version != seen_version or self.done:
            return True
        if self._changed is None:
            self._changed = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self._changed), timeout)
        except TimeoutError:
            return False
        return True

    def markdown(self) -> StreamingMarkdown:
        """The text so far as settled blocks and the open one (streaming_markdown.py), brought
        up to date when asked: each block is rendered once however many viewers ask."""
        self._markdown.update(self.text)
        return self._markdown

    def flush_due(self, now: float) -> bool:
        """New text or citations since the last write, or time for a heartbeat (a quarter of
        the time after which a silent reply counts as lost)."""
        beat_every = settings.REPLY_STALE_AFTER / 4
        return (
            self.version != self._flushed_version
            or len(self.citations) != self._flushed_citations
            or now - self._beat >= beat_every
        )

    def flush_fields(self, now: float) -> dict[str, Any]:
        """The columns to write now, and the note that they were written."""
        fields: dict[str, Any] = {"heartbeat_at": timezone.now()}
        if self.version != self._flushed_version:
            fields.update(text=self.text, reasoning_summary=self.reasoning, refusal=self.refusal)
            if self.first_token_at is not None:
                fields["first_token_at"] = self.first_token_at
        if len(self.citations) != self._flushed_citations:
            # (Annotations may come after the last text: a late viewer reads them from here.)
            fields["citations"] = list(self.citations)
            self._flushed_citations = len(self.citations)
        self._flushed_version, self._beat = self.version, now
        return fields

    def request_stop(self) -> None:
        """Safe from any thread: the cancellation is delivered on the task's own loop."""
        self.stop_requested = True
        if self.task is not None and not self.task.done():
            self.task.get_loop().call_soon_threadsafe(self.task.cancel)


class Registry:
    """The replies a process is generating, by id. One per process (below); a test can give a
    live channel its own to stand for a second process."""

    def __init__(self):
        self._live: dict[uuid.UUID, LiveReply] = {}

    def get(self, reply_id: uuid.UUID) -> LiveReply | None:
        return self._live.get(reply_id)

    def register(self, live: LiveReply) -> None:
        self._live[live.reply_id] = live

    def unregister(self, live: LiveReply) -> None:
        if self._live.get(live.reply_id) is live:
            del self._live[live.reply_id]

    def count(self) -> int:
        return len(self._live)

    def all(self) -> list[LiveReply]:
        return list(self._live.values())


registry = Registry()
get = registry.get
register = registry.register
unregister = registry.unregister
count = registry.count
all = registry.all
