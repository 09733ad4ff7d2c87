"""The app's models: the chat (users, conversations, replies) and usage accounting (the model
catalogue with prices, quotas, reservations and the usage ledger)."""

from conversations.models.attachments import Attachment
from conversations.models.chat import (
    ADVANCED_SETTINGS_FIELDS,
    SETTINGS_FIELDS,
    Conversation,
    ConversationBusy,
    OutputLimit,
    Reply,
    User,
)
from conversations.models.directory import DirectoryAccount
from conversations.models.feedback import Feedback as Feedback
from conversations.models.review import ReviewAccess
from conversations.models.rollup import DailyConversationUsage, DailyUsage  # noqa: F401
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
    "ADVANCED_SETTINGS_FIELDS",
    "SETTINGS_FIELDS",
    "AIModel",
    "Attachment",
    "Conversation",
    "ConversationBusy",
    "DirectoryAccount",
    "OutputLimit",
    "QuotaExceeded",
    "QuotaPolicy",
    "QuotaStatus",
    "RateLimited",
    "Reply",
    "Reservation",
    "ReviewAccess",
    "UsageEntry",
    "UsageMonth",
    "User",
]
