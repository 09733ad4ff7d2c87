"""The audit record: stores who viewed or exported someone else's conversation, or downloaded
one of its files (reviews)."""

from conversations.models import Conversation, ReviewAccess

ACTIONS = (
    ReviewAccess.Action.VIEWED,
    ReviewAccess.Action.EXPORTED,
    ReviewAccess.Action.DOWNLOADED,
)


def record_access(actor, conversation: Conversation, action: str, detail: str = "") -> None:
    """Stores an audit entry when `actor` opens ("viewed") or exports ("exported") a
    conversation that is not their own, or downloads one of its files ("downloaded", the file
    in `detail`). The owner reading their own conversation is not recorded."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action: {action!r}")
    if actor.pk == conversation.owner_id:
        return
    owner = conversation.owner
    ReviewAccess.objects.create(
        actor=actor,
        actor_username=actor.get_username(),
        owner=owner,
        owner_username=owner.get_username(),
        conversation=conversation,
        conversation_ref=conversation.pk,
        conversation_title=conversation.title[:200],
        action=action,
        detail=detail[:300],
    )
