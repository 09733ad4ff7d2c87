"""Non-streamed replies and HTTP error responses of the fake upstream."""

# ruff: noqa: RUF001 (Chinese text uses full-width punctuation on purpose)

import json

from conversations.fake_upstream import tools
from conversations.fake_upstream.behaviours import Behaviour, credentials_echo
from conversations.fake_upstream.delivery import JSON_HEADERS, Plan, json_plan
from conversations.fake_upstream.responses import Turn

# status: (type, code, English message, the relay's Chinese message)
_ERRORS = {
    400: ("invalid_request_error", "invalid_request", "Invalid request.", "请求参数错误"),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided.", "无效的令牌"),
    402: (
        "insufficient_quota",
        "insufficient_quota",
        "You exceeded your current quota.",
        "余额不足",
    ),
    403: (
        "insufficient_quota",
        "insufficient_user_quota",
        "Your account quota is used up.",
        "用户额度不足, 剩余额度: ＄0.000000",
    ),
    404: ("invalid_request_error", "not_found", "Not found.", "未找到资源"),
    429: (
        "rate_limit_error",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again later.",
        "当前分组上游负载已饱和，请稍后再试",
    ),
    500: (
        "server_error",
        "server_error",
        "The server had an error while processing your request.",
        "上游服务错误，请稍后再试",
    ),
    502: ("server_error", "bad_gateway", "Bad gateway.", "上游服务不可用"),
    503: (
        "server_error",
        "service_unavailable",
        "The engine is currently overloaded, please try again later.",
        "当前分组 default 下对于模型 gpt-5.5 无可用渠道",
    ),
    504: ("server_error", "gateway_timeout", "Gateway timeout.", "上游响应超时"),
}
_HTML_PAGE = (
    "<html><head><title>{status} Error</title></head><body><center><h1>{status} Error</h1>"
    "</center><hr><center>nginx</center></body></html>\n"
)
_TRUNCATING = {"cut", "error_event", "failed", "incomplete", "malformed", "huge_line"}


def error_body(message: str, error_type: str, param: str | None, code: str | None) -> dict:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def http_error_plan(behaviour: Behaviour) -> Plan:
    status = behaviour.integer("status", 500)
    headers = []
    if behaviour.has("retry_after"):
        headers.append((b"retry-after", behaviour.string("retry_after", "").encode()))
    if 300 <= status < 400:
        # A real redirect: by default to the same endpoint, which would answer 200 (the queued
        # error is used up), so a client that followed it would get a reply.
        location = behaviour.string("location", "/v1/responses")
        headers.append((b"location", location.encode()))
    kind = behaviour.string("body", "json")
    if kind == "empty":
        return Plan(status, [(b"content-length", b"0"), *headers])
    if kind == "text":
        page = _HTML_PAGE.format(status=status) + behaviour.string("message", "")
        page = (page + credentials_echo(behaviour)).encode()
        return Plan(status, [(b"content-type", b"text/html"), *headers], [page])
    error_type, code, english, chinese = _ERRORS.get(status, _ERRORS[500])
    if behaviour.flag("chinese"):
        error_type, english = "new_api_error", chinese
    body = error_body(
        behaviour.string("message", english) + credentials_echo(behaviour),
        error_type,
        behaviour.string("param"),
        behaviour.string("code", code),
    )
    return json_plan(status, body, headers)


def previous_not_found_plan(response_id: str) -> Plan:
    message = f"Previous response with id '{response_id}' not found."
    body = error_body(
        message, "invalid_request_error", "previous_response_id", "previous_response_not_found"
    )
    return json_plan(400, body)


def json_reply_plan(turn: Turn) -> Plan:
    """The whole response object at once (`stream` false or missing)."""
    behaviour = turn.behaviour
    truncating = behaviour.name in _TRUNCATING
    pieces = turn.pieces[: turn.after_tokens] if truncating else turn.pieces
    response = _response(turn, "".join(pieces), len(pieces) + len(turn.reasoning_pieces))
    data = json.dumps(response, ensure_ascii=False).encode()
    plan = Plan(200, JSON_HEADERS, [data])
    if behaviour.name in ("stall_before", "stall_mid"):
        plan.head_wait = behaviour.number("seconds", 3600)
    elif behaviour.name in ("cut", "malformed"):
        plan.steps = [data[: len(data) // 2]]
        plan.abort = behaviour.name == "cut" and behaviour.flag("abort")
    return plan


def _response(turn: Turn, text: str, output_tokens: int) -> dict:
    name = turn.behaviour.name
    kind = "refusal" if name == "refusal" else "output_text"
    status = {"incomplete": "incomplete", "failed": "failed", "error_event": "failed"}.get(
        name, "completed"
    )
    message = turn.message_item(text, status, kind)
    if turn.behaviour.flag("content_string"):
        message["content"] = text
    output = [turn.reasoning_item(), message] if turn.reasoning else [message]
    output = tools.decorate_output(turn.tools, output)
    if status == "failed":
        code = turn.behaviour.string("code", "server_error")
        message_text = turn.behaviour.string("message", "The server had an error.")
        response = turn.response(status, output, error={"code": code, "message": message_text})
        if "usage" in response:
            response["usage"] = None
        return response
    extra = {}
    if status == "incomplete":
        extra["incomplete_details"] = {
            "reason": turn.behaviour.string("reason", "max_output_tokens")
        }
    return turn.response(status, output, output_tokens=output_tokens, **extra)
