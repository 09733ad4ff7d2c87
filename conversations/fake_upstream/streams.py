"""Streamed (`"stream": true`) replies of the fake upstream, one builder per behaviour."""

from conversations.fake_upstream import tools
from conversations.fake_upstream.behaviours import Behaviour, credentials_echo
from conversations.fake_upstream.delivery import SSE_HEADERS, Plan
from conversations.fake_upstream.responses import Turn
from conversations.fake_upstream.sse import Script

# Behaviours that stop the text after `after_tokens` deltas.
_TRUNCATING = {"cut", "error_event", "failed", "incomplete", "malformed", "huge_line"}
# huge_line: the line goes out in pieces of this size, all one shared bytes object.
_HUGE_LINE_PIECE = 64 * 1024
_DEFAULT_ERROR = ("server_error", "The server had an error while processing your request.")


def stream_plan(turn: Turn) -> Plan:
    behaviour = turn.behaviour
    script = Script(behaviour)
    if behaviour.name == "stall_before":
        script.wait(behaviour.number("seconds", 3600), droppable=False)
    output_tokens = _open(script, turn)
    tools.emit_before_answer(script, turn.tools)
    if behaviour.name == "refusal":
        _refusal(script, turn, output_tokens)
    else:
        _answer(script, turn, output_tokens)
    ends_cleanly = not (behaviour.name == "cut" and behaviour.flag("abort"))
    if behaviour.flag("done_marker") and ends_cleanly:
        script.raw_data("[DONE]")
    return Plan(
        200,
        SSE_HEADERS,
        script.steps,
        abort=not ends_cleanly,
        split_utf8=behaviour.flag("split_utf8"),
        rechunk_seed=_rechunk_seed(behaviour),
        chunk_delay=max(0.0, behaviour.number("chunk_delay_ms", 0)) / 1000,
    )


def _rechunk_seed(behaviour: Behaviour) -> int | None:
    value = behaviour.params.get("rechunk")
    return None if value is None or value is False else behaviour.integer("rechunk", 0)


def _open(script: Script, turn: Turn) -> int:
    """response.created, response.in_progress and the reasoning item; returns tokens used."""
    script.event("response.created", response=turn.response("in_progress", []))
    script.event("response.in_progress", response=turn.response("in_progress", []))
    if not turn.reasoning:
        return 0
    item_id = turn.reasoning_id
    ids = {"item_id": item_id, "output_index": 0, "summary_index": 0}
    empty = {"id": item_id, "type": "reasoning", "summary": []}
    script.event("response.output_item.added", output_index=0, item=empty)
    script.event("response.reasoning_summary_part.added", **ids, part=_summary(""))
    for piece in turn.reasoning_pieces:
        script.wait(turn.delay)
        script.delta("response.reasoning_summary_text.delta", item_id, 0, piece, summary_index=0)
    script.event("response.reasoning_summary_text.done", **ids, text=turn.reasoning)
    script.event("response.reasoning_summary_part.done", **ids, part=_summary(turn.reasoning))
    script.event("response.output_item.done", output_index=0, item=turn.reasoning_item())
    return len(turn.reasoning_pieces)


def _summary(text: str) -> dict:
    return {"type": "summary_text", "text": text}


def _answer(script: Script, turn: Turn, used: int) -> None:
    name = turn.behaviour.name
    index = 1 if turn.reasoning else 0
    ids = {"item_id": turn.message_id, "output_index": index, "content_index": 0}
    _open_message(script, turn, index, {"type": "output_text", "text": "", "annotations": []})
    pieces = turn.pieces[: turn.after_tokens] if name in _TRUNCATING else turn.pieces
    stall_at = min(turn.after_tokens, len(pieces)) if name == "stall_mid" else None
    for number, piece in enumerate(pieces):
        if number == stall_at:
            script.wait(turn.behaviour.number("seconds", 3600), droppable=False)
        script.wait(turn.delay)
        script.delta("response.output_text.delta", turn.message_id, index, piece, content_index=0)
    if stall_at == len(pieces):
        script.wait(turn.behaviour.number("seconds", 3600), droppable=False)
    tools.emit_annotations(script, turn, turn.tools, index)
    used += len(pieces)
    text = "".join(pieces)
    if name in ("cut", "malformed"):
        if name == "malformed":
            echo = credentials_echo(turn.behaviour)
            script.raw_data('{"type":"response.output_text.delta","delta":"unfinished' + echo)
        return
    if name == "huge_line":
        _huge_line(script, turn.behaviour.integer("bytes", 16 * 1024 * 1024))
        return
    if name in ("error_event", "failed"):
        _fail(script, turn, _output(turn, text, "incomplete"))
        return
    status = "incomplete" if name == "incomplete" else "completed"
    part = {"type": "output_text", "text": text, "annotations": []}
    script.event("response.output_text.done", **ids, text=text)
    script.event("response.content_part.done", **ids, part=part)
    item = turn.message_item(text, status)
    script.event("response.output_item.done", output_index=index, item=item)
    _finish(script, turn, status, _output(turn, text, status), used)


def _huge_line(script: Script, size: int) -> None:
    """A data line of `size` bytes that never ends (no newline), then the end of the body."""
    piece = b"x" * _HUGE_LINE_PIECE
    script.raw_bytes(b"data: ")
    for _ in range(size // _HUGE_LINE_PIECE):
        script.raw_bytes(piece)
    script.raw_bytes(b"x" * (size % _HUGE_LINE_PIECE))


def _open_message(script: Script, turn: Turn, index: int, part: dict) -> None:
    item = {
        "id": turn.message_id,
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    script.event("response.output_item.added", output_index=index, item=item)
    ids = {"item_id": turn.message_id, "output_index": index, "content_index": 0}
    script.event("response.content_part.added", **ids, part=part)


def _output(turn: Turn, text: str, status: str, kind: str = "output_text") -> list:
    message = turn.message_item(text, status, kind)
    output = [turn.reasoning_item(), message] if turn.reasoning else [message]
    return tools.decorate_output(turn.tools, output)


def _finish(script: Script, turn: Turn, status: str, output: list, used: int) -> None:
    if status == "incomplete":
        reason = turn.behaviour.string("reason", "max_output_tokens")
        response = turn.response(
            status, output, output_tokens=used, incomplete_details={"reason": reason}
        )
        script.event("response.incomplete", response=response)
        return
    script.event("response.completed", response=turn.response(status, output, output_tokens=used))


def _fail(script: Script, turn: Turn, output: list) -> None:
    behaviour = turn.behaviour
    code = behaviour.string("code", _DEFAULT_ERROR[0])
    message = behaviour.string("message", _DEFAULT_ERROR[1]) + credentials_echo(behaviour)
    if behaviour.name == "error_event":
        error = {"type": "server_error", "code": code, "message": message, "param": None}
        if behaviour.flag("flat"):
            script.event("error", code=code, message=message, param=None)
        else:
            script.event("error", error=error)
        if not behaviour.flag("then_failed", True):
            return
    failed = turn.response("failed", output, error={"code": code, "message": message})
    if "usage" in failed:
        failed["usage"] = None
    script.event("response.failed", response=failed)


def _refusal(script: Script, turn: Turn, used: int) -> None:
    index = 1 if turn.reasoning else 0
    ids = {"item_id": turn.message_id, "output_index": index, "content_index": 0}
    _open_message(script, turn, index, {"type": "refusal", "refusal": ""})
    for piece in turn.pieces:
        script.wait(turn.delay)
        script.delta("response.refusal.delta", turn.message_id, index, piece, content_index=0)
    script.event("response.refusal.done", **ids, refusal=turn.text)
    script.event(
        "response.content_part.done", **ids, part={"type": "refusal", "refusal": turn.text}
    )
    item = turn.message_item(turn.text, "completed", "refusal")
    script.event("response.output_item.done", output_index=index, item=item)
    output = _output(turn, turn.text, "completed", "refusal")
    script.event(
        "response.completed",
        response=turn.response("completed", output, output_tokens=used + len(turn.pieces)),
    )
