"""Encoding server-sent events the way relays send them, quirks included (each frame is
encoded once, before the response starts)."""

import json

from conversations.fake_upstream.behaviours import Behaviour
from conversations.fake_upstream.delivery import Wait

# Event types no client knows, interleaved by the `unknown_events` quirk.
_UNKNOWN_EVENTS = (
    (
        "response.output_text.annotation.added",
        {
            "annotation_index": 0,
            "annotation": {"type": "url_citation", "url": "https://example.com"},
        },
    ),
    ("response.audio.delta", {"delta": "UklGRgAAAAA="}),
    ("response.relay.heartbeat", {"note": "relay-made event"}),
)


class Script:
    """The frames and waits of one event stream, in order."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.steps: list[bytes | Wait] = []
        self.sequence = 0
        self.frames = 0
        self.newline = "\r\n" if behaviour.flag("crlf") else "\n"
        self.event_lines = not behaviour.flag("no_event_lines")
        self.numbered = not behaviour.flag("no_sequence")
        self.comments = behaviour.flag("comments")
        self.empty_frames = behaviour.flag("empty_frames")
        self.unknown_events = behaviour.flag("unknown_events")

    def event(self, event_type: str, **fields) -> None:
        self._interleave()
        data = {"type": event_type}
        if self.numbered:
            data["sequence_number"] = self.sequence
        self.sequence += 1
        data.update(fields)
        self._frame(event_type, json.dumps(data, ensure_ascii=False, separators=(",", ":")))
        self.frames += 1

    def delta(self, event_type: str, item_id: str, output_index: int, delta: str, **ids) -> None:
        """A text, refusal or reasoning delta, with the optional fields relays add."""
        extra = {}
        if self.unknown_events:
            extra = {"logprobs": [], "obfuscation": f"{self.sequence:06x}"[-6:]}
        self.event(
            event_type, item_id=item_id, output_index=output_index, **ids, delta=delta, **extra
        )
        if self.unknown_events and self.frames % 4 == 0:
            kind, fields = _UNKNOWN_EVENTS[(self.frames // 4) % len(_UNKNOWN_EVENTS)]
            self.event(kind, item_id=item_id, output_index=output_index, **fields)

    def raw_data(self, data: str) -> None:
        """A data line sent as is (e.g. invalid JSON, or the [DONE] marker)."""
        self._frame(None, data)

    def raw_bytes(self, data: bytes) -> None:
        """Bytes sent as they are, not as a frame (a piece of a line that goes on)."""
        self.steps.append(data)

    def wait(self, seconds: float, droppable: bool = True) -> None:
        if seconds > 0:
            self.steps.append(Wait(seconds, droppable))

    def _frame(self, event_type: str | None, data: str) -> None:
        nl = self.newline
        head = f"event: {event_type}{nl}" if event_type and self.event_lines else ""
        self.steps.append(f"{head}data: {data}{nl}{nl}".encode())

    def _line(self, line: str) -> None:
        self.steps.append(f"{line}{self.newline}{self.newline}".encode())

    def _interleave(self) -> None:
        if self.comments and self.frames % 4 == 0:
            self._line(": PING")
        if self.empty_frames and self.frames % 5 == 2:
            self._line("retry: 1000" if (self.frames // 5) % 2 == 0 else "id: 7")
