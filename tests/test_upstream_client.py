"""The relay client on its own, over real HTTP to the fake upstream: any re-chunking of a
valid stream gives the same text, errors carry what the retry policy needs, usage maps both
naming schemes (failure-cases.md 32)."""

import asyncio
import itertools

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from conversations import upstream
from conversations.upstream import Finished, TextDelta, UpstreamError, parse_usage


async def collect(payload):
    text, final = "", None
    async for event in upstream.stream_response(payload):
        if isinstance(event, TextDelta):
            text += event.text
        elif isinstance(event, Finished):
            final = event
    return text, final


@hsettings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    text=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=200),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_any_rechunking_of_a_valid_stream_gives_the_same_text(fake_upstream, text, seed):
    fake_upstream.queue({"behaviour": "ok", "text": text, "rechunk": seed})
    got, final = asyncio.run(collect({"model": "gpt-5.5", "input": "hi"}))
    assert got == text
    assert final is not None and final.status == "completed"


@pytest.mark.asyncio
async def test_rate_limit_error_carries_retry_after(fake_upstream):
    fake_upstream.queue(
        {"behaviour": "http_error", "status": 429, "retry_after": 7, "body": "empty"}
    )
    with pytest.raises(UpstreamError) as caught:
        await collect({"model": "gpt-5.5", "input": "hi"})
    assert caught.value.status == 429 and caught.value.retry_after == 7.0
    assert caught.value.retryable


@pytest.mark.asyncio
async def test_chinese_relay_error_is_parsed(fake_upstream):
    fake_upstream.queue(
        {
            "behaviour": "http_error",
            "status": 403,
            "chinese": True,
            "code": "insufficient_user_quota",
        }
    )
    with pytest.raises(UpstreamError) as caught:
        await collect({"model": "gpt-5.5", "input": "hi"})
    assert caught.value.code == "insufficient_user_quota"
    assert not caught.value.retryable


@pytest.mark.asyncio
async def test_upstream_down_is_a_retryable_network_error(fake_upstream, settings):
    settings.RESPONSES_API_BASE_URL = "http://127.0.0.1:9/v1"  # nothing listens there
    with pytest.raises(UpstreamError) as caught:
        await collect({"model": "gpt-5.5", "input": "hi"})
    assert caught.value.kind == "network" and caught.value.retryable


@pytest.mark.asyncio
async def test_redirects_are_not_followed(fake_upstream, settings):
    # The fake's 307 points at its own endpoint, which would answer 200 with a reply.
    fake_upstream.queue({"behaviour": "http_error", "status": 307})
    with pytest.raises(UpstreamError) as caught:
        await collect({"model": "gpt-5.5", "input": "hi"})
    assert caught.value.status == 307
    assert len(fake_upstream.requests) == 1


@pytest.mark.asyncio
async def test_non_streaming_relay_answer_is_accepted(fake_upstream):
    # A relay that ignores "stream": true and answers with one JSON body (content as a string).
    fake_upstream.queue(
        {"behaviour": "ok", "text": "whole answer", "content_string": True, "ignore_stream": True}
    )
    text, final = await collect({"model": "gpt-5.5", "input": "hi"})
    assert final.status == "completed"
    assert text == "whole answer"


def test_usage_schemes_map_to_the_same_columns():
    responses = parse_usage(
        {
            "input_tokens": 10,
            "output_tokens": 5,
            "total_tokens": 15,
            "input_tokens_details": {"cached_tokens": 2},
            "output_tokens_details": {"reasoning_tokens": 3},
        }
    )
    chat = parse_usage(
        {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "total_tokens": 15,
            "prompt_tokens_details": {
                "cached_tokens": 2,
                "text_tokens": 8,
                "audio_tokens": 0,
                "image_tokens": 0,
            },
            "completion_tokens_details": {
                "text_tokens": 2,
                "audio_tokens": 0,
                "reasoning_tokens": 3,
            },
        }
    )
    for key in (
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "input_cached_tokens",
        "reasoning_tokens",
    ):
        assert responses[key] == chat[key]
    assert chat["input_text_tokens"] == 8 and responses["input_text_tokens"] is None


def test_missing_usage_fields_are_unknown_not_zero():
    assert parse_usage({"input_tokens": 4})["output_tokens"] is None
    assert parse_usage(None) == {}
    assert parse_usage({"input_tokens": "lots", "output_tokens": -3})["input_tokens"] is None


@pytest.mark.asyncio
async def test_the_first_token_comes_at_once_and_the_rest_in_batches(fake_upstream, settings):
    # 20 words 30 ms apart, read every 0.25 s after the first: the first word is not held back,
    # the others arrive a few at a time (in few distinct moments), and none is lost.
    settings.RELAY_READ_INTERVAL = 0.25
    words = [f"w{i} " for i in range(20)]
    fake_upstream.queue({"behaviour": "ok", "text": "".join(words), "delay_ms": 30})
    loop = asyncio.get_running_loop()
    deltas, times, asked_at = [], [], loop.time()
    async for event in upstream.stream_response({"model": "gpt-5.5", "input": "hi"}):
        if isinstance(event, TextDelta):
            deltas.append(event.text)
            times.append(loop.time())
    assert "".join(deltas) == "".join(words)
    assert times[0] - asked_at < 0.2  # (the fake's first word comes right after its head)
    moments = 1 + sum(later - earlier > 0.01 for earlier, later in itertools.pairwise(times))
    assert moments <= 6  # without batches: about 20
