"""`manage.py usage_report --month 2026-11 [--format table|csv]`: the chargeback report of a month
(replies recorded in it), the same rows as the admin dashboard's CSV export."""

import datetime

from django.core.management.base import BaseCommand, CommandError

from conversations import usage_reports
from conversations.usage_reports import CSV_COLUMNS, Period

NUMERIC = {"replies", *usage_reports.TOKEN_FIELDS, "cost"}


class Command(BaseCommand):
    help = "Print a month's usage by group, user and model, as a table or as CSV."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--month", required=True, help="YYYY-MM")
        parser.add_argument("--format", choices=["table", "csv"], default="table")

    def handle(self, *args, month: str, format: str, **options) -> None:
        try:
            first = datetime.datetime.strptime(month, "%Y-%m").date()
        except ValueError:
            raise CommandError(f"--month must look like 2026-11, not {month!r}") from None
        rows = usage_reports.chargeback_rows(Period.month(first))
        if format == "csv":
            usage_reports.write_csv(rows, self.stdout)
        else:
            self.stdout.write(table(rows))


def table(rows: list[dict]) -> str:
    """Aligned columns (numbers to the right) with a header; "(no usage)" when empty."""
    if not rows:
        return "(no usage)"
    cells = [list(CSV_COLUMNS)] + [[str(row[name]) for name in CSV_COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(CSV_COLUMNS))]
    lines = []
    for line in cells:
        lines.append(
            "  ".join(
                value.rjust(width) if name in NUMERIC else value.ljust(width)
                for name, value, width in zip(CSV_COLUMNS, line, widths, strict=True)
            ).rstrip()
        )
    return "\n".join(lines)
