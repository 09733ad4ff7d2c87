"""Sending a prepared response over raw ASGI: waits that stop() can cut short, re-chunking,
and connections dropped mid-body."""

import asyncio
import json
import logging
import random
from dataclasses import dataclass, field

JSON_HEADERS = [(b"content-type", b"application/json")]
SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
# Pause after each piece that splits a UTF-8 character, so the client reads them apart.
SPLIT_UTF8_PAUSE = 0.001
# Waits shorter than this are plain sleeps (cheap); longer ones can be interrupted at once.
_INTERRUPTIBLE_FROM = 0.5
# A stream that fell behind its schedule may send this many seconds of tokens in a burst.
_MAX_CATCH_UP = 0.1


@dataclass(frozen=True)
class Wait:
    """Silence in the middle of a response; `droppable` waits are the per-token delays."""

    seconds: float
    droppable: bool = True


@dataclass
class Plan:
    """Everything one response sends, prepared before the first byte goes out."""

    status: int
    headers: list[tuple[bytes, bytes]]
    steps: list[bytes | Wait] = field(default_factory=list)
    head_wait: float = 0.0  # silence before the status line
    abort: bool = False  # drop the connection instead of ending the body
    split_utf8: bool = False
    rechunk_seed: int | None = None
    chunk_delay: float = 0.0
    log_entry: dict | None = None  # the request's entry in the fake's log


def json_plan(status: int, body: object, headers: list | None = None) -> Plan:
    data = json.dumps(body, ensure_ascii=False).encode()
    return Plan(status, JSON_HEADERS + (headers or []), [data])


class AbortConnection(Exception):
    """Raised to make uvicorn close the socket mid-body (no final chunk): a relay crash."""


class _QuietFake(logging.Filter):
    """Hides our deliberate aborts, and the info chatter of servers run in a FakeUpstream thread,
    without changing the level of uvicorn's logger (the product's own server shares it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], AbortConnection):
            return False
        in_thread = (record.threadName or "").startswith(THREAD_NAME_PREFIX)
        return record.levelno >= logging.WARNING or not in_thread


THREAD_NAME_PREFIX = "fake-upstream:"
_QUIET_FILTER = _QuietFake()
logging.getLogger("uvicorn.error").addFilter(_QUIET_FILTER)  # idempotent: same object


class Interrupt:
    """Set when the client goes away or the server stops: ends waits and streams early."""

    __slots__ = ("event",)

    def __init__(self) -> None:
        self.event = asyncio.Event()

    def set(self) -> None:
        self.event.set()

    def is_set(self) -> bool:
        return self.event.is_set()

    async def pause(self, seconds: float) -> bool:
        """Wait; False when interrupted (the caller should stop sending)."""
        if seconds < _INTERRUPTIBLE_FROM:
            if seconds > 0:
                await asyncio.sleep(seconds)
            return not self.event.is_set()
        try:
            async with asyncio.timeout(seconds):
                await self.event.wait()
        except TimeoutError:
            return True
        return False


async def deliver(send, plan: Plan, interrupt: Interrupt) -> None:
    """Send `plan`; stop early (ending the body cleanly) when interrupted. The request's log
    entry, if any, counts the body bytes handed to the server so far (`body_bytes`): how much
    a client took before it left."""
    if plan.head_wait and not await interrupt.pause(plan.head_wait):
        plan = json_plan(503, {"error": {"message": "The fake upstream is stopping."}})
    await send({"type": "http.response.start", "status": plan.status, "headers": plan.headers})
    steps = _chunked_steps(plan)
    sent = plan.log_entry if plan.log_entry is not None else {}
    completed = await _send_steps(send, steps, plan.chunk_delay, interrupt, sent)
    if completed and plan.abort:
        raise AbortConnection
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _send_steps(send, steps, chunk_delay: float, interrupt: Interrupt, sent: dict) -> bool:
    """Send the frames; waits are kept against a schedule, so small sleep overshoots do not
    add up over hundreds of tokens."""
    loop = asyncio.get_running_loop()
    due = loop.time()
    sent["body_bytes"] = 0
    for step in steps:
        if isinstance(step, Wait):
            due = max(due, loop.time() - max(step.seconds, _MAX_CATCH_UP)) + step.seconds
            if not await interrupt.pause(due - loop.time()):
                return False
            continue
        await send({"type": "http.response.body", "body": step, "more_body": True})
        sent["body_bytes"] += len(step)
        if chunk_delay and not await interrupt.pause(chunk_delay):
            return False
        if interrupt.is_set():
            return False
    return True


def _chunked_steps(plan: Plan) -> list[bytes | Wait]:
    if plan.rechunk_seed is not None:
        return _rechunk(plan.steps, random.Random(plan.rechunk_seed))
    if plan.split_utf8:
        return [piece for step in plan.steps for piece in _split_utf8(step)]
    return plan.steps


def _rechunk(steps: list[bytes | Wait], rng: random.Random) -> list[bytes | Wait]:
    """Drop the per-token waits, then cut each run of bytes into random 1..64 byte chunks."""
    result: list[bytes | Wait] = []
    run = bytearray()
    for step in steps:
        if isinstance(step, Wait) and step.droppable:
            continue
        if isinstance(step, Wait):
            result.extend(_random_chunks(bytes(run), rng))
            result.append(step)
            run.clear()
        else:
            run += step
    result.extend(_random_chunks(bytes(run), rng))
    return result


def _random_chunks(data: bytes, rng: random.Random) -> list[bytes]:
    chunks = []
    start = 0
    while start < len(data):
        size = rng.randint(1, 64)
        chunks.append(data[start : start + size])
        start += size
    return chunks


def _split_utf8(step: bytes | Wait) -> list[bytes | Wait]:
    """Cut a frame inside its first multi-byte character, with a short pause in between."""
    if isinstance(step, Wait):
        return [step]
    for index, byte in enumerate(step):
        if byte >= 0xC0:  # the lead byte of a multi-byte character
            return [step[: index + 1], Wait(SPLIT_UTF8_PAUSE, False), step[index + 1 :]]
    return [step]
