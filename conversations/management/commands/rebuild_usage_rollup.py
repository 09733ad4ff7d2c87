"""`manage.py rebuild_usage_rollup`: recomputes the daily usage rollups (what the usage pages and
reports read) from the ledger, e.g. after restoring a backup of the ledger alone. Billing may go
on meanwhile: on PostgreSQL it waits for the rebuild, then adds to the new rows."""

import time

from django.core.management.base import BaseCommand

from conversations.models.rollup import rebuild_rollups


class Command(BaseCommand):
    help = "Recompute the daily usage rollups from the usage ledger."

    def handle(self, *args, **options) -> None:
        started = time.monotonic()
        counts = rebuild_rollups()
        tables = ", ".join(f"{table}: {rows} rows" for table, rows in counts.items())
        self.stdout.write(f"rebuilt from the ledger in {time.monotonic() - started:.1f}s: {tables}")
