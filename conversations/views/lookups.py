"""One way to fetch a user's objects: scoped to the owner, anything else is a 404 (never a 403
that would confirm it exists)."""

import uuid

from django.http import Http404

from conversations.models import Conversation, Reply


def get_conversation_for_user(user, conversation_id: uuid.UUID) -> Conversation:
    try:
        return Conversation.objects.for_user(user).get(pk=conversation_id)
    except Conversation.DoesNotExist:
        raise Http404 from None


def get_reply_for_user(user, reply_id: uuid.UUID) -> Reply:
    try:
        return Reply.objects.select_related("conversation").get(
            pk=reply_id, conversation__in=Conversation.objects.for_user(user)
        )
    except Reply.DoesNotExist:
        raise Http404 from None
