"""The composer as the server renders it (issue 15, points 2 and 7): Send or Stop by the
reply's state, the slow-reply delay given to the page, the settings (custom instructions under
the box, the rest in "Advanced"), which administrators can hide (SHOW_ADVANCED_SETTINGS: then
neither shown nor accepted), and the note of a reply cut short that names the length limit
that applied (the conversation's, the quota's or the model's)."""

import re
import uuid

import pytest
from django.utils import timezone

from conversations.models import Conversation, OutputLimit, QuotaPolicy, Reply
from tests.chat_helpers import latest_reply, logged_in, send
from tests.conftest import wait_for_reply

ADVANCED = ["temperature", "top_p", "max_output_tokens", "reasoning_effort", "reasoning_summary",
            "truncation"]  # fmt: skip
TEXT = "One two three four five six seven eight nine ten eleven twelve."


def composer_of(page: str) -> str:
    start = page.index('<form id="composer"')
    return page[start : page.index("</form>", page.index("settings-panel"))]


def button(page: str, css_class: str) -> str:
    return re.search(rf'<button type="submit" class="primary {css_class}"[^>]*>', page).group(0)


@pytest.mark.django_db
def test_the_composer_shows_send_or_stop_by_the_state_of_the_reply(alice, alice_client, settings):
    settings.REPLY_SLOW_NOTICE_SECONDS = 1.5
    conversation = Conversation.objects.create(owner=alice, model="gpt-5.5")
    reply = Reply.objects.create(
        conversation=conversation, user=alice, user_input="Hi", model="gpt-5.5",
        status=Reply.Status.IN_PROGRESS, worker="elsewhere:1", heartbeat_at=timezone.now(),
    )  # fmt: skip

    page = alice_client.get(f"/c/{conversation.pk}/").text
    assert "hidden" in button(page, "send")
    stop = button(page, "stop")
    assert f'formaction="/r/{reply.pk}/stop/"' in stop and "hidden" not in stop
    assert 'data-slow-after="1.5"' in page
    # The composer comes before the transcript in the page (Tab reaches it first).
    assert page.index('id="composer"') < page.index('id="transcript"')

    Reply.objects.filter(pk=reply.pk).update(status=Reply.Status.COMPLETED, text="Done.")
    page = alice_client.get(f"/c/{conversation.pk}/").text
    assert "hidden" not in button(page, "send") and "hidden" in button(page, "stop")


@pytest.mark.django_db
def test_without_javascript_the_composers_stop_stops_the_reply(alice, alice_client):
    conversation = Conversation.objects.create(owner=alice, model="gpt-5.5")
    reply = Reply.objects.create(
        conversation=conversation, user=alice, user_input="Hi", model="gpt-5.5",
        status=Reply.Status.IN_PROGRESS, worker="elsewhere:1", heartbeat_at=timezone.now(),
    )  # fmt: skip
    page = alice_client.get(f"/c/{conversation.pk}/").text
    action = re.search(r'formaction="([^"]+)"', button(page, "stop")).group(1)
    # What the browser posts: the composer's fields, to the Stop button's formaction.
    response = alice_client.post(
        action, {"message": "", "conversation": conversation.pk, "client_token": uuid.uuid4()}
    )
    assert response.status_code == 302
    assert Reply.objects.get(pk=reply.pk).stop_requested


@pytest.mark.django_db
def test_settings_show_instructions_under_the_box_and_the_rest_in_advanced(alice_client):
    page = composer_of(alice_client.get("/").text)
    assert "Custom instructions" in page and 'name="instructions"' in page
    assert page.index('name="instructions"') < page.index(">Advanced<")
    for name in ADVANCED:
        field = re.search(rf'<(input|select)[^>]*name="{name}"[^>]*>', page).group(0)
        assert f'aria-describedby="id_{name}_helptext"' in field
        help_text = re.search(rf'id="id_{name}_helptext">([^<]+)<', page).group(1)
        assert help_text.strip().endswith((".", "。")), help_text


@pytest.mark.django_db
def test_hidden_advanced_settings_are_neither_shown_nor_accepted(alice, alice_client, settings):
    settings.SHOW_ADVANCED_SETTINGS = False
    conversation = Conversation.objects.create(
        owner=alice, model="gpt-5.5", temperature=0.7, max_output_tokens=500
    )
    page = composer_of(alice_client.get(f"/c/{conversation.pk}/").text)
    assert 'name="instructions"' in page
    assert ">Advanced<" not in page
    for name in ADVANCED:
        assert f'name="{name}"' not in page

    posted = {
        "model": "gpt-5.5", "instructions": "Be brief.", "temperature": "1.9", "top_p": "0.1",
        "max_output_tokens": "20", "reasoning_effort": "high", "reasoning_summary": "on",
        "truncation": "disabled",
    }  # fmt: skip
    response = alice_client.post(f"/c/{conversation.pk}/settings/", posted)
    assert response.status_code == 302
    conversation.refresh_from_db()
    assert conversation.instructions == "Be brief."
    assert (conversation.temperature, conversation.max_output_tokens) == (0.7, 500)
    assert (conversation.top_p, conversation.reasoning_effort) == (None, "")
    assert (conversation.reasoning_summary, conversation.truncation) == (False, "auto")


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_send_with_hidden_advanced_settings_ignores_them(alice, fake_upstream, settings):
    settings.SHOW_ADVANCED_SETTINGS = False
    fake_upstream.queue({"behaviour": "ok", "text": "Hello."})
    client = await logged_in(alice)
    await send(client, "Hi", temperature="1.9", max_output_tokens="20", truncation="disabled")
    reply = await wait_for_reply((await latest_reply(alice)).pk)
    conversation = await Conversation.objects.aget(pk=reply.conversation_id)
    assert (conversation.temperature, conversation.max_output_tokens) == (None, None)
    assert conversation.truncation == "auto"
    sent = fake_upstream.requests[0]["json"]
    assert "temperature" not in sent and "max_output_tokens" not in sent
    assert sent["truncation"] == "auto"


# ---- A reply cut short by its length limit names the limit that applied ----


async def cut_short(user, fake, **fields) -> tuple[Reply, str]:
    fake.queue({"behaviour": "incomplete", "text": TEXT, "after_tokens": 4})
    client = await logged_in(user)
    await send(client, "Go", **fields)
    reply = await wait_for_reply((await latest_reply(user)).pk)
    assert (reply.status, reply.error_code) == ("incomplete", "max_output_tokens")
    page = (await client.get(f"/c/{reply.conversation_id}/")).text
    note = re.search(r'<p class="reply-error">(.*?) <span class="reference">', page, re.S).group(1)
    return reply, note


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_conversations_length_limit_is_named(alice, fake_upstream):
    reply, note = await cut_short(alice, fake_upstream, max_output_tokens="1200")
    assert reply.output_limit == OutputLimit.CONVERSATION
    assert fake_upstream.requests[0]["json"]["max_output_tokens"] == 1200
    assert note == (
        "The reply reached the length limit set in this conversation&#x27;s settings "
        "(1,200 tokens)."
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_quotas_length_limit_is_named(alice, fake_upstream):
    await QuotaPolicy.objects.acreate(scope="default", monthly_token_limit=1000)
    reply, note = await cut_short(alice, fake_upstream, max_output_tokens="5000")
    assert reply.output_limit == OutputLimit.QUOTA
    cap = fake_upstream.requests[0]["json"]["max_output_tokens"]
    assert 256 <= cap < 1000
    assert note == (
        f"The reply reached the length your monthly quota left room for ({cap:,} tokens)."
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_the_models_length_limit_is_named(alice, fake_upstream):
    reply, note = await cut_short(alice, fake_upstream)
    assert reply.output_limit == OutputLimit.MODEL
    assert "max_output_tokens" not in fake_upstream.requests[0]["json"]
    assert note == "The reply reached the longest reply this model can write."


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_request_sent_again_with_the_whole_history_keeps_the_quotas_limit(
    alice, fake_upstream
):
    await QuotaPolicy.objects.acreate(scope="default", monthly_token_limit=5000)
    client = await logged_in(alice)
    await send(client, "Remember the number 7.")
    first = await wait_for_reply((await latest_reply(alice)).pk)
    fake_upstream.forget_responses()
    await send(client, "Which number?", conversation=first.conversation_id)
    second = await wait_for_reply((await latest_reply(alice)).pk)

    assert second.sent_full_history and second.output_limit == OutputLimit.QUOTA
    chained, again = (request["json"] for request in fake_upstream.requests[1:])
    assert "previous_response_id" in chained and isinstance(again["input"], list)
    assert again["max_output_tokens"] == chained["max_output_tokens"] < 5000
    assert second.request_params["max_output_tokens"] == again["max_output_tokens"]


@pytest.mark.django_db
def test_an_older_reply_cut_short_keeps_its_stored_sentence(alice, alice_client):
    conversation = Conversation.objects.create(owner=alice, model="gpt-5.5")
    Reply.objects.create(
        conversation=conversation, user=alice, user_input="Hi", model="gpt-5.5", text="Half",
        status=Reply.Status.INCOMPLETE, error_code="max_output_tokens",
        error_message="The reply reached the maximum length set for this conversation.",
    )  # fmt: skip
    page = alice_client.get(f"/c/{conversation.pk}/").text
    assert "The reply reached the maximum length set for this conversation." in page
