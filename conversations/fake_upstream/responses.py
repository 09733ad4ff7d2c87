"""Response objects of the fake upstream: one Turn per request, and the JSON built from it."""

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from conversations.fake_upstream.attachments import files_seen
from conversations.fake_upstream.behaviours import (
    Behaviour,
    all_input_text,
    credentials_echo,
    last_user_text,
)
from conversations.fake_upstream.replies import demo_reasoning, demo_reply
from conversations.fake_upstream.text import estimate_tokens, filler_text, split_pieces

# Request fields a real response object echoes back.
_ECHOED = ("instructions", "max_output_tokens", "temperature", "top_p", "truncation", "reasoning")


@dataclass
class Turn:
    """One request being answered: its behaviour, reply text and everything derived from them."""

    request: dict
    behaviour: Behaviour
    delay: float
    response_id: str
    created_at: int
    text: str
    reasoning: str
    input_tokens: int
    # Tokens of the images in the input (attachments.files_seen), reported as image_tokens.
    image_tokens: int = 0
    pieces: list[str] = field(init=False)
    reasoning_pieces: list[str] = field(init=False)

    def __post_init__(self) -> None:
        # `piece_chars=N` cuts the text into N-character deltas (splits words and tags).
        size = int(self.behaviour.params.get("piece_chars") or 0)
        if size > 0:
            self.pieces = [self.text[i : i + size] for i in range(0, len(self.text), size)]
        else:
            self.pieces = split_pieces(self.text)
        self.reasoning_pieces = split_pieces(self.reasoning)

    @property
    def message_id(self) -> str:
        return "msg_" + self.response_id.removeprefix("resp_")

    @property
    def reasoning_id(self) -> str:
        return "rs_" + self.response_id.removeprefix("resp_")

    @property
    def after_tokens(self) -> int:
        return max(0, self.behaviour.integer("after_tokens", 5))

    def response(self, status: str, output: list, *, output_tokens: int | None = None, **extra):
        """The response object; usage only when output_tokens is given (None before the end)."""
        body: dict[str, Any] = {
            "id": self.response_id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "model": self.request.get("model"),
            "output": output,
            "error": None,
            "incomplete_details": None,
            "previous_response_id": self.request.get("previous_response_id"),
        }
        body.update({key: self.request.get(key) for key in _ECHOED})
        body.update(extra)
        scheme = self.behaviour.string("usage", "responses")
        if scheme != "none":
            body["usage"] = None if output_tokens is None else self.usage(scheme, output_tokens)
        if echo := credentials_echo(self.behaviour):
            # `echo_key`: a relay that repeats the request's credentials in its response.
            body["request_headers"] = {
                "authorization": self.behaviour.string("echoed_authorization")
            }
            body["relay_note"] = echo.strip()
            if isinstance(body.get("usage"), dict):
                body["usage"]["relay_note"] = echo.strip()
        return body

    def usage(self, scheme: str, output_tokens: int) -> dict:
        reasoning_tokens = min(len(self.reasoning_pieces), output_tokens)
        cached = min(self.behaviour.integer("cached", 0), self.input_tokens)
        total = self.input_tokens + output_tokens
        if scheme == "chat":
            return {
                "prompt_tokens": self.input_tokens,
                "completion_tokens": output_tokens,
                "total_tokens": total,
                "prompt_tokens_details": {
                    "cached_tokens": cached,
                    "text_tokens": self.input_tokens,
                    "audio_tokens": 0,
                    "image_tokens": self.image_tokens,
                },
                "completion_tokens_details": {
                    "text_tokens": output_tokens - reasoning_tokens,
                    "audio_tokens": 0,
                    "reasoning_tokens": reasoning_tokens,
                },
            }
        return {
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": cached}
            | ({"image_tokens": self.image_tokens} if self.image_tokens else {}),
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning_tokens},
            "total_tokens": total,
        }

    def message_item(self, text: str, status: str = "completed", kind: str = "output_text"):
        if kind == "refusal":
            part = {"type": "refusal", "refusal": text}
        else:
            part = {"type": "output_text", "text": text, "annotations": []}
        item = {
            "id": self.message_id,
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": [part],
        }
        if echo := credentials_echo(self.behaviour):
            item["relay_note"] = echo.strip()
        return item

    def reasoning_item(self) -> dict:
        summary = [{"type": "summary_text", "text": self.reasoning}]
        return {"id": self.reasoning_id, "type": "reasoning", "summary": summary}


def make_turn(request: dict, behaviour: Behaviour, default_delay_ms: float) -> Turn:
    """Resolve a request and its behaviour into the reply to give."""
    user_text = last_user_text(request.get("input"))
    estimate_source = all_input_text(request.get("input"))
    instructions = request.get("instructions")
    if isinstance(instructions, str):
        estimate_source += "\n" + instructions
    seen = files_seen(request.get("input"))
    text = _reply_text(behaviour, user_text)
    if seen.notes and behaviour.string("text") is None:
        text = " ".join(seen.notes) + "\n\n" + text
    return Turn(
        request=request,
        behaviour=behaviour,
        delay=max(0.0, behaviour.number("delay_ms", default_delay_ms)) / 1000,
        response_id=behaviour.string("response_id") or "resp_" + secrets.token_hex(24),
        created_at=behaviour.integer("created_at", int(time.time())),
        text=text,
        reasoning=_reasoning_text(request, behaviour, user_text),
        input_tokens=max(1, estimate_tokens(estimate_source)) + seen.image_tokens,
        image_tokens=seen.image_tokens,
    )


def _reply_text(behaviour: Behaviour, user_text: str) -> str:
    text = behaviour.string("text")
    if text is not None:
        return text
    if behaviour.name == "refusal":
        return "I can't help with that."
    if behaviour.has("tokens"):
        return filler_text(behaviour.integer("tokens", 1))
    return demo_reply(user_text)


def _reasoning_text(request: dict, behaviour: Behaviour, user_text: str) -> str:
    value = behaviour.params.get("reasoning")
    if isinstance(value, str) and value.lower() not in ("false", "true"):
        return value
    if value is not None:
        return demo_reasoning(user_text) if behaviour.flag("reasoning") else ""
    reasoning = request.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("summary"):
        return demo_reasoning(user_text)
    return ""
