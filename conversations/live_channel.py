"""How a reply being generated reaches its viewers and its Stop, whichever process they are on.
One channel per process, `get()`: in memory when REDIS_URL is unset (one process: viewers
follow the LiveReply itself), Redis Streams when it is set. The generation task and the views
use only this interface and never ask which one runs:

- `published(live)` (sync, on the event loop): the reply grew (or started).
- `await ended(live)`: after its final database write.
- `await request_stop(reply_id)` / `request_stop_from_thread(reply_id)`: stop it wherever it
  is generated; True when it was generated here (else the caller also sets the database flag,
  the fallback the owner's flusher reads).
- `watch(reply_id)`: an async context manager yielding a LiveReply to follow, or None when
  nothing is known to generate it.
- `worker_alive(worker)` (sync, any thread): whether the process that generates a reply
  (Reply.worker) is alive, as far as the channel knows. With Redis each serving process beats
  (a key with a time to live, refreshed from its event loop every REPLY_STALE_AFTER/4): a
  process whose database writes queue behind a burst of sends still beats, so no other process
  ends its replies for a late heartbeat in the database. In memory: none (one process).
- `await start()` / `await close()`: the server's start-up and shutdown (both optional and
  idempotent: everything also starts lazily when first needed).

With Redis each reply has a stream, `<prefix>reply:<uuid>`, of entries carrying the offsets
and deltas of its text (`o`, `t`), reasoning (`ro`, `r`) and refusal (`fo`, `f`), and `e` on
the last. Hosted tools add, only in the entries where they changed: `a`, what a tool is doing
("s" and the query while a web search runs, "" once it is over: a state, not a delta), and the
citations beyond offset `co` as a JSON list in `c` (they only grow, like the text). The owner
publishes all its changed replies in one pipeline every LIVE_PUBLISH_INTERVAL. Another
process follows a reply through a *mirror*: a LiveReply of its own, shared by all that
process's viewers of the reply, fed by the process's stream reader.
A mirror starts from the stream when it holds the reply from offset 0 (and the database's text
where the owner stored more than it published yet), else from the text in the database, then
keeps only what lies beyond what it has: no gap, no repeat, even after the
stream was trimmed or Redis restarted (a mirror then waits until the database text reaches the
next entry). Stop is a PUBLISH on `<prefix>stop`, which every process generating replies
listens to.

Redis failures never fail a reply: a publish that fails is logged once and retried with the
next (the database flush goes on regardless). A mirror that hears nothing for MIRROR_SILENCE
seconds asks the database (one query for all such mirrors): an ended reply ends its viewers
with the stored reply; a reply still going while this process cannot read Redis, or whose
stored text is ahead of the mirror, ends them with a sentence asking to reload.

Redis clients belong to an event loop, so the channel keeps its clients, tasks and mirrors per
event loop (a server process has one; tests have several).
"""

import asyncio
import contextlib
import contextvars
import json
import logging
import threading
import time
import uuid
import weakref
from collections.abc import AsyncIterator
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.db.models.functions import Length

from conversations import live as live_module
from conversations.live import LiveReply, Registry
from conversations.work_threads import database_work

log = logging.getLogger(__name__)

STREAM_MAXLEN = 5000  # entries kept per reply stream (MAXLEN ~): minutes of a long reply
TRIM_EVERY = 50  # entries between two capped XADDs of one stream
LIVE_TTL = 600  # seconds a stream of a reply in progress outlives its last publish
ENDED_TTL = 60  # seconds a stream outlives its reply's end (late viewers read the database)
MIRROR_SILENCE = 3.0  # seconds of silence after which a mirror asks the database
READ_BLOCK_MS = 1000  # the reader's XREAD BLOCK: how often it looks at silent mirrors
RETRY_PUBLISH_EVERY = 1.0  # seconds between publishes while Redis refuses them
RESYNC_EVERY = 0.25  # seconds between a mirror's looks at the database while behind


class MemoryChannel:
    """One process, no Redis: a reply's viewers follow its LiveReply directly."""

    def __init__(self, registry: Registry | None = None):
        self.registry = registry or live_module.registry

    def worker_alive(self, worker: str) -> bool:
        return False  # (one process: any other is one that ran before it)

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def published(self, live: LiveReply) -> None:
        pass

    async def ended(self, live: LiveReply) -> None:
        pass

    async def request_stop(self, reply_id: uuid.UUID) -> bool:
        return self.request_stop_from_thread(reply_id)

    def request_stop_from_thread(self, reply_id: uuid.UUID) -> bool:
        if (live := self.registry.get(reply_id)) is None:
            return False
        live.request_stop()
        return True

    @contextlib.asynccontextmanager
    async def watch(self, reply_id: uuid.UUID) -> AsyncIterator[LiveReply | None]:
        yield self.registry.get(reply_id)


# --- Redis ---------------------------------------------------------------------------------


def _apply(live: LiveReply, fields: dict[str, str]) -> bool:
    """Adds what an entry holds beyond what `live` has (nothing it has already); False, with
    nothing applied, when the entry starts past its end (a gap)."""
    parts = []
    for offset_key, delta_key, current, add in (
        ("o", "t", live.text, live.add_text),
        ("ro", "r", live.reasoning, live.add_reasoning),
        ("fo", "f", live.refusal, live.add_refusal),
    ):
        delta = fields.get(delta_key)
        if not delta:
            continue
        offset = int(fields.get(offset_key, 0))
        if offset > len(current):
            return False
        if offset + len(delta) > len(current):
            parts.append((add, delta[len(current) - offset :]))
    citations = fields.get("c")
    if citations:
        offset = int(fields.get("co", 0))
        if offset > len(live.citations):
            return False
        new = json.loads(citations)[len(live.citations) - offset :]
    for add, new_text in parts:
        add(new_text)
    if citations and new:
        live.add_citations(new)
    if "a" in fields:
        activity = fields["a"]
        live.set_searching(activity[1:] if activity.startswith("s") else None)
    return True


def _starts_at_zero(fields: dict[str, str]) -> bool:
    return all(int(fields.get(key, 0)) == 0 for key in ("o", "ro", "fo", "co"))


def _progress(live: LiveReply) -> tuple[int, int, int, int, int]:
    """How far a reply's entries have carried it: its text, reasoning, refusal and citations,
    and the version of its tools' state."""
    return (
        len(live.text),
        len(live.reasoning),
        len(live.refusal),
        len(live.citations),
        live.tools_version,
    )


class _Mirror:
    """This process's copy of a reply generated elsewhere, shared by its viewers here."""

    def __init__(self, reply_id: uuid.UUID):
        self.reply_id = reply_id
        self.live = LiveReply(reply_id, None, None)
        self.last_id = "0-0"
        self.heard = time.monotonic()
        self.checked = 0.0
        self.refs = 0
        self.opened = False  # its start is done: the reader follows it from `last_id`
        self.ready: asyncio.Task | None = None
        self.pending: list[dict[str, str]] | None = None  # entries held while behind

    def take(self, fields: dict[str, str], state: "_LoopState") -> None:
        """An entry of the reply's stream, in order."""
        self.heard = time.monotonic()
        if self.live.done:
            return
        if self.pending is not None:
            self.pending.append(fields)
        elif fields.get("e"):
            _apply(self.live, fields)  # a gap here is covered by the stored reply
            self.live.finish()
        elif not _apply(self.live, fields):
            self.pending = [fields]
            state.spawn(_catch_up(self))


def _stored(reply_id: uuid.UUID) -> dict[str, Any] | None:
    from conversations.models import Reply

    close_old_connections()
    return (
        Reply.objects.filter(pk=reply_id)
        .values("text", "reasoning_summary", "refusal", "citations", "status")
        .first()
    )


def _take_stored(live: LiveReply, stored: dict[str, Any]) -> None:
    """The stored text where it is ahead (stored and live are both beginnings of the reply)."""
    for current, value, add in (
        (live.text, stored["text"], live.add_text),
        (live.reasoning, stored["reasoning_summary"], live.add_reasoning),
        (live.refusal, stored["refusal"], live.add_refusal),
    ):
        if len(value) > len(current):
            add(value[len(current) :])
    citations = stored.get("citations") or []
    if len(citations) > len(live.citations):
        live.add_citations(citations[len(live.citations) :])


async def _stored_for(mirror: _Mirror) -> dict[str, Any] | None:
    """The mirrored reply as stored; None if it is gone or cannot be read (then its viewers
    are asked to reload)."""
    try:
        return await database_work(_stored)(mirror.reply_id)
    except Exception:
        log.exception("live channel: could not read reply %s", mirror.reply_id)
        mirror.live.broken = True
        return None


async def _catch_up(mirror: _Mirror) -> None:
    """A mirror behind its stream's next entry (trimmed, or lost in a Redis restart) waits
    until the database text reaches it, then applies what it held."""
    from conversations.models import Reply

    while mirror.pending is not None and not mirror.live.done:
        stored = await _stored_for(mirror)
        if stored is None:
            mirror.live.finish()
            return
        _take_stored(mirror.live, stored)
        held = mirror.pending
        while held and (held[0].get("e") or _apply(mirror.live, held[0])):
            if held.pop(0).get("e"):
                mirror.live.finish()
                return
        if not held:
            mirror.pending = None
            return
        if stored["status"] not in Reply.GENERATING:
            mirror.live.finish()
            return
        await asyncio.sleep(RESYNC_EVERY)


class _LoopState:
    """The channel's client, tasks and mirrors on one event loop."""

    def __init__(self, channel: "RedisChannel"):
        from redis.asyncio import Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.redis = Redis.from_url(
            channel.url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=READ_BLOCK_MS / 1000 + 4,
            retry=Retry(NoBackoff(), 1),
        )
        self.dirty: dict[uuid.UUID, LiveReply] = {}
        self.sent: dict[uuid.UUID, tuple[int, int, int, int, int]] = {}
        self.expires: dict[uuid.UUID, float] = {}
        self.entries: dict[uuid.UUID, int] = {}
        self.lock = asyncio.Lock()
        self.publisher: asyncio.Task | None = None
        self.listener: asyncio.Task | None = None
        self.reader: asyncio.Task | None = None
        self.beat: asyncio.Task | None = None
        self.mirrors: dict[uuid.UUID, _Mirror] = {}
        self.wake_key = f"{channel.prefix}wake:{uuid.uuid4().hex}"
        self.broken_since: float | None = None
        self.publish_failing = False
        self.published_at = 0.0  # (event loop time)
        self.serving = False  # started with the server: listens for stops until it closes
        self.tasks: set[asyncio.Task] = set()

    def spawn(self, coroutine) -> asyncio.Task:
        """A task of the channel's own, in a fresh context: it outlives the request that
        started it (a mirror's first viewer), so it must not run in that request's thread."""
        task = asyncio.get_running_loop().create_task(coroutine, context=contextvars.Context())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task


class RedisChannel:
    """Live replies shared between processes through Redis Streams (module docstring).

    Mirrors are fed by one reader per process (one XREAD BLOCK over all its mirrored streams)
    rather than one per reply: a process following 200 replies of another one then makes one
    round trip per batch of publishes, not 200, on one connection instead of 200, which keeps
    the cost per reply close to the single-process one. A new mirror reads its stream so far
    with XRANGE and wakes the reader (an entry on the process's own wake stream, read with the
    rest), so it is followed at once."""

    def __init__(
        self,
        url: str,
        prefix: str = "chat:",
        registry: Registry | None = None,
        maxlen: int = STREAM_MAXLEN,
    ):
        self.url = url
        self.maxlen = maxlen
        self.prefix = prefix
        self.registry = registry or live_module.registry
        self.stop_channel = f"{prefix}stop"
        self._states: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopState] = (
            weakref.WeakKeyDictionary()
        )
        self._sync_client = None
        self._sync_lock = threading.Lock()

    def key(self, reply_id: uuid.UUID) -> str:
        return f"{self.prefix}reply:{reply_id}"

    def worker_key(self, worker: str) -> str:
        return f"{self.prefix}worker:{worker}"

    def worker_alive(self, worker: str) -> bool:
        """Whether `worker` beat within REPLY_STALE_AFTER (False when Redis cannot say: then
        the database's heartbeat alone decides, as without Redis)."""
        try:
            return bool(self._sync().exists(self.worker_key(worker)))
        except Exception as error:
            log.warning("live channel: cannot tell whether %s is alive: %s", worker, error)
            return False

    def _sync(self):
        """Redis's own sync client (thread-safe), for sync views' threads."""
        from redis import Redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        with self._sync_lock:
            if self._sync_client is None:
                self._sync_client = Redis.from_url(
                    self.url,
                    socket_connect_timeout=2,
                    socket_timeout=2,
                    retry=Retry(NoBackoff(), 1),
                )
            return self._sync_client

    async def _beat(self, state: "_LoopState") -> None:
        """While this process serves: its key, refreshed a few times per REPLY_STALE_AFTER."""
        key = self.worker_key(live_module.WORKER)
        ttl = max(1, int(settings.REPLY_STALE_AFTER))
        failing = False
        while True:
            try:
                await state.redis.set(key, "1", ex=ttl)
                failing = False
            except Exception as error:
                if not failing:
                    log.warning("live channel: cannot beat in Redis: %s", error)
                failing = True
            await asyncio.sleep(settings.REPLY_STALE_AFTER / 4)

    def _state(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._states.get(loop)
        if state is None:
            state = self._states[loop] = _LoopState(self)
        return state

    # -- lifecycle --

    async def start(self) -> None:
        """Connects early (a failure is logged: the channel retries when used) and listens
        for stops."""
        state = self._state()
        try:
            await state.redis.ping()
        except Exception as error:
            log.warning("live channel: Redis is unavailable at start-up: %s", error)
        state.serving = True
        self._ensure_listener(state)
        if state.beat is None:
            state.beat = state.spawn(self._beat(state))

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        state = self._states.pop(loop, None)
        if state is None:
            return
        tasks = [t for t in (state.publisher, state.listener, state.reader, *state.tasks) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await state.redis.delete(self.worker_key(live_module.WORKER))
        await state.redis.aclose()
        with self._sync_lock:
            if self._sync_client is not None:
                self._sync_client.close()
                self._sync_client = None

    # -- the generating side --

    def published(self, live: LiveReply) -> None:
        state = self._state()
        state.dirty[live.reply_id] = live
        if state.publisher is None:
            state.publisher = state.spawn(self._publish_loop(state))
        self._ensure_listener(state)

    async def ended(self, live: LiveReply) -> None:
        state = self._state()
        state.dirty.pop(live.reply_id, None)
        async with state.lock:
            fields = self._delta(state, live, always=True)
            fields["e"] = "1"
            key = self.key(live.reply_id)
            pipe = state.redis.pipeline(transaction=False)
            pipe.xadd(key, fields, maxlen=self.maxlen, approximate=True)
            pipe.expire(key, ENDED_TTL)
            await self._execute(state, pipe)
        state.sent.pop(live.reply_id, None)
        state.expires.pop(live.reply_id, None)
        state.entries.pop(live.reply_id, None)

    def _delta(self, state: _LoopState, live: LiveReply, always: bool = False) -> dict | None:
        """The entry for what `live` wrote since its last one (None if nothing). Reasoning and
        refusal offsets go only once there is some (absent means 0): a text-only entry is
        `o`, `t`, the fewest arguments to encode, which is most of the cost of publishing."""
        sent_text, sent_reasoning, sent_refusal, sent_citations, sent_tools = state.sent.get(
            live.reply_id, (0, 0, 0, 0, 0)
        )
        fields = {"o": str(sent_text)}
        grew = False
        for offset_key, key, value, sent in (
            ("o", "t", live.text, sent_text),
            ("ro", "r", live.reasoning, sent_reasoning),
            ("fo", "f", live.refusal, sent_refusal),
        ):
            if len(value) > sent:
                fields[offset_key], fields[key], grew = str(sent), value[sent:], True
            elif sent:
                fields[offset_key] = str(sent)
        if live.tools_version != sent_tools:
            # (A tool's state is small and changes a few times per reply: sent whole.)
            grew = True
            fields["a"] = "" if live.searching is None else "s" + live.searching
            if len(live.citations) > sent_citations:
                fields["co"] = str(sent_citations)
                fields["c"] = json.dumps(live.citations[sent_citations:], ensure_ascii=False)
        return fields if always or grew else None

    async def _publish_loop(self, state: _LoopState) -> None:
        """Publishes at once what comes after a quiet spell, then at most every interval while
        replies keep changing (what came meanwhile goes together); ends when none changed."""
        interval, loop = settings.LIVE_PUBLISH_INTERVAL, asyncio.get_running_loop()
        try:
            while state.dirty:
                every = RETRY_PUBLISH_EVERY if state.publish_failing else interval
                wait = state.published_at + every - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                async with state.lock:
                    state.published_at = loop.time()
                    await self._publish(state)
        finally:
            state.publisher = None

    async def _publish(self, state: _LoopState) -> None:
        """One pipeline: an entry for each reply that grew since its last one."""
        now = time.monotonic()
        pipe = state.redis.pipeline(transaction=False)
        batch = []
        for reply_id, live in list(state.dirty.items()):
            fields = self._delta(state, live)
            if fields is None:
                state.dirty.pop(reply_id)
                continue
            key = self.key(reply_id)
            count = state.entries[reply_id] = state.entries.get(reply_id, 0) + 1
            # Capped every TRIM_EVERY entries: the cap costs the encoding of three arguments.
            maxlen = self.maxlen if count % TRIM_EVERY == 0 else None
            pipe.xadd(key, fields, maxlen=maxlen, approximate=True)
            if now - state.expires.get(reply_id, 0.0) > LIVE_TTL / 10:
                pipe.expire(key, LIVE_TTL)
            lengths = _progress(live)
            batch.append((reply_id, live, lengths))
        if not batch or not await self._execute(state, pipe):
            return  # (a failure keeps them dirty: the next publish carries it all)
        for reply_id, live, lengths in batch:
            state.sent[reply_id] = lengths
            state.expires.setdefault(reply_id, now)
            if now - state.expires[reply_id] > LIVE_TTL / 10:
                state.expires[reply_id] = now
            if lengths == _progress(live):
                state.dirty.pop(reply_id, None)

    async def _execute(self, state: _LoopState, pipe) -> bool:
        try:
            await pipe.execute()
        except Exception as error:
            if not state.publish_failing:
                log.warning("live channel: publishing to Redis failed (will retry): %s", error)
            state.publish_failing = True
            return False
        if state.publish_failing:
            log.warning("live channel: publishing to Redis works again")
        state.publish_failing = False
        return True

    # -- stop --

    async def request_stop(self, reply_id: uuid.UUID) -> bool:
        if (live := self.registry.get(reply_id)) is not None:
            live.request_stop()
            return True
        try:
            await self._state().redis.publish(self.stop_channel, str(reply_id))
        except Exception as error:
            log.warning("live channel: could not publish a stop: %s", error)
        return False

    def request_stop_from_thread(self, reply_id: uuid.UUID) -> bool:
        """From a sync view's thread: Redis's own sync client (thread-safe) sends the stop."""
        if (live := self.registry.get(reply_id)) is not None:
            live.request_stop()
            return True
        try:
            self._sync().publish(self.stop_channel, str(reply_id))
        except Exception as error:
            log.warning("live channel: could not publish a stop: %s", error)
        return False

    def _ensure_listener(self, state: _LoopState) -> None:
        if state.listener is None:
            state.listener = state.spawn(self._listen(state))

    async def _listen(self, state: _LoopState) -> None:
        """Stops asked through other processes, for the replies generated here. Ends once no
        reply is generating here (unless started with the server)."""
        pubsub = state.redis.pubsub(ignore_subscribe_messages=True)
        failing = False
        try:
            while state.serving or self.registry.count():
                try:
                    if not pubsub.subscribed:
                        await pubsub.subscribe(self.stop_channel)
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
                    failing = False
                except Exception as error:
                    if not failing:
                        log.warning("live channel: cannot hear stops through Redis: %s", error)
                    failing = True
                    await asyncio.sleep(1)
                    continue
                if message and message.get("type") == "message":
                    with contextlib.suppress(ValueError):
                        live = self.registry.get(uuid.UUID(str(message["data"])))
                        if live is not None:
                            live.request_stop()
        finally:
            state.listener = None
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    # -- the watching side --

    @contextlib.asynccontextmanager
    async def watch(self, reply_id: uuid.UUID) -> AsyncIterator[LiveReply | None]:
        if (local := self.registry.get(reply_id)) is not None:
            yield local
            return
        state = self._state()
        mirror = state.mirrors.get(reply_id)
        if mirror is None:
            mirror = state.mirrors[reply_id] = _Mirror(reply_id)
            mirror.ready = state.spawn(self._open(state, mirror))
        mirror.refs += 1
        try:
            await asyncio.shield(mirror.ready)
            yield mirror.live
        finally:
            mirror.refs -= 1
            if mirror.refs == 0 and state.mirrors.get(reply_id) is mirror:
                del state.mirrors[reply_id]

    async def _open(self, state: _LoopState, mirror: _Mirror) -> None:
        """The mirror's start: the stream so far, and the database's text where it is ahead
        (all of it when the stream does not hold the reply from its beginning)."""
        from conversations.models import Reply

        entries = []
        try:
            entries = await state.redis.xrange(self.key(mirror.reply_id))
            state.broken_since = None
        except Exception as error:
            log.warning("live channel: cannot read reply %s from Redis: %s", mirror.reply_id, error)
            state.broken_since = state.broken_since or time.monotonic()
        if entries and _starts_at_zero(entries[0][1]):
            for entry_id, fields in entries:
                mirror.last_id = entry_id
                mirror.take(fields, state)
            # The owner may have stored a little more than it has published yet (its last
            # write can come between two publishes): a viewer whose page showed the stored
            # text must not see the reply shrink. Only a help: without it the stream goes on.
            try:
                stored = await database_work(_stored)(mirror.reply_id)
            except Exception as error:
                log.warning("live channel: could not read reply %s: %s", mirror.reply_id, error)
                stored = None
            if stored is not None:
                _take_stored(mirror.live, stored)
        else:
            stored = await _stored_for(mirror)
            if stored is None or stored["status"] not in Reply.GENERATING:
                mirror.live.finish()
            else:
                _take_stored(mirror.live, stored)
                for entry_id, fields in entries:
                    mirror.last_id = entry_id
                    mirror.take(fields, state)
        mirror.heard, mirror.opened = time.monotonic(), True
        if state.reader is None:
            state.reader = state.spawn(self._read(state))
        else:
            await self._wake(state)

    async def _wake(self, state: _LoopState) -> None:
        with contextlib.suppress(Exception):
            pipe = state.redis.pipeline(transaction=False)
            pipe.xadd(state.wake_key, {"w": "1"}, maxlen=1, approximate=False)
            pipe.expire(state.wake_key, 60)
            await pipe.execute()

    async def _read(self, state: _LoopState) -> None:
        """The process's one reader: every mirrored stream in one XREAD BLOCK."""
        try:
            while state.mirrors:
                following = {
                    self.key(m.reply_id): m
                    for m in state.mirrors.values()
                    if m.opened and not m.live.done
                }
                streams = {key: m.last_id for key, m in following.items()}
                streams[state.wake_key] = "$"
                try:
                    response = await state.redis.xread(streams, block=READ_BLOCK_MS)
                    if state.broken_since is not None:
                        log.warning("live channel: reading from Redis works again")
                    state.broken_since = None
                except Exception as error:
                    if state.broken_since is None:
                        log.warning("live channel: cannot read from Redis: %s", error)
                        state.broken_since = time.monotonic()
                    response = []
                    await asyncio.sleep(0.5)
                items = response.items() if isinstance(response, dict) else response or []
                for key, entries in items:
                    mirror = following.get(key)
                    if mirror is None:
                        continue
                    for entry_id, fields in entries:
                        mirror.last_id = entry_id
                        mirror.take(fields, state)
                await self._check_silent(state)
        finally:
            state.reader = None

    async def _check_silent(self, state: _LoopState) -> None:
        """The safety net: mirrors silent for MIRROR_SILENCE seconds are looked up in the
        database, all in one query."""
        now = time.monotonic()
        silent = [
            m
            for m in state.mirrors.values()
            if not m.live.done
            and now - m.heard >= MIRROR_SILENCE
            and now - m.checked >= MIRROR_SILENCE
        ]
        if not silent:
            return
        for mirror in silent:
            mirror.checked = now
        try:
            found = await database_work(_statuses)([m.reply_id for m in silent])
        except Exception:
            log.exception("live channel: could not look up silent replies")
            return
        broken = state.broken_since is not None and now - state.broken_since >= MIRROR_SILENCE
        for mirror in silent:
            status, text_length = found.get(mirror.reply_id, (None, 0))
            live = mirror.live
            if status is None:
                live.finish()
            elif status == "ended":
                live.finish()
            elif broken or text_length > len(live.text):
                live.broken = True
                live.finish()


def _statuses(reply_ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[str, int]]:
    """For each reply: "ended" or "generating" (a generating one whose process went silent
    past REPLY_STALE_AFTER is ended as interrupted here), and the length of its stored text."""
    from conversations.models import Reply
    from conversations.recovery import interrupt_if_stale

    close_old_connections()
    rows = Reply.objects.filter(pk__in=reply_ids).annotate(text_length=Length("text"))
    found = {}
    for reply in rows.select_related("conversation"):
        if reply.is_generating and not interrupt_if_stale(reply):
            found[reply.pk] = ("generating", reply.text_length)
        else:
            found[reply.pk] = ("ended", reply.text_length)
    return found


# --- The process's channel -----------------------------------------------------------------

_channel: MemoryChannel | RedisChannel | None = None
_channel_url: str | None = None
_lock = threading.Lock()


def get() -> MemoryChannel | RedisChannel:
    """This process's channel, made when first asked for (no connection until it is used)
    from REDIS_URL."""
    global _channel, _channel_url
    url = settings.REDIS_URL or ""
    with _lock:
        if _channel is None or url != _channel_url:
            _channel = RedisChannel(url) if url else MemoryChannel()
            _channel_url = url
        return _channel
