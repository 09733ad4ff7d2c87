"""The relay's API key never survives what the relay sends back (failure-cases.md 18): a relay
that echoes the request's Authorization header and the key (raw, JSON-escaped, URL-encoded) in
its error bodies, error events and response objects leaves no trace of the key in the stored
reply, the log, the reviewers' pages or the exports. A masked echo stays readable."""

import html
import json
import logging
from urllib.parse import quote, quote_plus

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from conversations import upstream
from conversations.models import Reply
from conversations.upstream import MAX_ERROR_DETAIL, UpstreamError
from tests.chat_helpers import latest_reply, logged_in, send
from tests.conftest import wait_for_reply
from tests.review_fixtures import *  # noqa: F403

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

# A key with characters that JSON, URLs and HTML each spell differently.
KEY = 'sk-live/Ab+Cd=Ef"Gh\\Ij~0123456789wxyz'
MASKED = "sk-liv...wxyz"  # how the fake relay masks it: fine to keep


def spellings(key: str) -> set[str]:
    json_escaped = json.dumps(key)[1:-1]
    spelled = {
        key,
        json_escaped,
        json.dumps(json_escaped)[1:-1],
        quote(key, safe=""),
        quote_plus(key, safe=""),
    }
    return spelled | {html.escape(form) for form in spelled}


def assert_no_key(text: str, where: str) -> None:
    for form in spellings(KEY):
        assert form not in text, f"the API key ({form!r}) is in {where}"


def stored_columns(reply: Reply) -> str:
    """Every column of the reply row, as text and as JSON."""
    values = {field.attname: getattr(reply, field.attname) for field in Reply._meta.fields}
    return (
        repr(values)
        + json.dumps(values, default=str)
        + json.dumps(values, default=str, ensure_ascii=False)
    )


ECHOING_RELAYS = [
    pytest.param({"behaviour": "http_error", "status": 401}, id="error-body-json"),
    pytest.param({"behaviour": "http_error", "status": 400, "body": "text"}, id="error-body-text"),
    pytest.param({"behaviour": "error_event", "after_tokens": 2}, id="error-event"),
    pytest.param(
        {"behaviour": "error_event", "after_tokens": 2, "flat": True, "then_failed": False},
        id="error-event-flat-then-cut",
    ),
    pytest.param({"behaviour": "failed", "after_tokens": 2}, id="response-failed"),
    pytest.param({"behaviour": "malformed", "after_tokens": 2}, id="malformed-message"),
    pytest.param({"behaviour": "ok"}, id="final-response-object"),
    pytest.param({"behaviour": "ok", "ignore_stream": True}, id="whole-json-body"),
    pytest.param({"behaviour": "ok", "text": f"Your key {KEY} is over quota."}, id="reply-text"),
    pytest.param(
        {"behaviour": "ok", "text": f"Key {KEY} refused.", "ignore_stream": True},
        id="reply-text-in-a-json-body",
    ),
]


@pytest.mark.parametrize("relay", ECHOING_RELAYS)
async def test_a_relay_echoing_the_key_leaves_no_trace_of_it(
    alice, reviewer, fake_upstream, settings, caplog, relay
):
    settings.RESPONSES_API_KEY = KEY
    settings.UPSTREAM_MAX_RETRIES = 0
    caplog.set_level(logging.DEBUG)
    fake_upstream.queue({**relay, "echo_key": True})
    owner = await logged_in(alice)

    await send(owner, "Hello?")
    reply = await wait_for_reply((await latest_reply(alice)).pk)

    stored = stored_columns(reply)
    assert_no_key(stored, "the stored reply")
    assert "[redacted]" in stored and MASKED in stored  # the relay did echo, and was redacted
    assert_no_key(caplog.text, "the log")
    assert fake_upstream.requests[0]["headers"]["authorization"] == f"Bearer {KEY}"

    review = AsyncClient()
    await review.aforce_login(reviewer)
    conversation_page = await review.get(
        f"/admin/conversations/conversation/{reply.conversation_id}/change/"
    )
    reply_page = await review.get(f"/admin/conversations/reply/{reply.pk}/change/")
    assert conversation_page.status_code == reply_page.status_code == 200
    assert "[redacted]" in conversation_page.text
    assert_no_key(conversation_page.text, "the reviewer's conversation page")
    assert_no_key(reply_page.text, "the reviewer's reply page")

    exports = [
        await owner.get(f"/c/{reply.conversation_id}/export.json"),
        await owner.get(f"/c/{reply.conversation_id}/export.md"),
    ]
    for action in ("export_json", "export_jsonl", "export_markdown"):
        exports.append(
            await review.post(
                "/admin/conversations/conversation/",
                {"action": action, "_selected_action": [str(reply.conversation_id)]},
            )
        )
    for export in exports:
        assert export.status_code == 200
        if export.streaming:  # JSON lines, read from the database as they are sent
            body = await sync_to_async(b"".join)(export.streaming_content)
        else:
            body = export.content
        assert_no_key(body.decode(), f"an export ({export['Content-Disposition']})")


@pytest.mark.parametrize("cut", [500, MAX_ERROR_DETAIL], ids=["logged-summary", "detail"])
async def test_a_long_error_body_is_cut_after_the_key_is_taken_out(fake_upstream, settings, cut):
    """An error keeps the relay's body up to a length (its message less): were it cut first,
    the key's first characters would stay."""
    settings.RESPONSES_API_KEY = KEY
    relay = {"behaviour": "http_error", "status": 400, "body": "text", "echo_key": True}
    fake_upstream.queue(relay)
    async with httpx.AsyncClient() as client:
        probe = await client.post(
            f"{fake_upstream.base_url}/responses",
            json={"model": "gpt-5.5", "input": "Hi"},
            headers={"Authorization": f"Bearer {KEY}"},
        )
    # Padding that puts the key across the cut, all but its last 4 characters before it.
    padding = cut - probe.text.index(KEY) - (len(KEY) - 4)
    fake_upstream.queue({**relay, "message": "x" * padding})

    with pytest.raises(UpstreamError) as caught:
        async for _event in upstream.stream_response({"model": "gpt-5.5", "input": "Hi"}):
            pass

    kept = f"{caught.value.detail}\n{caught.value}"
    assert "x" * padding in kept
    for start in range(len(KEY) - 12):
        assert KEY[start : start + 12] not in kept, "part of the key survived the cut"
