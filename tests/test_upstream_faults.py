"""Every upstream failure ends with the message stored, the reply stored with its true status
and partial text, and a plain sentence for the user (failure-cases.md 30-32)."""

import pytest

from conversations.models import Reply
from tests.chat_helpers import latest_reply, logged_in, send
from tests.conftest import wait_for_reply

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

TEXT = "One two three four five six seven eight nine ten eleven twelve."


async def run(user, behaviour: dict, fake) -> Reply:
    fake.queue(behaviour)
    client = await logged_in(user)
    await send(client, "Go")
    return await wait_for_reply((await latest_reply(user)).pk)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_before_first_token_are_retried_then_fail_clearly(
    alice, fake_upstream, status
):
    fake_upstream.queue(*[{"behaviour": "http_error", "status": status}] * 3)
    client = await logged_in(alice)

    await send(client, "Hello?")
    reply = await wait_for_reply((await latest_reply(alice)).pk, timeout=15)

    assert reply.status == Reply.Status.FAILED
    assert reply.error_code == "upstream_unavailable"
    assert reply.user_input == "Hello?"
    assert len(fake_upstream.requests) == 3  # the first try and two retries


async def test_server_error_then_success_completes(alice, fake_upstream):
    fake_upstream.queue(
        {"behaviour": "http_error", "status": 502}, {"behaviour": "ok", "text": TEXT}
    )
    client = await logged_in(alice)

    await send(client, "Hello?")
    reply = await wait_for_reply((await latest_reply(alice)).pk)

    assert reply.status == Reply.Status.COMPLETED and reply.text == TEXT


async def test_connection_cut_mid_reply_keeps_partial_text_as_interrupted(alice, fake_upstream):
    reply = await run(alice, {"behaviour": "cut", "text": TEXT, "after_tokens": 4}, fake_upstream)

    assert reply.status == Reply.Status.INTERRUPTED
    assert reply.text and TEXT.startswith(reply.text) and reply.text != TEXT
    assert reply.error_code == "cut"
    assert reply.usage_estimated and reply.output_tokens > 0 and reply.input_tokens > 0
    assert len(fake_upstream.requests) == 1  # never retried after the first token


async def test_stall_mid_reply_past_idle_timeout_is_interrupted(alice, fake_upstream, settings):
    settings.UPSTREAM_IDLE_TIMEOUT = 0.5
    reply = await run(
        alice, {"behaviour": "stall_mid", "text": TEXT, "after_tokens": 3}, fake_upstream
    )

    assert reply.status == Reply.Status.INTERRUPTED
    assert reply.error_code == "stalled"
    assert reply.text and TEXT.startswith(reply.text)


async def test_stall_before_first_token_fails_as_timeout(alice, fake_upstream, settings):
    settings.UPSTREAM_IDLE_TIMEOUT = 0.3
    settings.UPSTREAM_MAX_RETRIES = 0
    reply = await run(alice, {"behaviour": "stall_before"}, fake_upstream)

    assert reply.status == Reply.Status.FAILED
    assert reply.error_code == "timeout"
    assert reply.text == ""


@pytest.mark.parametrize("flat", [True, False])
async def test_mid_stream_error_event_fails_with_partial_text(alice, fake_upstream, flat):
    reply = await run(
        alice,
        {"behaviour": "error_event", "text": TEXT, "after_tokens": 3, "flat": flat},
        fake_upstream,
    )

    assert reply.status == Reply.Status.FAILED
    assert reply.text and TEXT.startswith(reply.text)
    assert reply.error_code == "upstream_failed"


async def test_response_failed_fails_with_partial_text(alice, fake_upstream):
    reply = await run(
        alice, {"behaviour": "failed", "text": TEXT, "after_tokens": 2}, fake_upstream
    )

    assert reply.status == Reply.Status.FAILED
    assert reply.text and TEXT.startswith(reply.text)


async def test_malformed_json_ends_as_failed_with_partial_text(alice, fake_upstream):
    reply = await run(
        alice, {"behaviour": "malformed", "text": TEXT, "after_tokens": 3}, fake_upstream
    )

    assert reply.status == Reply.Status.FAILED
    assert reply.error_code == "malformed"
    assert reply.text and TEXT.startswith(reply.text)


async def test_incomplete_is_stored_with_reason_and_usage(alice, fake_upstream):
    reply = await run(
        alice, {"behaviour": "incomplete", "text": TEXT, "after_tokens": 4}, fake_upstream
    )

    assert reply.status == Reply.Status.INCOMPLETE
    assert reply.incomplete_reason == "max_output_tokens"
    assert reply.error_code == "max_output_tokens"
    assert reply.output_tokens is not None and not reply.usage_estimated


@pytest.mark.parametrize(
    "quirk",
    [
        "done_marker",
        "comments",
        "unknown_events",
        "no_event_lines",
        "no_sequence",
        "crlf",
        "split_utf8",
        "empty_frames",
    ],
)
async def test_relay_quirks_do_not_change_the_text(alice, fake_upstream, quirk):
    text = "混合 text with emoji 🎉 and 中文字符, done."
    reply = await run(alice, {"behaviour": "ok", "text": text, quirk: True}, fake_upstream)

    assert reply.status == Reply.Status.COMPLETED
    assert reply.text == text


@pytest.mark.parametrize("scheme", ["responses", "chat"])
async def test_both_usage_naming_schemes_are_recorded(alice, fake_upstream, scheme):
    reply = await run(alice, {"behaviour": "ok", "text": TEXT, "usage": scheme}, fake_upstream)

    assert reply.input_tokens > 0 and reply.output_tokens > 0
    assert reply.total_tokens == reply.input_tokens + reply.output_tokens
    assert reply.input_cached_tokens == 0
    assert not reply.usage_estimated


async def test_refusal_is_kept_apart_from_text(alice, fake_upstream):
    reply = await run(alice, {"behaviour": "refusal", "text": "I can't help."}, fake_upstream)

    assert reply.status == Reply.Status.COMPLETED
    assert reply.refusal == "I can't help." and reply.text == ""


async def test_reasoning_summary_is_stored_apart(alice, fake_upstream):
    fake_upstream.queue({"behaviour": "ok", "text": TEXT, "reasoning": "Thinking it over."})
    client = await logged_in(alice)
    await send(client, "Why?", reasoning_summary="on", reasoning_effort="low")
    reply = await wait_for_reply((await latest_reply(alice)).pk)

    assert reply.reasoning_summary == "Thinking it over."
    assert reply.text == TEXT
    assert fake_upstream.requests[0]["json"]["reasoning"] == {"effort": "low", "summary": "auto"}


async def test_upstream_down_fails_clearly_after_retries(alice, fake_upstream, settings):
    settings.RESPONSES_API_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens there
    settings.UPSTREAM_MAX_RETRIES = 2  # backoff 0.5 s then 1 s (±25%): within the 2 s allowed
    client = await logged_in(alice)

    await send(client, "Anyone?")
    reply = await wait_for_reply((await latest_reply(alice)).pk)

    assert reply.status == Reply.Status.FAILED
    assert reply.error_code == "network"
    assert reply.attempts == 3  # the first try and both retries
    assert "127.0.0.1" not in reply.error_message


async def test_api_key_and_upstream_body_stay_out_of_the_log_and_the_user_message(
    alice, fake_upstream, caplog, settings
):
    fake_upstream.queue(
        {
            "behaviour": "http_error",
            "status": 400,
            "message": "Bad key sk-leak in body",
            "code": "invalid_value",
        }
    )
    client = await logged_in(alice)
    with caplog.at_level("DEBUG"):
        await send(client, "Hi")
        reply = await wait_for_reply((await latest_reply(alice)).pk)

    assert settings.RESPONSES_API_KEY not in caplog.text
    assert str(reply.pk) in caplog.text  # the log line names the reply, for the reference id
    assert "sk-leak" not in reply.error_message
    assert fake_upstream.requests[0]["headers"]["authorization"] == (
        f"Bearer {settings.RESPONSES_API_KEY}"
    )


# --- What the server holds in memory for one answer --------------------------------------------
LINE_BYTES = 16 * 1024 * 1024


async def test_a_line_past_the_cap_fails_the_reply_at_the_cap_and_keeps_the_text(
    alice, fake_upstream, settings
):
    # A relay that sends a 16 MiB line with no newline: the server stops reading it at the cap
    # (1 MiB here) instead of buffering it whole, and the reply keeps what arrived before it.
    settings.UPSTREAM_MAX_LINE_BYTES = 1024 * 1024
    reply = await run(
        alice,
        {"behaviour": "huge_line", "text": TEXT, "after_tokens": 3, "bytes": LINE_BYTES},
        fake_upstream,
    )

    assert reply.status == Reply.Status.FAILED
    assert reply.error_code == "too_large"
    assert reply.text and TEXT.startswith(reply.text) and reply.text != TEXT
    # Refused at the cap, as soon as the line passed it, not at the end of the body. (How much
    # the fake relay handed over before it noticed the closed connection depends on timing.)
    assert "line longer than 1048576 bytes" in reply.error_detail


async def test_an_event_past_the_cap_fails_the_reply_and_keeps_the_text(
    alice, fake_upstream, settings
):
    # Every delta is small; the closing events carry the whole text, past the cap.
    settings.UPSTREAM_MAX_EVENT_BYTES = 2000
    text = "word " * 500
    reply = await run(alice, {"behaviour": "ok", "text": text}, fake_upstream)

    assert reply.status == Reply.Status.FAILED
    assert reply.error_code == "too_large"
    assert reply.text == text


async def test_a_json_answer_past_the_cap_fails_the_reply(alice, fake_upstream, settings):
    settings.UPSTREAM_MAX_BODY_BYTES = 1000
    reply = await run(
        alice, {"behaviour": "ok", "text": "word " * 500, "ignore_stream": True}, fake_upstream
    )

    assert reply.status == Reply.Status.FAILED
    assert reply.error_code == "too_large"
    assert reply.error_message.startswith("The AI service sent a reply in pieces larger")
