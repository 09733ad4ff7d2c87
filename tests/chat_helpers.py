"""Helpers for tests that send messages through the real views."""

import uuid

from django.test import AsyncClient

from conversations.models import Reply


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
