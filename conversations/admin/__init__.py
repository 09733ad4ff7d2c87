"""The Django admin, one module per area. Each module registers its own model admins."""

from conversations.admin import accounts, chat, feedback, logins, review, usage  # noqa: F401
