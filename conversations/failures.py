"""What each failure means to the user: a short code and a plain sentence, stored in English
(gettext_noop) and translated when shown. Details of the relay's answer go to the log only."""

from django.utils.translation import gettext_noop

from conversations.upstream import UpstreamError

MESSAGES = {
    "context_too_long": gettext_noop(
        "This conversation is too long for the model. Start a new chat, or turn on automatic "
        "truncation in the conversation settings."
    ),
    "bad_request": gettext_noop(
        "The AI service did not accept this request. It may not support one of the "
        "conversation settings; change them and try again."
    ),
    "unauthorized": gettext_noop(
        "The AI service did not accept this site's access key. Please tell your administrator."
    ),
    "upstream_quota": gettext_noop(
        "The AI service account has run out of credit. Please tell your administrator."
    ),
    "rate_limited": gettext_noop(
        "The AI service is busy right now. Please wait a minute and try again."
    ),
    "upstream_unavailable": gettext_noop(
        "The AI service had a problem and could not answer. Please try again."
    ),
    "timeout": gettext_noop("The AI service did not answer in time. Please try again."),
    "network": gettext_noop("The AI service could not be reached. Please try again."),
    "cut": gettext_noop(
        "The reply was cut off before it finished. The part received is kept; you can retry."
    ),
    "stalled": gettext_noop(
        "The AI service stopped sending the reply. The part received is kept; you can retry."
    ),
    "upstream_failed": gettext_noop(
        "The AI service stopped with an error before finishing the reply. You can retry."
    ),
    "malformed": gettext_noop(
        "The AI service sent a reply this site could not read. The part received is kept; "
        "you can retry."
    ),
    "too_large": gettext_noop(
        "The AI service sent a reply in pieces larger than this site accepts. The part "
        "received is kept; you can retry."
    ),
    "max_output_tokens": gettext_noop(
        "The reply reached the maximum length set for this conversation."
    ),
    "content_filter": gettext_noop("The AI service's content filter stopped this reply."),
    "incomplete": gettext_noop("The AI service ended the reply before it was complete."),
    "server_restart": gettext_noop(
        "The server restarted while this reply was being written. The part received is kept; "
        "you can retry."
    ),
    "web_search_unavailable": gettext_noop(
        "Web search is not available for this model. Turn it off in the conversation "
        "settings, or pick another model."
    ),
    "image_generation_unavailable": gettext_noop(
        "Image generation is not available for this model. Pick another model, or ask your "
        "administrator."
    ),
    "internal": gettext_noop("Something went wrong on this site. Please try again."),
}


def describe(error: UpstreamError, got_output: bool, offered=()) -> tuple[str, str]:
    """(code, sentence) for an upstream error; got_output says whether text had arrived,
    `offered` the hosted tools the request offered ("web_search", "image_generation")."""
    code = _code(error, got_output, offered)
    return code, MESSAGES[code]


def refused_tool(code: str, detail: str, offered) -> str | None:
    """The code for the hosted tool the relay refused, if its error names one the request
    offered, as in "tools[0].type: web_search is not supported", "image_generation is not
    enabled", or only "unsupported tool" / "invalid tool_choice" (then web search, when
    offered: a tool of every request that searches)."""
    text = f"{code} {detail}".lower()
    named = {
        "web_search": "web_search" in text or "web search" in text,
        "image_generation": "image_generation" in text or "image generation" in text,
    }
    for tool in ("image_generation", "web_search"):
        if named[tool] and tool in offered:
            return f"{tool}_unavailable"
    if "tool" in text and not any(named.values()):
        for tool in ("web_search", "image_generation"):
            if tool in offered:
                return f"{tool}_unavailable"
    return None


def _code(error: UpstreamError, got_output: bool, offered) -> str:
    upstream_code = error.code.lower()
    if error.kind == "http":
        status = error.status or 0
        if "context_length" in upstream_code or "context window" in error.detail.lower():
            return "context_too_long"
        refused = refused_tool(error.code, error.detail, offered)
        if status in (400, 404, 422) and refused:
            return refused
        if status == 401:
            return "unauthorized"
        if status in (402, 403) or "quota" in upstream_code:
            return "upstream_quota"
        if status == 429:
            return "rate_limited"
        if status >= 500:
            return "upstream_unavailable"
        return "bad_request"
    if error.kind == "timeout":
        return "stalled" if got_output else "timeout"
    if error.kind in ("network", "disconnected"):
        return "cut" if got_output else "network"
    if error.kind == "cut":
        return "cut"
    if error.kind == "malformed":
        return "malformed"
    if error.kind == "too_large":
        return "too_large"
    if error.kind == "stream_error" and not got_output:
        return refused_tool(error.code, error.detail, offered) or "upstream_failed"
    return "upstream_failed"


def status_for(error: UpstreamError, got_output: bool) -> str:
    """Failed when nothing arrived or the relay said it failed; interrupted when a reply that
    was arriving was cut off (cut connection, stall, network)."""
    if got_output and error.kind in {"timeout", "network", "disconnected", "cut"}:
        return "interrupted"
    return "failed"
