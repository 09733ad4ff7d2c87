"""Hosted tools between the relay and the client, over real HTTP to the fake upstream: when the
fake relay searches, draws or uses an unknown tool, and how upstream.py reads each of them
(typed events, citations from the annotation events and from the final response)."""

import asyncio
import base64
import io

import pytest
from PIL import Image

from conversations import upstream
from conversations.upstream import (
    CitationAdded,
    Finished,
    GeneratedImage,
    TextDelta,
    ToolActivity,
    UnknownItem,
    citation_of,
    citations_in,
)

SEARCH_TOOL = [{"type": "web_search"}]


def read(payload) -> list:
    async def collect():
        return [event async for event in upstream.stream_response(payload)]

    return asyncio.run(collect())


def of(events, kind) -> list:
    return [event for event in events if isinstance(event, kind)]


def text_of(events) -> str:
    return "".join(event.text for event in of(events, TextDelta))


def test_a_search_is_read_as_activity_with_its_query_then_citations(fake_upstream):
    fake_upstream.queue({"behaviour": "web_search", "query": "markets today"})
    events = read({"model": "gpt-5.5", "input": "hi", "tools": SEARCH_TOOL})

    activity = of(events, ToolActivity)
    assert activity[0] == ToolActivity("web_search", "searching", "")
    assert ToolActivity("web_search", "searching", "markets today") in activity
    assert activity[-1].status == "done"
    first_text = next(i for i, event in enumerate(events) if isinstance(event, TextDelta))
    assert all(events.index(event) < first_text for event in activity)

    text = text_of(events)
    cited = [event.citation for event in of(events, CitationAdded)]
    assert [c["url"] for c in cited] == [
        "https://news.example.org/2026/12/markets-open-higher",
        "https://www.example.com/guides/weather-this-week",
        "https://reference.example.net/wiki/Topic",
    ]
    for citation in cited:
        # Each citation's place is a sentence of the text that names its page.
        assert citation["title"] in text[citation["start_index"] : citation["end_index"]]
    final = of(events, Finished)[0]
    assert citations_in(final.response) == cited


def test_the_fake_relay_searches_only_when_the_request_lets_it(fake_upstream):
    def searched(message, **payload) -> bool:
        events = read({"model": "gpt-5.5", "input": message, **payload})
        return bool(of(events, ToolActivity))

    assert searched("What is in the news today?", tools=SEARCH_TOOL, tool_choice="auto")
    assert not searched("Tell me a joke", tools=SEARCH_TOOL, tool_choice="auto")
    assert searched("Tell me a joke", tools=SEARCH_TOOL, tool_choice={"type": "web_search"})
    assert not searched("What is in the news today?", tools=SEARCH_TOOL, tool_choice="none")
    assert not searched("What is in the news today?")
    assert len(fake_upstream.requests) == 5


def test_a_generated_image_is_read_from_its_item(fake_upstream):
    events = read(
        {
            "model": "gpt-5.5",
            "input": "Please draw a lighthouse",
            "tools": [{"type": "image_generation"}],
        }
    )
    images = of(events, GeneratedImage)
    assert len(images) == 1 and images[0].item_id
    with Image.open(io.BytesIO(base64.b64decode(images[0].data))) as image:
        assert image.format == "PNG" and image.size == (64, 64)
    assert text_of(events) == "Here is the image you asked for."


def test_an_item_of_an_unknown_type_is_reported_not_dropped(fake_upstream):
    fake_upstream.queue({"behaviour": "unknown_item"})
    events = read({"model": "gpt-5.5", "input": "hi"})
    assert of(events, UnknownItem) == [UnknownItem("hologram_call", "hx_fake0001")]
    assert of(events, Finished)[0].status == "completed"


def test_a_relay_that_refuses_the_tool_answers_400_naming_it(fake_upstream):
    fake_upstream.queue({"behaviour": "tool_refused"})
    with pytest.raises(upstream.UpstreamError) as raised:
        read({"model": "gpt-5.5", "input": "hi", "tools": SEARCH_TOOL})
    assert raised.value.status == 400 and raised.value.code == "unsupported_tool"
    assert "web_search" in raised.value.detail


def test_the_quirk_annotation_without_a_place_is_ignored(fake_upstream):
    """A relay's stray annotation event with no place in the text adds no citation."""
    fake_upstream.queue({"behaviour": "ok", "tokens": 40, "unknown_events": True})
    events = read({"model": "gpt-5.5", "input": "hi"})
    assert not of(events, CitationAdded)


@pytest.mark.parametrize(
    "annotation",
    [
        {"type": "file_citation", "file_id": "f"},
        {"type": "url_citation", "url": ""},
        {"type": "url_citation"},
        "https://example.org",
        None,
    ],
)
def test_annotations_that_are_not_url_citations_are_not_citations(annotation):
    assert citation_of(annotation) is None


def test_a_citation_keeps_its_fields_and_loses_the_api_key(settings):
    settings.RESPONSES_API_KEY = "sk-test-secret-key-0123456789"
    citation = citation_of(
        {
            "type": "url_citation",
            "url": "https://example.org/?key=sk-test-secret-key-0123456789",
            "title": "A page",
            "start_index": 9,
            "end_index": 3,
        }
    )
    assert "sk-test-secret" not in citation["url"]
    assert citation["title"] == "A page"
    assert (citation["start_index"], citation["end_index"]) == (3, 9)
