"""`manage.py purge_conversations [--dry-run]`: deletes conversations whose last activity is older
than CONVERSATION_RETENTION_DAYS (and, when KEEP_DELETED_CONVERSATIONS is off, those their
owners deleted), except those under a legal hold. Prints each one and the count; the usage
ledger keeps its entries (their links to the conversation become empty)."""

from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from conversations.models import Conversation

BATCH = 500


class Command(BaseCommand):
    help = "Delete conversations past the retention period, except those under a legal hold."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be deleted; change nothing."
        )

    def handle(self, *args, dry_run: bool, **options) -> None:
        days = settings.CONVERSATION_RETENTION_DAYS
        deleted_too = not settings.KEEP_DELETED_CONVERSATIONS
        if days is None and not deleted_too:
            self.stdout.write(
                "Retention is not set (CONVERSATION_RETENTION_DAYS): nothing to purge."
            )
            return
        cutoff = timezone.now() - timedelta(days=days) if days is not None else None
        if days is not None:
            self.stdout.write(
                f"Retention: {days} days (last activity before {cutoff:%Y-%m-%d %H:%M %Z})."
            )
        due = Conversation.objects.due_for_purge(cutoff, deleted_too)
        held = due.under_hold().count()
        doomed = list(
            Conversation.objects.purgeable(cutoff, deleted_too)
            .select_related("owner")
            .order_by("updated_at")
            .only("id", "title", "updated_at", "deleted_at", "owner__username")
        )
        verb = "would delete" if dry_run else "deleting"
        for conversation in doomed:
            self.stdout.write(_line(verb, conversation))
        if not dry_run:
            _delete([conversation.pk for conversation in doomed], cutoff, deleted_too)
        summary = "would be deleted (dry run: nothing changed)" if dry_run else "deleted"
        self.stdout.write(f"{len(doomed)} conversation(s) {summary}; {held} kept under legal hold.")


def _line(verb: str, conversation: Conversation) -> str:
    deleted = " (deleted by its owner)" if conversation.deleted_at else ""
    return (
        f"{verb} {conversation.pk} owner={conversation.owner.get_username()} "
        f"last activity {conversation.updated_at:%Y-%m-%d}{deleted}: {conversation.display_title}"
    )


def _delete(ids: list, cutoff, deleted_too: bool) -> None:
    """In batches, each in its own transaction, so a large purge never holds one long lock;
    the rule is applied again, so a hold placed since the listing still protects."""
    purgeable = Conversation.objects.purgeable(cutoff, deleted_too)
    for start in range(0, len(ids), BATCH):
        with transaction.atomic():
            purgeable.filter(pk__in=ids[start : start + BATCH]).delete()
