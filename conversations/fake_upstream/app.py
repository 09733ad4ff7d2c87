"""The fake upstream's raw ASGI app: `POST /v1/responses` plus the `/__fake__/` controls."""

import asyncio
import json

from conversations.fake_upstream import tools
from conversations.fake_upstream.behaviours import (
    Behaviour,
    BehaviourError,
    echoing,
    last_user_text,
    parse_directive,
)
from conversations.fake_upstream.delivery import Interrupt, Plan, deliver, json_plan
from conversations.fake_upstream.plain import (
    error_body,
    http_error_plan,
    json_reply_plan,
    previous_not_found_plan,
)
from conversations.fake_upstream.responses import make_turn
from conversations.fake_upstream.state import FakeState
from conversations.fake_upstream.streams import stream_plan

MAX_BODY = 32 * 1024 * 1024


class FakeUpstreamApp:
    """An ASGI 3 app; `shutdown_streams()` (called on the server's loop) ends every open stream."""

    def __init__(self, state: FakeState, token_delay_ms: float = 0) -> None:
        self.state = state
        self.token_delay_ms = token_delay_ms
        self.stopping = False
        self._interrupts: set[Interrupt] = set()

    def shutdown_streams(self) -> None:
        self.stopping = True
        for interrupt in list(self._interrupts):
            interrupt.set()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        route = (scope["method"], scope["path"].rstrip("/"))
        interrupt = Interrupt()
        if self.stopping:
            interrupt.set()
        self._interrupts.add(interrupt)
        try:
            body = await _read_body(receive)
            watcher = asyncio.create_task(_watch_disconnect(receive, interrupt))
            try:
                await deliver(send, self._plan(route, scope, body), interrupt)
            finally:
                watcher.cancel()
        finally:
            self._interrupts.discard(interrupt)

    def _plan(self, route: tuple[str, str], scope, body: bytes) -> Plan:
        method, path = route
        if path == "/v1/responses":
            if method != "POST":
                return json_plan(405, error_body("Use POST.", "invalid_request_error", None, None))
            return self._responses(scope, body)
        if path.startswith("/__fake__/"):
            return self._control(method, path.removeprefix("/__fake__/"), body)
        return json_plan(404, error_body(f"No route {path}.", "invalid_request_error", None, None))

    def _responses(self, scope, body: bytes) -> Plan:
        headers = {
            name.decode("latin-1").lower(): value.decode("latin-1")
            for name, value in scope["headers"]
        }
        request = _parse_json(body)
        entry = self.state.log_request(request if isinstance(request, dict) else None, headers)
        plan = self._responses_plan(headers, request)
        plan.log_entry = entry
        return plan

    def _responses_plan(self, headers: dict[str, str], request) -> Plan:
        problem = _check_request(headers, request)
        if problem is not None:
            return problem
        try:
            behaviour = echoing(self._choose(request), headers.get("authorization", ""))
        except BehaviourError as error:
            return json_plan(400, error_body(str(error), "invalid_request_error", "input", None))
        if behaviour.name == "http_error":
            return http_error_plan(behaviour)
        if (refused := tools.refusal_plan(behaviour)) is not None:
            return refused
        previous = request.get("previous_response_id")
        if previous and not self.state.knows_response(str(previous)):
            return previous_not_found_plan(str(previous))
        turn = make_turn(request, behaviour, self.token_delay_ms)
        self.state.remember_response(turn.response_id)
        # `ignore_stream` acts like a relay that answers a streamed request with one JSON body.
        streamed = request.get("stream") is True and not behaviour.params.get("ignore_stream")
        return stream_plan(turn) if streamed else json_reply_plan(turn)

    def _choose(self, request: dict) -> Behaviour:
        queued = self.state.pop_queued()
        if queued is not None:
            return queued
        directive = parse_directive(last_user_text(request.get("input")))
        return directive or Behaviour("ok")

    def _control(self, method: str, action: str, body: bytes) -> Plan:
        if method == "GET" and action == "requests":
            return json_plan(200, self.state.requests())
        if method != "POST":
            return json_plan(405, {"error": {"message": "Use POST."}})
        payload = _parse_json(body)
        payload = payload if isinstance(payload, dict) else {}
        if action == "queue":
            entries = payload.get("behaviours", payload.get("behaviors", []))
            try:
                return json_plan(200, {"queued": self.state.queue(*entries)})
            except BehaviourError as error:
                return json_plan(400, {"error": {"message": str(error)}})
        if action == "reset":
            self.state.reset()
            return json_plan(200, {"ok": True})
        if action == "forget":
            self.state.forget_responses(always=bool(payload.get("always")))
            return json_plan(200, {"ok": True})
        return json_plan(404, {"error": {"message": f"No control {action!r}."}})


def _check_request(headers: dict[str, str], request) -> Plan | None:
    """401 without a bearer key, 400 for a body that is not a request."""
    scheme, _, key = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        message = "You didn't provide an API key. Use 'Authorization: Bearer YOUR_KEY'."
        return json_plan(401, error_body(message, "invalid_request_error", None, "missing_api_key"))
    if not isinstance(request, dict):
        message = "The request body is not a JSON object."
        return json_plan(400, error_body(message, "invalid_request_error", None, "invalid_json"))
    for param in ("model", "input"):
        if request.get(param) in (None, "", []):
            message = f"Missing required parameter: '{param}'."
            code = "missing_required_parameter"
            return json_plan(400, error_body(message, "invalid_request_error", param, code))
    return None


def _parse_json(body: bytes):
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


async def _read_body(receive) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b""
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= MAX_BODY:
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _watch_disconnect(receive, interrupt: Interrupt) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
    interrupt.set()
