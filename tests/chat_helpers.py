"""Helpers for tests that send messages through the real views, or need a finished chat."""

import uuid

from django.test import AsyncClient

from conversations.models import Conversation, Reply


async def logged_in(user) -> AsyncClient:
    client = AsyncClient()
    await client.aforce_login(user)
    return client


async def send(client: AsyncClient, message: str, conversation="", token=None, htmx=True, **fields):
    data = {
        "message": message,
        "conversation": str(conversation or ""),
        "client_token": str(token or uuid.uuid4()),
        "model": "gpt-5.5",
        "truncation": "auto",
        **fields,
    }
    headers = {"HX-Request": "true"} if htmx else {}
    return await client.post("/send/", data, headers=headers)


async def latest_reply(user) -> Reply:
    return await Reply.objects.filter(user=user).order_by("-created_at").afirst()


def conversation_of(owner, title, message="Hello", reply="Hi there.", **fields) -> Conversation:
    """A conversation with one finished turn, as if it had been sent and answered."""
    conversation = Conversation.objects.create(owner=owner, title=title, model="gpt-5.5", **fields)
    turn = conversation.add_turn(message)
    Reply.objects.filter(pk=turn.pk).update(status=Reply.Status.COMPLETED, text=reply)
    return conversation
