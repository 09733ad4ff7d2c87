"""Generates a reply on the server, independently of any browser: an asyncio task per reply
reads the relay's stream into a LiveReply, writes it to the database in batches, retries
before the first token only, and always ends with the reply stored with its true status."""

import asyncio
import base64
import contextvars
import logging
import random
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from conversations import live as live_registry
from conversations import live_channel, relay_status, upstream
from conversations.attachments import parts
from conversations.failures import MESSAGES, describe, refused_tool, status_for
from conversations.live import WORKER, LiveReply
from conversations.models import AIModel, Attachment, Conversation, OutputLimit, Reply
from conversations.tokens import estimate_tokens
from conversations.upstream import Finished, UpstreamError
from conversations.work_threads import database_work

log = logging.getLogger(__name__)
# A strong reference to every running task, so none is garbage-collected mid-reply.
_tasks: set[asyncio.Task] = set()


@dataclass
class Outcome:
    status: str
    response: dict[str, Any] = field(default_factory=dict)
    error_code: str = ""
    error_message: str = ""
    error_detail: str = ""
    incomplete_reason: str = ""


def prepare(reply: Reply) -> dict[str, Any]:
    """Marks a reply just stored as queued (in the caller's transaction, with its reservation)
    in progress and returns the request to send ({} if it is not queued any more). Runs in the
    request's thread, before `start`, so the reply task needs no database round trip before
    it calls the relay."""
    payload = build_payload(reply, reply.conversation)
    reply.output_limit = _cap_output(payload, reply.reservation_in_hand)
    now = timezone.now()
    started = Reply.objects.filter(pk=reply.pk, status=Reply.Status.QUEUED).update(
        status=Reply.Status.IN_PROGRESS,
        started_at=now,
        heartbeat_at=now,
        worker=WORKER,
        request_params=_recorded_params(payload),
        previous_response_id=payload.get("previous_response_id", ""),
        sent_full_history=reply.parent_id is not None and "previous_response_id" not in payload,
        output_limit=reply.output_limit,
    )
    return payload if started else {}


def _cap_output(payload: dict[str, Any], reservation) -> str:
    """Under a quota the relay may write no more than the reservation holds: caps the request's
    max_output_tokens, and says which limit applies (an OutputLimit): the conversation's own
    when it is the smaller (or the same), else the quota's; with neither, the model's."""
    own = payload.get("max_output_tokens")
    if reservation is not None and reservation.max_output_tokens is not None:
        cap = reservation.max_output_tokens
        if own is None or cap < own:
            payload["max_output_tokens"] = cap
            return OutputLimit.QUOTA
    return OutputLimit.MODEL if own is None else OutputLimit.CONVERSATION


def start(reply: Reply, payload: dict[str, Any]) -> LiveReply:
    """Starts generating a prepared reply on the running event loop. The task runs in a fresh
    context so it owes nothing to the request that started it."""
    live = LiveReply(reply.pk, reply.conversation_id, reply.user_id)
    live.reservation = reply.reservation_in_hand  # (billing then needs no read)
    live.output_limit = reply.output_limit  # (for the note of a reply cut short by it)
    live_registry.register(live)
    loop = asyncio.get_running_loop()
    live.task = loop.create_task(_generate(live, payload), context=contextvars.Context())
    _tasks.add(live.task)
    live.task.add_done_callback(_tasks.discard)
    _ensure_flusher(loop)
    live_channel.get().published(live)  # (with Redis: this process now hears stops)
    return live


# The server's event loop, set by its ASGI application for each request (chatsite/asgi.py); a sync
# view sees it in its worker thread, since sync_to_async runs the view in a copy of the context.
server_loop: contextvars.ContextVar[asyncio.AbstractEventLoop | None] = contextvars.ContextVar(
    "server_loop", default=None
)


def start_from_thread(reply: Reply, payload: dict[str, Any]) -> None:
    """`start`, from sync code in a worker thread of the server's event loop (a sync view).
    The start is queued on the loop without waiting for it: sends queue on that worker thread
    (chatsite/asgi.py), which would otherwise sit idle until the busy loop got round to it.
    The loop runs what is queued in order, so the task exists before the view's response,
    queued after it, is sent. Without the server's loop (another handler, e.g. a test's
    client), it waits for the task to exist."""
    loop = server_loop.get()
    if loop is not None and loop.is_running():
        try:
            loop.call_soon_threadsafe(_start_queued, reply, payload)
            return
        except RuntimeError:  # the loop closed meanwhile (the server is stopping)
            pass
    async_to_sync(_start_on_loop)(reply, payload)


def _start_queued(reply: Reply, payload: dict[str, Any]) -> None:
    try:
        start(reply, payload)
    except Exception:
        # The reply stays in progress without a task; the stale sweep marks it interrupted.
        log.exception("reply %s: could not start generating", reply.pk)


async def _start_on_loop(reply: Reply, payload: dict[str, Any]) -> None:
    start(reply, payload)


async def _generate(live: LiveReply, payload: dict[str, Any]) -> None:
    outcome = Outcome(
        Reply.Status.FAILED, error_code="internal", error_message=MESSAGES["internal"]
    )
    try:
        outcome = await _call_upstream(live, payload)
    except asyncio.CancelledError:
        if live.stop_requested:
            outcome = Outcome(Reply.Status.CANCELLED)
        else:
            outcome = Outcome(
                Reply.Status.INTERRUPTED,
                error_code="server_restart",
                error_message=MESSAGES["server_restart"],
            )
    except Exception:
        log.exception("reply %s: unexpected error while generating", live.reply_id)
    finally:
        pictures = await _read_images(live) if live.images else []
        try:
            await database_work(_finish)(live, payload, outcome, pictures)
        except Exception:
            # The reply keeps its last batched text; the stale sweep will mark it interrupted.
            log.exception("reply %s: could not store the end of the reply", live.reply_id)
        live.finish()
        live_registry.unregister(live)
        try:
            # Viewers in other processes: the end, after the stored reply they will render.
            await live_channel.get().ended(live)
        except Exception:
            log.exception("reply %s: could not publish the end of the reply", live.reply_id)


def build_payload(
    reply: Reply, conversation: Conversation, full_history: bool = False
) -> dict[str, Any]:
    """The request for one turn. Instructions go every turn (previous_response_id does not
    carry them). Context is the turn it follows: that reply's id when it has one, else the
    whole path that leads to it."""
    files = parts.uploaded_by_reply([reply.pk]).get(reply.pk, [])
    content = parts.user_content(reply.user_input, files)
    payload: dict[str, Any] = {
        "model": reply.model,
        "input": content if isinstance(content, str) else [{"role": "user", "content": content}],
    }
    if conversation.instructions:
        payload["instructions"] = conversation.instructions
    for name in ("temperature", "top_p", "max_output_tokens"):
        value = getattr(conversation, name)
        if value is not None:
            payload[name] = value
    reasoning = {}
    if conversation.reasoning_effort:
        reasoning["effort"] = conversation.reasoning_effort
    if conversation.reasoning_summary:
        reasoning["summary"] = "auto"
    if reasoning:
        payload["reasoning"] = reasoning
    payload["truncation"] = conversation.truncation
    payload.update(hosted_tools(reply.model, conversation.web_search))
    previous = reply.parent
    if previous is None:
        return payload
    chainable = previous.upstream_id and previous.status in (
        Reply.Status.COMPLETED,
        Reply.Status.INCOMPLETE,
    )
    if chainable and not full_history:
        payload["previous_response_id"] = previous.upstream_id
    else:
        payload["input"] = history_input(conversation, reply)
    return payload


def hosted_tools(model_id: str, web_search: str) -> dict[str, Any]:
    """`tools` and `tool_choice` for a turn: only the hosted tools the model's catalogue entry
    allows (the site runs no code for a model, so function tools are never sent, whatever a
    conversation stores). The conversation's web search setting is the tool choice: Automatic
    "auto", Always the tool by name, Off "none" (the model uses no tool on that turn, image
    generation included). Nothing when the model has no hosted tool."""
    model = AIModel.for_tools(model_id)
    tools = model.hosted_tools() if model is not None else []
    if not tools:
        return {}
    searching = any(tool["type"] == "web_search" for tool in tools)
    if searching and web_search == Conversation.WebSearch.OFF:
        return {"tools": tools, "tool_choice": "none"}
    if searching and web_search == Conversation.WebSearch.ALWAYS:
        return {"tools": tools, "tool_choice": {"type": "web_search"}}
    return {"tools": tools, "tool_choice": "auto"}


def history_input(conversation: Conversation, reply: Reply) -> list[dict[str, Any]]:
    """The turns that lead to `reply` (its own branch, whatever is shown now) as input
    messages, then the new message; each user message with its files again."""
    turns = {
        pk: (parent_id, user_input, text)
        for pk, parent_id, user_input, text in conversation.replies.values_list(
            "pk", "parent_id", "user_input", "text"
        )
    }
    path = [reply.pk]
    turn_id = reply.parent_id
    while turn_id is not None:
        path.append(turn_id)
        turn_id = turns[turn_id][0]
    files = parts.uploaded_by_reply(path)
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": parts.user_content(reply.user_input, files.get(reply.pk, []))}
    ]
    for turn_id in path[1:]:
        _, user_input, text = turns[turn_id]
        if text:
            messages.append({"role": "assistant", "content": text})
        content = parts.user_content(user_input, files.get(turn_id, []))
        messages.append({"role": "user", "content": content})
    return messages[::-1]


def _recorded_params(payload: dict[str, Any]) -> dict[str, Any]:
    """The parameters sent, without the input (stored on the reply already)."""
    params = {key: value for key, value in payload.items() if key != "input"}
    params["stream"] = True
    params["input_messages"] = len(payload["input"]) if isinstance(payload["input"], list) else 1
    return params


async def _call_upstream(live: LiveReply, payload: dict[str, Any]) -> Outcome:
    attempt, waited, resent_history = 0, 0.0, False
    while True:
        attempt += 1
        live.attempts = attempt
        try:
            return await _read_stream(live, payload)
        except UpstreamError as error:
            log.warning("reply %s: upstream error (attempt %d): %s", live.reply_id, attempt, error)
            if live.got_output:
                return _failure(error, payload, got_output=True)
            if error.previous_response_not_found and not resent_history:
                resent_history = True
                payload = await database_work(_full_history_payload)(
                    live.reply_id, payload.get("max_output_tokens")
                )
                continue
            delay = _retry_delay(attempt, error)
            if (
                error.retryable
                and attempt <= settings.UPSTREAM_MAX_RETRIES
                and waited + delay <= settings.UPSTREAM_MAX_RETRY_WAIT
            ):
                waited += delay
                await asyncio.sleep(delay)
                continue
            return _failure(error, payload, got_output=False)


def _retry_delay(attempt: int, error: UpstreamError) -> float:
    if error.retry_after is not None:
        return error.retry_after
    return min(0.5 * 2 ** (attempt - 1), 8.0) * (0.75 + random.random() / 2)


def offered_tools(payload: dict[str, Any]) -> set[str]:
    """The hosted tools a request offers the model, by type."""
    return {tool.get("type") for tool in payload.get("tools") or [] if isinstance(tool, dict)}


def _failure(error: UpstreamError, payload: dict[str, Any], got_output: bool) -> Outcome:
    code, message = describe(error, got_output, offered_tools(payload))
    return Outcome(
        status_for(error, got_output),
        error_code=code,
        error_message=message,
        error_detail=str(error),
    )


def _full_history_payload(reply_id, max_output_tokens: int | None) -> dict[str, Any]:
    """The request again with the whole history, and the same length limit as the first (the
    quota's cap included)."""
    reply = Reply.objects.select_related("conversation", "parent").get(pk=reply_id)
    payload = build_payload(reply, reply.conversation, full_history=True)
    payload.pop("max_output_tokens", None)
    if max_output_tokens is not None:
        payload["max_output_tokens"] = max_output_tokens
    Reply.objects.filter(pk=reply_id).update(
        sent_full_history=True, previous_response_id="", request_params=_recorded_params(payload)
    )
    return payload


async def _read_stream(live: LiveReply, payload: dict[str, Any]) -> Outcome:
    channel = live_channel.get()
    async for event in upstream.stream_response(payload):
        live.accepted = True
        match event:
            case upstream.TextDelta(text=text):
                live.add_text(text)
                channel.published(live)
            case upstream.ReasoningDelta(text=text):
                live.add_reasoning(text)
                channel.published(live)
            case upstream.RefusalDelta(text=text):
                live.add_refusal(text)
                channel.published(live)
            case upstream.ToolActivity(status=status, query=query):
                live.set_searching(query if status == "searching" else None)
                channel.published(live)
            case upstream.CitationAdded(citation=citation):
                live.add_citations([citation])
                channel.published(live)
            case upstream.GeneratedImage() | upstream.UnknownItem():
                _take_item(live, event)
            case upstream.Started(response_id=response_id):
                live.upstream_id = response_id
            case Finished():
                return _outcome_of(live, event, payload)
    raise UpstreamError("cut", detail="stream ended without a terminal event")


def _take_item(live: LiveReply, event: upstream.Event) -> None:
    """A generated image (stored with the reply at its end) or an item this site does not show
    (mentioned under the reply), once per item."""
    seen = {image.item_id for image in live.images if image.item_id}
    seen |= {item["id"] for item in live.unknown_items if item["id"]}
    if isinstance(event, upstream.GeneratedImage):
        if not event.item_id or event.item_id not in seen:
            live.images.append(event)
    elif isinstance(event, upstream.UnknownItem):
        if not event.item_id or event.item_id not in seen:
            live.unknown_items.append({"type": event.item_type, "id": event.item_id})


def _take_final_output(live: LiveReply, response: dict[str, Any]) -> None:
    """What the final response holds that the stream did not say: its citations (a relay that
    sends no annotation events), images and unknown items."""
    if not live.citations:
        live.add_citations(upstream.citations_in(response))
    if live.images or live.unknown_items:
        return  # the stream said them (an item without an id would be taken twice)
    for item in response.get("output") or []:
        for event in upstream.item_events(item):
            _take_item(live, event)


def _outcome_of(live: LiveReply, event: Finished, payload: dict[str, Any]) -> Outcome:
    _take_final_output(live, event.response)
    live.set_searching(None)
    if event.status == "completed":
        if not live.text and not live.refusal:
            # A non-streaming relay or a final-only stream: take the text from the response.
            live.add_text(upstream.output_text(event.response))
        return Outcome(Reply.Status.COMPLETED, response=event.response)
    if event.status == "incomplete":
        reason = event.incomplete_reason
        code = reason if reason in ("max_output_tokens", "content_filter") else "incomplete"
        return Outcome(
            Reply.Status.INCOMPLETE,
            response=event.response,
            incomplete_reason=reason,
            error_code=code,
            error_message=MESSAGES[code],
        )
    detail = f"{event.error_code}: {event.error_message}"
    log.warning("reply %s: relay reported failure: %s", live.reply_id, detail)
    code = "upstream_failed"
    if not live.got_output:
        offered = offered_tools(payload)
        code = refused_tool(event.error_code, event.error_message, offered) or code
    return Outcome(
        Reply.Status.FAILED,
        response=event.response,
        error_code=code,
        error_message=MESSAGES[code],
        error_detail=detail,
    )


# --- Batched writes ------------------------------------------------------------------------
# One flusher per event loop writes the text of every generating reply in one transaction every
# REPLY_FLUSH_INTERVAL seconds (only replies that changed, plus a heartbeat now and then), and
# notices a Stop that reached only the database (the live channel's fallback: a stop asked
# while this process could not hear the channel). It ends when no reply is generating.
_flushers: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task]" = (
    weakref.WeakKeyDictionary()
)


def _ensure_flusher(loop: asyncio.AbstractEventLoop) -> None:
    task = _flushers.get(loop)
    if task is None or task.done():
        _flushers[loop] = loop.create_task(_flush_loop(), context=contextvars.Context())


async def _flush_loop() -> None:
    flush = database_work(_flush_many)
    while live_registry.count():
        await asyncio.sleep(settings.REPLY_FLUSH_INTERVAL)
        now = time.monotonic()
        due = [live for live in live_registry.all() if not live.done and live.flush_due(now)]
        if not due:
            continue
        writes = [(live.reply_id, live.flush_fields(now)) for live in due]
        for reply_id in await flush(writes):
            if (live := live_registry.get(reply_id)) is not None:
                live.request_stop()


def _flush_many(writes: list[tuple[Any, dict[str, Any]]]) -> list[Any]:
    """Writes each reply's fields in one transaction; returns the ids someone asked to stop
    (or that are gone)."""
    with transaction.atomic():
        return Reply.objects.save_progress(writes)


def _finish(
    live: LiveReply, payload: dict[str, Any], outcome: Outcome, pictures: list | None = None
) -> None:
    """Stores the reply's end, bills it and stores the images it made (`pictures`, read by
    _read_images), in one transaction."""
    response = outcome.response
    now = timezone.now()
    fields: dict[str, Any] = {
        "status": outcome.status,
        "text": live.text,
        "reasoning_summary": live.reasoning,
        "refusal": live.refusal,
        "error_code": outcome.error_code,
        "error_message": outcome.error_message,
        "error_detail": outcome.error_detail[:5000],
        "incomplete_reason": outcome.incomplete_reason,
        "attempts": live.attempts,
        "finished_at": now,
        "heartbeat_at": now,
        "upstream_id": str(response.get("id") or live.upstream_id),
        "upstream_model": str(response.get("model") or ""),
        "upstream_status": str(response.get("status") or ""),
        "upstream_created_at": response.get("created_at")
        if isinstance(response.get("created_at"), int)
        else None,
        "output_items": _stored_items(response, live),
        "citations": live.citations,
    }
    if live.first_token_at is not None:
        fields["first_token_at"] = live.first_token_at
    fields.update(_usage_fields(live, payload, response))
    # The reply's fields are all in hand: its price goes in the same write, billing needs no
    # read of the reply back, and its viewers' last message is rendered from the same object.
    ended = Reply(
        pk=live.reply_id,
        conversation_id=live.conversation_id,
        user_id=live.user_id,
        model=payload["model"],
        # Not written again: for the note that names the length limit of a reply cut short.
        output_limit=live.output_limit,
        request_params={"max_output_tokens": payload.get("max_output_tokens")},
        **fields,
    )
    if ended.has_usage:
        ended.cost, ended.cost_currency = ended.price()
        fields.update(cost=ended.cost, cost_currency=ended.cost_currency)
    with transaction.atomic():
        # Only a reply still generating: if a sweep already ended it as interrupted (and billed
        # its estimate), that record stands.
        if not Reply.objects.generating().filter(pk=live.reply_id).update(**fields):
            log.warning("reply %s ended after it was marked ended elsewhere", live.reply_id)
            return
        Conversation.objects.filter(pk=live.conversation_id).update(updated_at=now)
        ended.bill(live.reservation)
        stored = [_store_image(live, picture) for picture in pictures or []]
    # (Its viewers' last message is rendered on the event loop: no query for the images.)
    ended.images_in_hand = [image for image in stored if image is not None]
    live.ended = ended.as_ended()
    relay_status.record(outcome.status, outcome.error_code)
    if outcome.status != Reply.Status.COMPLETED:
        log.info("reply %s ended: %s %s", live.reply_id, outcome.status, outcome.error_code)


def _stored_items(response: dict[str, Any], live: LiveReply) -> list:
    """The response's output items as stored: a generated image's data is kept once, as the
    reply's attachment, not again in the JSON; unknown items of a reply cut before its end are
    recorded as far as they came."""
    output = response.get("output") if isinstance(response.get("output"), list) else []
    items = []
    for item in output:
        if isinstance(item, dict) and item.get("type") == "image_generation_call":
            item = {key: value for key, value in item.items() if key != "result"}
        items.append(item)
    if not output:
        items.extend({"type": "image_generation_call", "id": i.item_id} for i in live.images)
        items.extend(dict(item) for item in live.unknown_items)
    return items


# How long a reply's end waits for the images it made to be read (converters busy with
# attached files).
IMAGE_READING_SECONDS = 30


async def _read_images(live: LiveReply) -> list:
    """The images the reply made, decoded and re-encoded like attached ones in the converter
    processes (converter.py), before _finish's transaction and off the shared thread, where
    re-encoding (15 to 30 ms of a core for a 1024-pixel PNG) held every other reply's database
    work. One that is no image is logged and left out: the rest of the reply stands."""
    reading = sync_to_async(_read_images_now, thread_sensitive=False)(live.images)
    try:
        # Bounded, and shielded from the task's cancel (a server stopping): the reply's end
        # is stored in any case, with the images read by then.
        return await asyncio.wait_for(asyncio.shield(reading), IMAGE_READING_SECONDS)
    except (Exception, asyncio.CancelledError):
        log.exception("reply %s: its images could not be read", live.reply_id)
        return []


def _read_images_now(images: list[upstream.GeneratedImage]) -> list:
    from conversations.attachments import converter
    from conversations.attachments.refusals import Refused

    read = []
    for number, image in enumerate(images, 1):
        try:
            data = base64.b64decode(image.data, validate=False)
            picture = converter.convert(data, f"image-{number}")
        except (Refused, ValueError):
            picture = None
        if picture is None or picture.kind != Attachment.Kind.IMAGE:
            log.warning("a generated image (%s) could not be read", image.item_id)
            continue
        read.append(picture)
    return read


def _store_image(live: LiveReply, picture):
    """Stores a generated image (read by _read_images) with its reply, as its Attachment; one
    that cannot be written (storage full, unreachable) is logged and left out (None)."""
    from conversations.attachments.store import store_generated_image

    try:
        return store_generated_image(live.reply_id, live.user_id, picture)
    except OSError:
        log.exception("reply %s: a generated image could not be stored", live.reply_id)
        return None


def _usage_fields(live: LiveReply, payload: dict[str, Any], response: dict) -> dict[str, Any]:
    """Exact usage when the relay sent it; otherwise, for a reply the relay accepted, an
    estimate by the rule in tokens.py, marked as estimated."""
    exact = upstream.parse_usage(response.get("usage"))
    if any(value is not None for value in exact.values()):
        return {**exact, "usage_estimated": False, "usage_raw": response.get("usage")}
    if not live.accepted:
        return {}
    sent = payload.get("instructions", "") + _input_text(payload["input"])
    input_tokens = estimate_tokens(sent) + _files_estimate(live, payload)
    output_tokens = estimate_tokens(live.text + live.refusal)
    reasoning_tokens = estimate_tokens(live.reasoning)
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens + reasoning_tokens,
        "reasoning_tokens": reasoning_tokens,
        "total_tokens": input_tokens + output_tokens + reasoning_tokens,
        "usage_estimated": True,
        "usage_raw": None,
    }


def _files_estimate(live: LiveReply, payload: dict[str, Any]) -> int:
    """The estimate stored with each image and PDF sent (text and office files are in the
    text already): this turn's, and with the whole history sent, the earlier turns' too."""
    ids = [live.reply_id]
    if isinstance(payload["input"], list) and len(payload["input"]) > 1:
        parents = dict(
            Reply.objects.filter(conversation_id=live.conversation_id).values_list(
                "pk", "parent_id"
            )
        )
        node = parents.get(live.reply_id)
        while node is not None:
            ids.append(node)
            node = parents.get(node)
    sent = Attachment.objects.filter(
        reply_id__in=ids,
        origin=Attachment.Origin.UPLOADED,
        kind__in=[Attachment.Kind.IMAGE, Attachment.Kind.PDF],
    )
    return sent.aggregate(total=Sum("estimated_tokens"))["total"] or 0


def _input_text(value: Any) -> str:
    """The text of a request's input, for the estimate: text parts only (files' data URLs are
    no text; their tokens were estimated when attached)."""
    if isinstance(value, str):
        return value
    texts: list[str] = []
    for message in value:
        content = message.get("content", "")
        if isinstance(content, str):
            texts.append(content)
            continue
        texts.extend(part.get("text", "") for part in content if part.get("type") == "input_text")
    return "".join(texts)


async def drain(grace: float) -> int:
    """Lets this process's replies in progress finish for up to `grace` seconds (a worker
    stopping: ASGI lifespan shutdown), then cancels the ones still running, which end as
    interrupted ("server_restart") with their text and a usage estimate, and waits for their
    last write. Returns how many were cut."""
    deadline = asyncio.get_running_loop().time() + grace
    while running := [task for task in _tasks if not task.done()]:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            break
        await asyncio.wait(running, timeout=left)
    running = [task for task in _tasks if not task.done()]
    for task in running:
        task.cancel()
    if running:
        log.warning("%d replies still generating after %.0f s: ending them", len(running), grace)
        # Each ends with one database write (bounded by the pool's and SQLite's own timeouts).
        await asyncio.wait(running, timeout=60)
    return len(running)
