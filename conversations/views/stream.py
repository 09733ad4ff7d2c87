"""The live reply as server-sent events. A viewer gets the text so far, then what is new, and
finally the finished reply, which replaces the live one and ends the stream. The reply's
generation never depends on this connection: closing it only stops the watching."""

import asyncio
import uuid

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import StreamingHttpResponse
from django.template.loader import render_to_string
from django.utils.html import escape
from django.views.decorators.http import require_GET

from conversations import live as live_registry
from conversations import sse, stream_keys
from conversations.live import LiveReply
from conversations.models import Reply, User
from conversations.recovery import interrupt_if_stale
from conversations.rendering import render_markdown
from conversations.views.lookups import get_reply_for_user

# The shortest gap between two messages to one viewer: deltas arriving faster are coalesced
# (about seven updates a second reads as smooth, and each message costs the server CPU).
MIN_GAP = 0.15
_viewers = 0  # live viewers in this process (settings.STREAM_MESSAGES_PER_SECOND says why)
DB_POLL_INTERVAL = 1.0
ACTIVE_CHECK_INTERVAL = 5.0


def reply_stream(request, reply_id: uuid.UUID):
    """A sync view that returns an async stream. A reply being written here, asked for with a
    fresh stream key (stream_keys.py), opens with no database query; otherwise the login check
    and the lookup run with the middleware in one trip to the worker thread (chatsite/asgi.py).
    The events are sent from the event loop."""
    current = live_registry.get(reply_id)
    if current is not None and stream_keys.opens(request, current):
        return _event_stream(request, current.user_id, reply_id, _live_events(current), current)
    return _checked_stream(request, reply_id)


@login_required
@require_GET
def _checked_stream(request, reply_id: uuid.UUID):
    reply = get_reply_for_user(request.user, reply_id)
    current = live_registry.get(reply.id)
    events = _live_events(current) if current else _stored_events(reply)
    return _event_stream(request, request.user.pk, reply.pk, events, current)


def _event_stream(request, user_id, reply_id, events, live: LiveReply | None):
    response = StreamingHttpResponse(
        _while_active(user_id, _with_final(request, reply_id, events, live)),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def _while_active(user_id, events):
    """Ends the stream soon after its user is deactivated (checked every few seconds)."""
    loop = asyncio.get_running_loop()
    checked = loop.time()
    async for chunk in events:
        yield chunk
        if loop.time() - checked >= ACTIVE_CHECK_INTERVAL:
            checked = loop.time()
            if not await User.objects.filter(pk=user_id, is_active=True).aexists():
                return


async def _with_final(request, reply_id, events, live: LiveReply | None):
    async for chunk in events:
        yield chunk
    if live is not None and live.ended is not None:
        # The reply as its task stored it: rendered with no database query, on the loop.
        yield _final_message(request, live.ended)
    else:
        yield await sync_to_async(_final_message_from_db)(request, reply_id)


def _final_message_from_db(request, reply_id) -> bytes:
    return _final_message(request, Reply.objects.select_related("conversation").get(pk=reply_id))


def _final_message(request, reply: Reply) -> bytes:
    html = render_to_string("conversations/chat.html#reply", {"reply": reply}, request=request)
    # The reply has ended, so a "still being written" notice under the box is out of date.
    clear_notice = sse.partial("composer-error", "")
    return sse.message(sse.partial(f"reply-{reply.pk}", html, "outerHTML") + clear_notice)


def _snapshot(reply_id, html: str, reasoning: str) -> bytes:
    parts = [sse.partial(f"reply-{reply_id}-body", html), sse.partial(f"reply-{reply_id}-tail", "")]
    if reasoning:
        parts.append(sse.partial(f"reply-{reply_id}-reasoning", escape(reasoning)))
    return sse.message("".join(parts))


async def _live_events(live: LiveReply):
    """From the reply's LiveReply: a rendered snapshot at most every REPLY_RENDER_INTERVAL
    (longer with many viewers), and between snapshots the new raw text appended to the tail."""
    global _viewers
    _viewers += 1
    try:
        async for message in _live_messages(live):
            yield message
    finally:
        _viewers -= 1


async def _live_messages(live: LiveReply):
    loop = asyncio.get_running_loop()
    version, sent, reasoning_sent, last_render = -1, -1, 0, 0.0
    while True:
        if not await live.wait_for_change(version, settings.STREAM_KEEPALIVE_INTERVAL):
            yield sse.KEEPALIVE
            continue
        if live.done:
            return
        version, now = live.version, loop.time()
        render_every = max(
            settings.REPLY_RENDER_INTERVAL, _viewers / settings.STREAM_RENDERS_PER_SECOND
        )
        if sent < 0 or now - last_render >= render_every:
            sent, html = live.rendered_text()
            reasoning_sent, last_render = len(live.reasoning), now
            yield _snapshot(live.reply_id, html, live.reasoning)
        else:
            parts = []
            if len(live.text) > sent:
                tail = escape(live.text[sent:])
                parts.append(sse.partial(f"reply-{live.reply_id}-tail", tail, "beforeend"))
                sent = len(live.text)
            if len(live.reasoning) > reasoning_sent:
                reasoning_sent = len(live.reasoning)
                parts.append(
                    sse.partial(f"reply-{live.reply_id}-reasoning", escape(live.reasoning))
                )
            if parts:
                yield sse.message("".join(parts))
        if sent:
            # Coalesce what arrives next; but the first text goes out as soon as it comes.
            await asyncio.sleep(max(MIN_GAP, _viewers / settings.STREAM_MESSAGES_PER_SECOND))


async def _stored_events(reply: Reply):
    """For a reply this process is not generating (another worker's, or one already ended):
    follow it in the database until it ends."""
    shown, silent = None, 0.0
    while reply.is_generating:
        if await sync_to_async(interrupt_if_stale)(reply):
            return
        if reply.text != shown:
            shown = reply.text
            yield _snapshot(reply.pk, render_markdown(reply.text), reply.reasoning_summary)
            silent = 0.0
        elif silent >= settings.STREAM_KEEPALIVE_INTERVAL:
            yield sse.KEEPALIVE
            silent = 0.0
        await asyncio.sleep(DB_POLL_INTERVAL)
        silent += DB_POLL_INTERVAL
        current = live_registry.get(reply.pk)
        if current is not None:
            # The reply started generating here after all (a queued reply): follow it live.
            async for chunk in _live_events(current):
                yield chunk
            return
        reply = await Reply.objects.select_related("conversation").aget(pk=reply.pk)
