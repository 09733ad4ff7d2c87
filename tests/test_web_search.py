"""Web search as a hosted tool: the catalogue decides which tools a model gets, the
conversation's setting decides the tool choice, and both reach the relay as sent."""

import pytest

from conversations.generation import build_payload
from conversations.models import AIModel, Conversation, Reply
from tests.chat_helpers import latest_reply, logged_in, send
from tests.conftest import wait_for_reply

pytestmark = pytest.mark.django_db(transaction=True)


def searching_model(**fields) -> AIModel:
    defaults = {"web_search": True, "web_search_context_size": "low"}
    return AIModel.objects.update_or_create(model_id="gpt-5.5", defaults={**defaults, **fields})[0]


def payload_for(alice, web_search: str, **conversation_fields) -> dict:
    conversation = Conversation.objects.create(
        owner=alice, model="gpt-5.5", web_search=web_search, **conversation_fields
    )
    reply = conversation.add_turn("What is in the news today?")
    return build_payload(Reply.objects.get(pk=reply.pk), conversation)


@pytest.mark.parametrize(
    ("setting", "choice"),
    [("auto", "auto"), ("always", {"type": "web_search"})],
)
def test_the_setting_becomes_the_tool_choice(alice, setting, choice):
    searching_model(web_search_domains=["example.org", "docs.example.net"])
    payload = payload_for(alice, setting)
    assert payload["tools"] == [
        {
            "type": "web_search",
            "search_context_size": "low",
            "filters": {"allowed_domains": ["example.org", "docs.example.net"]},
        }
    ]
    assert payload["tool_choice"] == choice


def test_off_leaves_the_tool_out(alice):
    searching_model()
    payload = payload_for(alice, "off")
    assert "tools" not in payload and "tool_choice" not in payload


def test_off_keeps_the_other_hosted_tools(alice):
    searching_model(image_generation=True)
    payload = payload_for(alice, "off")
    assert payload["tools"] == [{"type": "image_generation"}]
    assert payload["tool_choice"] == "auto"


def test_a_model_without_web_search_gets_no_tool_whatever_the_setting(alice):
    AIModel.objects.update_or_create(model_id="gpt-5.5", defaults={"web_search": False})
    assert "tools" not in payload_for(alice, "always")


def test_function_tools_stored_on_a_conversation_are_never_sent(alice):
    searching_model()
    function = {"type": "function", "name": "run_shell", "parameters": {}}
    payload = payload_for(alice, "auto", tools=[function], tool_choice="required")
    assert payload["tools"] == [{"type": "web_search", "search_context_size": "low"}]
    assert payload["tool_choice"] == "auto"


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("setting", "choice"),
    [("auto", "auto"), ("always", {"type": "web_search"}), ("off", None)],
)
async def test_the_tool_choice_reaches_the_relay(alice, fake_upstream, setting, choice):
    await AIModel.objects.aupdate_or_create(model_id="gpt-5.5", defaults={"web_search": True})
    client = await logged_in(alice)

    await send(client, "Hello", web_search=setting)

    reply = await wait_for_reply((await latest_reply(alice)).pk)
    assert reply.status == Reply.Status.COMPLETED
    sent = fake_upstream.requests[0]["json"]
    assert sent.get("tool_choice") == choice
    assert ("tools" in sent) == (choice is not None)
    assert reply.request_params.get("tool_choice") == choice
