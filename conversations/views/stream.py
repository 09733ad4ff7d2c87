"""The live reply as server-sent events. A viewer gets the text so far, then what is new, and
finally the finished reply, which replaces the live one and ends the stream. The text is always
shown rendered (streaming_markdown.py): the first message sets the reply's body to its settled
blocks followed by the live tail (the block being written); each later one adds the blocks
settled since before the tail and replaces the tail. The reply's
generation never depends on this connection: closing it only stops the watching. A stream lasts
no longer than its session: it ends, with a sentence where it was shown, a few seconds after the
session ends (logout, expiry) or the user is deactivated, and when its user opens more than
MAX_STREAMS_PER_USER streams (their oldest closes)."""

import asyncio
import uuid
from contextlib import aclosing
from importlib import import_module

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth import get_user
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, StreamingHttpResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.html import escape, format_html
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_GET

from conversations import citations, live_channel, open_streams, sse
from conversations import live as live_registry
from conversations.live import LiveReply
from conversations.models import Reply
from conversations.open_streams import OpenStream
from conversations.recovery import interrupt_if_stale
from conversations.streaming_markdown import SMALL_OPEN_BLOCK, StreamingMarkdown, tail_element
from conversations.views.lookups import get_reply_for_user

# The shortest gap between two messages to one viewer: deltas arriving faster are coalesced
# (about seven updates a second reads as smooth, and each message costs the server CPU).
MIN_GAP = 0.15
# How often a stream looks again for a reply stored as generating that nothing generates yet.
WAIT_FOR_START = 0.5
# The longest a stream waits, while its reply is silent, before it looks again at the cap and
# whether its session is due a check. A tick is an empty chunk, never sent.
TICK = 1.0
_TICK = b""

SIGNED_OUT = gettext_noop("You are no longer signed in, so this reply stopped updating here.")
CHANNEL_BROKEN = gettext_noop(
    "This reply stopped updating here because of a connection problem on the server. "
    "Reload the page to see it."
)
TOO_MANY_STREAMS = gettext_noop(
    "This reply stopped updating here because you are following replies in too many tabs. "
    "Reload the page to follow it again."
)


@login_required
@require_GET
def reply_stream(request, reply_id: uuid.UUID):
    """A sync view that returns an async stream. The login check runs with the middleware in one
    trip to the worker thread (chatsite/asgi.py). A reply being written in this process knows
    its owner, so it needs no lookup; any other goes through the owner-scoped one. The events
    are sent from the event loop, following what the live channel gives to watch."""
    stream = OpenStream(request.user.pk, request.session.session_key)
    current = live_registry.get(reply_id)
    if current is not None and current.user_id == request.user.pk:
        generating = True
    else:
        generating = get_reply_for_user(request.user, reply_id).is_generating
    response = StreamingHttpResponse(
        _guarded(request, stream, reply_id, generating), content_type="text/event-stream"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def _guarded(request, stream: OpenStream, reply_id, generating: bool):
    """The events, then the finished reply; unless a newer stream of the same user takes this
    one's place, or its session no longer signs its user in, checked every
    STREAM_SESSION_CHECK_INTERVAL seconds in the session store and the database (a logout or a
    deactivation in another process counts too). Either ends it with a sentence instead, as
    does a live channel that broke while the reply went on."""
    loop = asyncio.get_running_loop()
    open_streams.register(stream, settings.MAX_STREAMS_PER_USER)
    checked = loop.time()
    followed: list[LiveReply] = []
    try:
        language = getattr(request, "LANGUAGE_CODE", None)
        events = _followed(reply_id, stream, followed, language) if generating else _nothing()
        async with aclosing(events):
            async for chunk in events:
                if stream.closed_by_cap:
                    yield _ending_message(request, reply_id, TOO_MANY_STREAMS)
                    return
                if loop.time() - checked >= settings.STREAM_SESSION_CHECK_INTERVAL:
                    if not await sync_to_async(_still_signed_in)(stream):
                        # Stop would only lead to the login page now: the controls go too.
                        yield _ending_message(request, reply_id, SIGNED_OUT, "controls")
                        return
                    checked = loop.time()
                if chunk:
                    yield chunk
        live = followed[-1] if followed else None
        if live is not None and live.broken:
            yield _ending_message(request, reply_id, CHANNEL_BROKEN)
        elif live is not None and live.ended is not None:
            # The reply as its task stored it: rendered with no database query, on the loop.
            yield _final_message(request, live.ended)
        else:
            yield await sync_to_async(_final_message_from_db)(request, reply_id)
    finally:
        open_streams.unregister(stream)


async def _nothing():
    return
    yield


async def _followed(reply_id, stream: OpenStream, followed: list, language: str | None = None):
    """The reply as the live channel gives it to watch (appended to `followed`, for the final
    message). A reply stored as generating that nothing is known to generate yet (one about to
    start here) is waited for, a tick at a time, until it starts or proves stale."""
    channel = live_channel.get()
    while True:
        async with channel.watch(reply_id) as live:
            if live is not None:
                followed.append(live)
                async with aclosing(_live_events(live, stream, language)) as events:
                    async for chunk in events:
                        yield chunk
                return
        reply = await Reply.objects.select_related("conversation").aget(pk=reply_id)
        if not reply.is_generating or await sync_to_async(interrupt_if_stale)(reply):
            return
        yield _TICK
        await asyncio.sleep(WAIT_FOR_START)


def _still_signed_in(stream: OpenStream) -> bool:
    """Whether the stream's session still signs its user in, as Django's login check sees it:
    not logged out, expired or flushed, the user active and their password unchanged."""
    request = HttpRequest()
    request.session = import_module(settings.SESSION_ENGINE).SessionStore(stream.session_key)
    return get_user(request).pk == stream.user_id


def _ending_message(request, reply_id, sentence: str, *also_removed: str) -> bytes:
    """The sentence takes the place of the element that holds the stream's connection, so the
    page has nothing left to reconnect (htmx's SSE extension reconnects while it is there)."""
    with translation.override(getattr(request, "LANGUAGE_CODE", None)):
        sentence = translation.gettext(sentence)
    note = format_html('<p class="reply-note" role="status">{}</p>', sentence)
    removed = "".join(sse.partial(f"reply-{reply_id}-{part}", "") for part in also_removed)
    return sse.message(sse.partial(f"reply-{reply_id}-live", note, "outerHTML") + removed)


def _final_message_from_db(request, reply_id) -> bytes:
    return _final_message(request, Reply.objects.select_related("conversation").get(pk=reply_id))


def _final_message(request, reply: Reply) -> bytes:
    html = render_to_string("conversations/chat.html#reply", {"reply": reply}, request=request)
    # The reply has ended, so a "still being written" notice under the box is out of date.
    clear_notice = sse.partial("composer-error", "")
    return sse.message(sse.partial(f"reply-{reply.pk}", html, "outerHTML") + clear_notice)


def _snapshot(reply_id, markdown: StreamingMarkdown, reasoning: str) -> tuple[bytes, str]:
    """The message that shows the reply so far, and the tail's HTML it sent."""
    tail = markdown.tail_html()
    body = markdown.settled_html() + tail_element(reply_id, tail)
    parts = [sse.partial(f"reply-{reply_id}-body", body)]
    if reasoning:
        parts.append(sse.partial(f"reply-{reply_id}-reasoning", escape(reasoning)))
    return sse.message("".join(parts)), tail


def _changes(reply_id, markdown: StreamingMarkdown, settled: int, tail: str) -> tuple[list, str]:
    """The partials that bring a viewer who has `settled` blocks and `tail` up to date (the
    blocks settled since, before the tail; the tail if it changed), and the new tail."""
    parts, new = [], markdown.settled[settled:]
    tail_id = f"reply-{reply_id}-tail"
    if new:
        parts.append(sse.partial(tail_id, "".join(new), "beforebegin"))
    html = markdown.tail_html()
    if new or html != tail:
        parts.append(sse.partial(tail_id, html))
    return parts, html


async def _live_events(live: LiveReply, stream: OpenStream, language: str | None = None):
    """From the reply's LiveReply: the blocks as they settle and the open block rendered again,
    at most every MIN_GAP, or less often when the process's budget is shared with many viewers
    (the stream's share: open_streams.share). An open block too long to render cheaply (a long
    code block) is rendered again at most every REPLY_RENDER_INTERVAL (or the share of
    STREAM_RENDERS_PER_SECOND)."""
    open_streams.start_live(stream)
    try:
        async for message in _live_messages(live, stream, language):
            yield message
    finally:
        open_streams.stop_live(stream)


def _tool_parts(live: LiveReply, language: str | None) -> list[str]:
    """The partials that show what the reply's hosted tools are doing: the web search under
    way, with its query, and the sources cited so far."""
    with translation.override(language):
        activity = ""
        if live.searching is not None:
            query = live.searching and format_html(
                ' <q class="search-query">{}</q>', live.searching
            )
            activity = format_html(
                '<span class="tool-spinner" aria-hidden="true"></span>{}{}',
                translation.gettext("Searching the web…"),
                query,
            )
        found = citations.sources(live.citations)[0]
        sources = render_to_string(
            "conversations/_reply_sources.html", {"reply_id": live.reply_id, "sources": found}
        )
    return [
        sse.partial(f"reply-{live.reply_id}-activity", activity),
        sse.partial(f"reply-{live.reply_id}-sources", sources),
    ]


async def _live_messages(live: LiveReply, stream: OpenStream, language: str | None = None):
    loop = asyncio.get_running_loop()
    version, settled, tail, reasoning_sent, idle = -1, -1, "", 0, 0.0
    tools_sent = 0
    last_render, render_every, pending = 0.0, 0.0, False
    while True:
        wait = min(TICK, settings.STREAM_KEEPALIVE_INTERVAL - idle)
        if pending:  # a long open block was left for later: it is due then
            wait = min(wait, max(0.0, last_render + render_every - loop.time()))
        if not await live.wait_for_change(version, wait) and not pending:
            idle += wait
            if idle >= settings.STREAM_KEEPALIVE_INTERVAL:
                idle = 0.0
                yield sse.KEEPALIVE
            else:
                yield _TICK
            continue
        if live.done:
            return
        version, now, idle = live.version, loop.time(), 0.0
        share = open_streams.share(stream.user_id)
        render_every = max(
            settings.REPLY_RENDER_INTERVAL, 1 / (share * settings.STREAM_RENDERS_PER_SECOND)
        )
        markdown = live.markdown()
        if settled < 0:
            message, tail = _snapshot(live.reply_id, markdown, live.reasoning)
            settled, reasoning_sent, last_render = len(markdown.settled), len(live.reasoning), now
            if live.tools_version:
                tools_sent = live.tools_version
                message += sse.message("".join(_tool_parts(live, language)))
            yield message
        else:
            parts = []
            pending = (
                markdown.open_size > SMALL_OPEN_BLOCK
                and len(markdown.settled) == settled
                and now - last_render < render_every
            )
            if not pending:
                parts, tail = _changes(live.reply_id, markdown, settled, tail)
                settled, last_render = len(markdown.settled), now
            if len(live.reasoning) > reasoning_sent:
                reasoning_sent = len(live.reasoning)
                parts.append(
                    sse.partial(f"reply-{live.reply_id}-reasoning", escape(live.reasoning))
                )
            if live.tools_version != tools_sent:
                tools_sent = live.tools_version
                parts.extend(_tool_parts(live, language))
            if parts:
                yield sse.message("".join(parts))
        if markdown.seen:
            # Coalesce what arrives next; but the first text goes out as soon as it comes.
            await asyncio.sleep(max(MIN_GAP, 1 / (share * settings.STREAM_MESSAGES_PER_SECOND)))
