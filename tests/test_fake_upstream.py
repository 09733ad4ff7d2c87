"""The fake upstream speaks the relay's Responses API over real HTTP, with every fault on demand."""

# ruff: noqa: RUF001 (Chinese text uses full-width punctuation on purpose)

import json
import threading
import time

import httpx
import pytest
from httpx_sse import aconnect_sse

from conversations.fake_upstream import FakeUpstream
from conversations.fake_upstream.behaviours import BehaviourError, parse_directive
from conversations.fake_upstream.replies import CHINESE_REPLIES, ENGLISH_REPLIES
from conversations.fake_upstream.text import estimate_tokens, split_pieces

AUTH = {"Authorization": "Bearer test-key"}
TERMINAL = {"response.completed", "response.failed", "response.incomplete"}
MIXED_TEXT = "Hello, **world**!\n\n  Two spaces, 你好世界，再见。 `code` — done ✅\n"


@pytest.fixture(scope="module")
def fake():
    upstream = FakeUpstream(token_delay_ms=0).start()
    yield upstream
    upstream.stop()


@pytest.fixture
def client(fake):
    fake.reset()
    with httpx.Client(base_url=fake.base_url, headers=AUTH, timeout=5) as http:
        yield http


def post(client: httpx.Client, **body) -> httpx.Response:
    body.setdefault("model", "gpt-5.5")
    body.setdefault("input", "Hello there")
    return client.post("/responses", json=body)


def frames(raw: bytes) -> list[dict]:
    """The SSE frames of a body as {field: value}; comment lines dropped."""
    result = []
    for block in raw.decode().replace("\r\n", "\n").split("\n\n"):
        fields = {}
        for line in block.split("\n"):
            if line and not line.startswith(":"):
                name, _, value = line.partition(": ")
                fields[name] = value
        if fields:
            result.append(fields)
    return result


def events(raw: bytes) -> list[dict]:
    return [
        json.loads(frame["data"])
        for frame in frames(raw)
        if "data" in frame and frame["data"] != "[DONE]"
    ]


def streamed(client: httpx.Client, behaviour: dict | str | None = None, **body) -> list[dict]:
    fake_queue(client, behaviour)
    return events(post(client, stream=True, **body).content)


def fake_queue(client: httpx.Client, behaviour) -> None:
    if behaviour is not None:
        root = str(client.base_url).removesuffix("/v1/")
        httpx.post(f"{root}/__fake__/queue", json={"behaviours": [behaviour]}).raise_for_status()


def deltas(evts: list[dict], kind: str = "response.output_text.delta") -> str:
    return "".join(event["delta"] for event in evts if event["type"] == kind)


def types(evts: list[dict]) -> list[str]:
    return [event["type"] for event in evts]


def terminals(evts: list[dict]) -> list[dict]:
    return [event for event in evts if event["type"] in TERMINAL]


# --- Healthy replies --------------------------------------------------------------------------


def test_ok_stream_reassembles_the_exact_text_with_one_terminal_event(fake, client):
    fake.queue({"behaviour": "ok", "text": MIXED_TEXT})
    response = post(client, stream=True)
    assert response.headers["content-type"].startswith("text/event-stream")
    evts = events(response.content)
    assert deltas(evts) == MIXED_TEXT
    assert [e["sequence_number"] for e in evts] == list(range(len(evts)))
    assert terminals(evts) == [evts[-1]]
    final = evts[-1]["response"]
    assert final["status"] == "completed"
    assert final["id"].startswith("resp_")
    assert final["model"] == "gpt-5.5"
    assert final["output"][0]["content"][0] == {
        "type": "output_text",
        "text": MIXED_TEXT,
        "annotations": [],
    }
    assert final["usage"]["output_tokens"] == len(split_pieces(MIXED_TEXT))


def test_ok_stream_follows_the_typical_event_order(client):
    evts = streamed(client, {"behaviour": "ok", "text": "one two three"})
    assert types(evts) == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 3,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["delta"] for e in evts[4:7]] == ["one ", "two ", "three"]


def test_cjk_text_is_split_one_or_two_characters_per_delta():
    assert split_pieces("你好世界。Hi there") == ["你好", "世界", "。", "Hi ", "there"]


def test_default_reply_is_a_stable_demo_reply_in_the_users_language(client):
    first = deltas(streamed(client, input="How do I write a status update?"))
    again = deltas(streamed(client, input="How do I write a status update?"))
    chinese = deltas(streamed(client, input="帮我写一份周报"))
    assert first == again
    assert first in ENGLISH_REPLIES
    assert chinese in CHINESE_REPLIES


def test_demo_replies_are_varied_markdown_that_say_they_are_simulated():
    replies = ENGLISH_REPLIES + CHINESE_REPLIES
    assert len(replies) >= 8
    assert len(CHINESE_REPLIES) >= 2
    assert all(reply.startswith(("*(Demo reply", "*（演示回复")) for reply in replies)
    assert all(120 <= estimate_tokens(reply) <= 400 for reply in replies)
    joined = "\n".join(replies)
    for marker in ("|---|", "```python", "```sql", "\n> ", "\n1. ", "\n- "):
        assert marker in joined


def test_tokens_parameter_gives_that_many_deltas(client):
    evts = streamed(client, {"behaviour": "ok", "tokens": 37})
    assert types(evts).count("response.output_text.delta") == 37
    assert evts[-1]["response"]["usage"]["output_tokens"] == 37


def test_delay_ms_paces_the_deltas(client):
    started = time.monotonic()
    streamed(client, {"behaviour": "ok", "text": "a b c d e f", "delay_ms": 25})
    assert time.monotonic() - started >= 0.14


def test_non_streamed_reply_is_one_response_object(fake, client):
    fake.queue({"behaviour": "ok", "text": "Plain answer."})
    body = post(client, instructions="Be brief.").json()
    assert body["object"] == "response"
    assert body["status"] == "completed"
    assert body["model"] == "gpt-5.5"
    assert body["output"] == [
        {
            "id": body["output"][0]["id"],
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Plain answer.", "annotations": []}],
        }
    ]
    usage = body["usage"]
    assert usage["input_tokens"] == estimate_tokens("Hello there\nBe brief.")
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_non_streamed_content_can_be_a_plain_string_like_the_seed(fake, client):
    fake.queue({"behaviour": "ok", "text": "你好", "content_string": True})
    assert post(client).json()["output"][0]["content"] == "你好"


def test_usage_in_chat_naming(fake, client):
    fake.queue({"behaviour": "ok", "text": "a b c", "usage": "chat", "cached": 2})
    usage = post(client, input="x" * 40).json()["usage"]
    assert usage == {
        "prompt_tokens": 10,
        "completion_tokens": 3,
        "total_tokens": 13,
        "prompt_tokens_details": {
            "cached_tokens": 2,
            "text_tokens": 10,
            "audio_tokens": 0,
            "image_tokens": 0,
        },
        "completion_tokens_details": {"text_tokens": 3, "audio_tokens": 0, "reasoning_tokens": 0},
    }


def test_usage_in_responses_naming_and_none(fake, client):
    fake.queue({"behaviour": "ok", "text": "a b"}, {"behaviour": "ok", "usage": "none"})
    assert post(client, input="你好吗").json()["usage"] == {
        "input_tokens": 3,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 2,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 5,
    }
    evts = streamed(client)
    assert all("usage" not in e.get("response", {}) for e in evts)


def test_reasoning_summary_streams_before_the_message(client):
    evts = streamed(client, {"behaviour": "ok", "text": "Answer."}, reasoning={"summary": "auto"})
    order = types(evts)
    assert order.index("response.reasoning_summary_part.added") < order.index(
        "response.reasoning_summary_text.delta"
    )
    assert order.index("response.reasoning_summary_part.done") < order.index(
        "response.content_part.added"
    )
    summary = deltas(evts, "response.reasoning_summary_text.delta")
    assert summary.startswith("**Understanding the request**")
    final = evts[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["reasoning", "message"]
    reasoning_tokens = order.count("response.reasoning_summary_text.delta")
    assert final["usage"]["output_tokens_details"]["reasoning_tokens"] == reasoning_tokens
    assert final["usage"]["output_tokens"] == reasoning_tokens + 1


def test_reasoning_parameter_sets_the_summary(client):
    evts = streamed(client, {"behaviour": "ok", "reasoning": "Thinking it over."})
    assert deltas(evts, "response.reasoning_summary_text.delta") == "Thinking it over."


# --- Faults -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("behaviour", "status", "error_type", "message_part"),
    [
        ({"behaviour": "http_error"}, 500, "server_error", "The server had an error"),
        ({"behaviour": "http_error", "status": 403, "chinese": True}, 403, "new_api_error", "额度"),
        (
            {"behaviour": "http_error", "status": 400, "message": "Bad!"},
            400,
            "invalid_request_error",
            "Bad!",
        ),
    ],
)
def test_http_error_json_body(fake, client, behaviour, status, error_type, message_part):
    fake.queue(behaviour)
    response = post(client, stream=True)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == error_type
    assert message_part in error["message"]


def test_http_error_retry_after_empty_and_text_bodies(fake, client):
    fake.queue(
        {"behaviour": "http_error", "status": 429, "retry_after": 2, "body": "empty"},
        {"behaviour": "http_error", "status": 502, "body": "text"},
    )
    limited = post(client)
    assert (limited.status_code, limited.headers["retry-after"], limited.content) == (429, "2", b"")
    gateway = post(client)
    assert gateway.status_code == 502
    assert gateway.headers["content-type"] == "text/html"
    assert "502" in gateway.text


def test_stall_before_sends_headers_then_silence(fake, client):
    fake.queue({"behaviour": "stall_before", "seconds": 0.4, "text": "late"})
    started = time.monotonic()
    with client.stream(
        "POST", "/responses", json={"model": "m", "input": "x", "stream": True}
    ) as r:
        assert r.status_code == 200
        assert time.monotonic() - started < 0.3
        body = r.read()
    assert time.monotonic() - started >= 0.4
    assert deltas(events(body)) == "late"


def test_stall_before_times_out_a_client_read(fake, client):
    fake.queue("stall_before")
    body = {"model": "m", "input": "x", "stream": True}
    timeout = httpx.Timeout(5, read=0.2)
    with client.stream("POST", "/responses", json=body, timeout=timeout) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            response.read()


def test_stall_mid_goes_silent_after_some_deltas(fake, client):
    fake.queue({"behaviour": "stall_mid", "text": "a b c d", "after_tokens": 2, "seconds": 0.3})
    arrivals = []
    with client.stream(
        "POST", "/responses", json={"model": "m", "input": "x", "stream": True}
    ) as r:
        for line in r.iter_lines():
            if line.startswith("data:") and "output_text.delta" in line:
                arrivals.append(time.monotonic())
    assert len(arrivals) == 4
    assert arrivals[2] - arrivals[1] >= 0.25


def test_cut_ends_the_body_without_a_terminal_event(client):
    evts = streamed(client, {"behaviour": "cut", "text": "a b c d e f", "after_tokens": 3})
    assert deltas(evts) == "a b c "
    assert terminals(evts) == []


def test_cut_with_abort_breaks_the_chunked_body(fake, client):
    fake.queue({"behaviour": "cut", "text": "a b c d e f", "after_tokens": 3, "abort": True})
    received = b""
    with pytest.raises(httpx.RemoteProtocolError):
        with client.stream(
            "POST", "/responses", json={"model": "m", "input": "x", "stream": True}
        ) as r:
            for chunk in r.iter_bytes():
                received += chunk
    assert deltas(events(received)) == "a b c "


@pytest.mark.parametrize("flat", [False, True])
def test_error_event_then_response_failed(client, flat):
    evts = streamed(
        client, {"behaviour": "error_event", "text": "a b c", "after_tokens": 1, "flat": flat}
    )
    assert deltas(evts) == "a "
    error = evts[-2]
    assert error["type"] == "error"
    details = error if flat else error["error"]
    assert details["code"] == "server_error"
    assert "message" in details
    assert evts[-1]["type"] == "response.failed"


def test_error_event_without_response_failed(client):
    evts = streamed(
        client, {"behaviour": "error_event", "then_failed": False, "code": "overloaded"}
    )
    assert evts[-1]["type"] == "error"
    assert evts[-1]["error"]["code"] == "overloaded"
    assert terminals(evts) == []


def test_failed_carries_the_error(client):
    evts = streamed(client, {"behaviour": "failed", "code": "upstream_error", "message": "Boom"})
    assert terminals(evts) == [evts[-1]]
    response = evts[-1]["response"]
    assert response["status"] == "failed"
    assert response["error"] == {"code": "upstream_error", "message": "Boom"}


def test_incomplete_keeps_partial_text_and_usage(client):
    evts = streamed(
        client,
        {
            "behaviour": "incomplete",
            "text": "a b c d",
            "after_tokens": 2,
            "reason": "content_filter",
        },
    )
    assert deltas(evts) == "a b "
    response = evts[-1]["response"]
    assert evts[-1]["type"] == "response.incomplete"
    assert response["incomplete_details"] == {"reason": "content_filter"}
    assert response["usage"]["output_tokens"] == 2


def test_malformed_sends_a_data_line_that_is_not_json(fake, client):
    fake.queue({"behaviour": "malformed", "text": "a b c", "after_tokens": 2})
    last = frames(post(client, stream=True).content)[-1]["data"]
    with pytest.raises(ValueError):
        json.loads(last)


def test_refusal_streams_refusal_deltas(client):
    evts = streamed(client, "refusal")
    assert deltas(evts, "response.refusal.delta") == "I can't help with that."
    assert deltas(evts) == ""
    assert "response.refusal.done" in types(evts)
    assert evts[-1]["response"]["output"][0]["content"][0]["type"] == "refusal"


@pytest.mark.parametrize(
    ("behaviour", "status"),
    [("failed", "failed"), ("incomplete", "incomplete"), ("refusal", "completed")],
)
def test_non_streamed_faults_are_response_objects(fake, client, behaviour, status):
    fake.queue(behaviour)
    assert post(client).json()["status"] == status


def test_non_streamed_cut_gives_invalid_json(fake, client):
    fake.queue("cut")
    with pytest.raises(ValueError):
        post(client).json()


# --- Relay quirks -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quirk", "check"),
    [
        ("done_marker", lambda raw: raw.endswith(b"data: [DONE]\n\n")),
        ("comments", lambda raw: b"\n: PING\n" in raw),
        ("unknown_events", lambda raw: b"response.audio.delta" in raw and b'"logprobs"' in raw),
        ("no_event_lines", lambda raw: b"event:" not in raw),
        ("no_sequence", lambda raw: b"sequence_number" not in raw),
        ("crlf", lambda raw: raw.count(b"\n") == raw.count(b"\r\n")),
        ("empty_frames", lambda raw: b"\nretry: 1000\n" in raw and b"\nid: 7\n" in raw),
    ],
)
def test_quirks_keep_the_text_intact(fake, client, quirk, check):
    fake.queue({"behaviour": "ok", "text": MIXED_TEXT, quirk: True})
    raw = post(client, stream=True).content
    assert check(raw)
    evts = events(raw)
    assert deltas(evts) == MIXED_TEXT
    assert len(terminals(evts)) == 1


def _raw_stream(fake, client, **params) -> tuple[bytes, list[bytes]]:
    fake.queue({"text": MIXED_TEXT * 3, "response_id": "resp_fixed", "created_at": 1, **params})
    chunks = []
    with client.stream(
        "POST", "/responses", json={"model": "m", "input": "x", "stream": True}
    ) as r:
        chunks = list(r.iter_raw())
    return b"".join(chunks), chunks


def test_split_utf8_and_rechunk_send_the_same_bytes(fake, client):
    plain, _ = _raw_stream(fake, client)
    split, split_chunks = _raw_stream(fake, client, split_utf8=True)
    rechunked, _ = _raw_stream(fake, client, rechunk=7)
    assert plain == split == rechunked
    assert deltas(events(plain)) == MIXED_TEXT * 3
    assert any(_broken_utf8(chunk) for chunk in split_chunks)


def _broken_utf8(chunk: bytes) -> bool:
    try:
        chunk.decode()
    except UnicodeDecodeError:
        return True
    return False


@pytest.mark.asyncio
async def test_quirky_stream_parses_with_httpx_sse(fake):
    fake.reset()
    fake.queue({"text": MIXED_TEXT, "crlf": True, "comments": True, "empty_frames": True})
    body = {"model": "m", "input": "x", "stream": True}
    async with httpx.AsyncClient(headers=AUTH) as http:
        async with aconnect_sse(http, "POST", f"{fake.base_url}/responses", json=body) as source:
            evts = [json.loads(sse.data) async for sse in source.aiter_sse() if sse.data]
    assert deltas(evts) == MIXED_TEXT


# --- Choosing behaviours ----------------------------------------------------------------------


def test_directive_parsing():
    behaviour = parse_directive(
        'Hi [[fake:http_error status=429 retry_after=2.5 chinese=true text="a ]] b" mode=fast]] ok'
    )
    assert behaviour.name == "http_error"
    assert behaviour.params == {
        "status": 429,
        "retry_after": 2.5,
        "chinese": True,
        "text": "a ]] b",
        "mode": "fast",
    }
    assert parse_directive("no directive here") is None
    with pytest.raises(BehaviourError):
        parse_directive("[[fake:explode]]")


def test_directive_in_the_last_user_message_chooses_the_behaviour(client):
    history = [
        {"role": "user", "content": "[[fake:cut]] earlier"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "input_text", "text": '[[fake:ok text="hi!"]]'}]},
    ]
    assert deltas(streamed(client, input=history)) == "hi!"
    assert post(client, input="[[fake:explode]]").status_code == 400


def test_queue_is_first_in_first_out_and_beats_directives(fake, client):
    fake.queue("refusal", {"behaviour": "ok", "text": "second"})
    directive = '[[fake:ok text="third"]]'
    assert deltas(streamed(client, input=directive), "response.refusal.delta")
    assert deltas(streamed(client, input=directive)) == "second"
    assert deltas(streamed(client, input=directive)) == "third"


def test_queue_rejects_unknown_behaviours(fake):
    with pytest.raises(ValueError):
        fake.queue("explode")


# --- Conversation state, auth and validation -------------------------------------------------


def test_previous_response_id_must_be_one_the_fake_produced(fake, client):
    missing = post(client, previous_response_id="resp_nope")
    assert missing.status_code == 400
    assert missing.json() == {
        "error": {
            "message": "Previous response with id 'resp_nope' not found.",
            "type": "invalid_request_error",
            "param": "previous_response_id",
            "code": "previous_response_not_found",
        }
    }
    first = post(client).json()["id"]
    assert post(client, previous_response_id=first).status_code == 200


def test_forget_responses_simulates_another_upstream_account(fake, client):
    first = post(client).json()["id"]
    fake.forget_responses()
    assert post(client, previous_response_id=first).status_code == 400
    later = post(client).json()["id"]
    assert post(client, previous_response_id=later).status_code == 200
    fake.forget_responses(always=True)
    newest = post(client).json()["id"]
    assert post(client, previous_response_id=newest).status_code == 400
    fake.queue({"behaviour": "http_error", "status": 503})
    assert post(client, previous_response_id=newest).status_code == 503
    fake.reset()
    newest = post(client).json()["id"]
    assert post(client, previous_response_id=newest).status_code == 200


def test_requests_are_logged_with_body_and_headers(fake, client):
    post(client, input="logged")
    [entry] = fake.requests
    assert entry["json"] == {"model": "gpt-5.5", "input": "logged"}
    assert entry["headers"]["authorization"] == "Bearer test-key"
    assert abs(entry["time"] - time.time()) < 5


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer"}, {"Authorization": "Basic x"}])
def test_requests_without_a_bearer_key_get_401(fake, headers):
    response = httpx.post(
        f"{fake.base_url}/responses", json={"model": "m", "input": "x"}, headers=headers
    )
    assert response.status_code == 401
    assert "API key" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "param"),
    [({"input": "x"}, "model"), ({"model": "m"}, "input"), ("not json", None)],
)
def test_requests_without_model_or_input_get_400(fake, client, body, param):
    fake.queue("ok")
    response = client.post(
        "/responses", content=json.dumps(body) if isinstance(body, dict) else body
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param
    assert post(client).status_code == 200
    assert fake.requests[-1]["json"]["model"] == "gpt-5.5"


def test_unknown_paths_are_404(fake):
    assert httpx.get(fake.base_url.removesuffix("/v1") + "/v1/models").status_code == 404


def test_control_endpoints_over_http(fake, client):
    root = fake.base_url.removesuffix("/v1")
    queued = httpx.post(f"{root}/__fake__/queue", json={"behaviours": ["cut", {"behaviour": "ok"}]})
    assert queued.json() == {"queued": 2}
    assert httpx.post(f"{root}/__fake__/queue", json={"behaviours": ["explode"]}).status_code == 400
    first = post(client, stream=True)
    assert terminals(events(first.content)) == []
    response_id = post(client).json()["id"]
    logged = httpx.get(f"{root}/__fake__/requests").json()
    assert [entry["json"]["input"] for entry in logged] == ["Hello there", "Hello there"]
    httpx.post(f"{root}/__fake__/forget").raise_for_status()
    assert post(client, previous_response_id=response_id).status_code == 400
    httpx.post(f"{root}/__fake__/reset").raise_for_status()
    assert httpx.get(f"{root}/__fake__/requests").json() == []


# --- Lifecycle --------------------------------------------------------------------------------


def test_stop_ends_stalled_streams_promptly():
    upstream = FakeUpstream().start()
    upstream.queue("stall_mid")
    body = {"model": "m", "input": "x", "stream": True}
    with httpx.Client(headers=AUTH, timeout=10) as http:
        with http.stream("POST", f"{upstream.base_url}/responses", json=body) as response:
            assert response.status_code == 200
            started = time.monotonic()
            upstream.stop()
            assert time.monotonic() - started < 2
            rest = response.read()
    assert terminals(events(rest)) == []


def test_starting_and_stopping_many_times_leaks_no_threads():
    before = threading.active_count()
    for _ in range(4):
        with FakeUpstream() as upstream:
            assert httpx.post(f"{upstream.base_url}/responses").status_code == 401
    upstream.stop()  # a second stop is harmless
    assert threading.active_count() == before


def test_a_restarted_fake_keeps_its_port_so_tests_can_take_the_upstream_down():
    upstream = FakeUpstream().start()
    url = f"{upstream.base_url}/responses"
    upstream.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.post(url, headers=AUTH, json={"model": "m", "input": "x"})
    with upstream:
        assert httpx.post(url, headers=AUTH, json={"model": "m", "input": "x"}).status_code == 200
