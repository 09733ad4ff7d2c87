"""The app's models: the chat (users, conversations, replies) and usage accounting (the model
catalogue with prices, quotas, reservations and the usage ledger)."""

from conversations.models.chat import (
    SETTINGS_FIELDS,
    Conversation,
    ConversationBusy,
    Reply,
    User,
)
from conversations.models.usage import (
    AIModel,
    QuotaExceeded,
    QuotaPolicy,
    QuotaStatus,
    RateLimited,
    Reservation,
    UsageEntry,
    UsageMonth,
)

__all__ = [
    "SETTINGS_FIELDS",
    "AIModel",
    "Conversation",
    "ConversationBusy",
    "QuotaExceeded",
    "QuotaPolicy",
    "QuotaStatus",
    "RateLimited",
    "Reply",
    "Reservation",
    "UsageEntry",
    "UsageMonth",
    "User",
]
