"""The chargeback CSV (the dashboard's Export CSV and `usage_report --format csv`) never hands a
spreadsheet a formula: a user, group or model name that starts like one (= + - @, a tab or a
carriage return; OWASP's CSV injection list) is written after an apostrophe, which spreadsheets
show as text. Numbers stay numbers."""

import csv
import io
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from conversations.models import UsageEntry
from conversations.models.rollup import record_in_rollups
from conversations.models.usage import month_start

pytestmark = pytest.mark.django_db

HOSTILE = [
    # (user, group, model)
    ('=HYPERLINK("http://x","Click")', "@SUM(1)", "+cmd|' /C calc'!A0"),
    ("mallory", "\t=1+1", "-2+3"),
    ("-trent", "\r@A1", "gpt-5.5"),
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture
def hostile_ledger(django_user_model):
    for number, (username, group, model) in enumerate(HOSTILE, start=1):
        entry = UsageEntry.objects.create(
            user=django_user_model.objects.create_user(username),
            group_name=group,
            model=model,
            month=month_start(),
            input_tokens=1000 * number,
            cached_tokens=0,
            output_tokens=100 * number,
            reasoning_tokens=0,
            total_tokens=1100 * number,
            cost=Decimal("0.010000") * number,
            currency="USD",
            created_at=timezone.now(),
        )
        record_in_rollups(entry)


@pytest.fixture
def accountant(django_user_model):
    user = django_user_model.objects.create_user("carol", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_usage_dashboard"))
    client = Client()
    client.force_login(user)
    return client


def chargeback_csv(source: str, accountant: Client) -> str:
    if source == "export":
        return accountant.get("/admin/usage/export.csv").content.decode()
    out = io.StringIO()
    month = month_start().strftime("%Y-%m")
    call_command("usage_report", "--month", month, "--format", "csv", stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("source", ["export", "command"])
def test_names_that_start_like_formulas_are_written_as_text(hostile_ledger, accountant, source):
    rows = list(csv.DictReader(io.StringIO(chargeback_csv(source, accountant))))

    assert len(rows) == len(HOSTILE)
    for row in rows:
        for name in ("month", "group", "user", "model", "currency"):
            assert not row[name].startswith(FORMULA_STARTS), (name, row[name])
    by_user = {row["user"]: row for row in rows}
    first = by_user['\'=HYPERLINK("http://x","Click")']
    assert first["group"] == "'@SUM(1)"
    assert first["model"].startswith("'+cmd")
    second = by_user["mallory"]
    assert second["group"] == "'\t=1+1" and second["model"] == "'-2+3"
    third = by_user["'-trent"]
    assert third["group"] == "'\r@A1" and third["model"] == "gpt-5.5"
    # Numbers stay numbers.
    assert {(row["input_tokens"], row["total_tokens"], row["cost"]) for row in rows} == {
        ("1000", "1100", "0.010000"),
        ("2000", "2200", "0.020000"),
        ("3000", "3300", "0.030000"),
    }
