"""Ends the replies that a server process no longer running left "generating" (a crash, a
restart without drain) as interrupted, with their text and a usage estimate. Run before
starting the server (`make run`, the deploy recipe); every worker also does it at start-up.
Safe to run again: a reply already ended, or still beating on a live process, is left alone."""

from django.core.management.base import BaseCommand

from conversations.recovery import interrupt_orphaned_replies


class Command(BaseCommand):
    help = "End replies left generating by a stopped server process; prints how many."

    def handle(self, *args, **options):
        count = interrupt_orphaned_replies()  # a database error stops the command (and a deploy)
        self.stdout.write(f"{count} interrupted replies recovered")
