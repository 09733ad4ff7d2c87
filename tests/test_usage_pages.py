"""Usage reporting: "My usage" for every user, the admin's usage dashboard with its chargeback
CSV, and `manage.py usage_report`. Every figure must equal the ledger's sums as computed here,
independently; charts are inline SVG with no style attribute; queries don't grow with history."""

import csv
import datetime
import io
import re
from collections import defaultdict
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.formats import date_format

from conversations.models import Conversation, QuotaPolicy, UsageEntry, UsageMonth
from conversations.models.rollup import record_in_rollups
from conversations.models.usage import month_start, next_month
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
pytest_plugins = ["tests.browser_fixtures"]
TOKENS = ("input_tokens", "cached_tokens", "output_tokens", "reasoning_tokens", "total_tokens")


def record(
    user,
    model="gpt-5.5",
    tokens=(1000, 200, 500, 100),
    cost="0.012000",
    when=None,
    group="",
    conversation=None,
):
    """A ledger entry as billing writes it (with its daily rollups): total = input + output
    (reasoning is in output)."""
    when = when or timezone.now()
    input_tokens, cached, output, reasoning = tokens
    entry = UsageEntry.objects.create(
        user=user,
        group_name=group,
        model=model,
        month=month_start(when),
        input_tokens=input_tokens,
        cached_tokens=cached,
        output_tokens=output,
        reasoning_tokens=reasoning,
        total_tokens=input_tokens + output,
        cost=None if cost is None else Decimal(cost),
        currency="" if cost is None else "USD",
        created_at=when,
        conversation=conversation,
    )
    record_in_rollups(entry)
    return entry


def n(value) -> str:
    """A number as the English pages show it."""
    return f"{value:,}"


def money(value) -> str:
    return f"{Decimal(value).quantize(Decimal('0.01')):,}"


def text_of(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', html, re.S)
    assert match, f"no #{element_id}"
    return " ".join(match.group(1).split())


class Tables(HTMLParser):
    """Every table of a page by id: its rows as lists of cell texts (header row included)."""

    def __init__(self, html: str):
        super().__init__()
        self.tables, self._table, self._row, self._cell = {}, None, None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id", ""), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
            self._table.append(self._row)
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def rows_of(html: str, table_id: str) -> dict[str, list[str]]:
    """A table's body rows keyed by their first cell."""
    return {row[0]: row[1:] for row in Tables(html).tables[table_id][1:]}


def sums(entries, key=lambda e: None) -> dict:
    """The test's own arithmetic over the entries it created."""
    result = defaultdict(lambda: defaultdict(Decimal))
    for entry in entries:
        row = result[key(entry)]
        row["replies"] += 1
        for name in TOKENS:
            row[name] += getattr(entry, name)
        if entry.cost is not None:
            row["cost"] += entry.cost
            row["priced"] += 1
    return result


def expected_cells(row) -> list[str]:
    cost = f"{money(row['cost'])} USD" if row["priced"] else "price not set"
    return [n(int(row["replies"])), *(n(int(row[name])) for name in TOKENS), cost]


# --- My usage ----------------------------------------------------------------------------------


def test_my_usage_shows_my_months_numbers_and_not_bobs(alice, bob, alice_client):
    mine = [
        record(alice, tokens=(1200, 300, 800, 100), cost="0.021000"),
        record(alice, tokens=(1000, 0, 400, 0), cost="0.009500"),
        record(alice, model="gpt-unpriced", tokens=(500, 0, 250, 50), cost=None),
    ]
    record(bob, tokens=(777_000, 0, 111_000, 0), cost="98.760000")
    record(alice, when=timezone.now() - datetime.timedelta(days=40))  # an earlier month

    page = alice_client.get("/usage/").text

    assert text_of(page, "month-tokens") == n(sum(e.total_tokens for e in mine))
    assert text_of(page, "month-cost") == f"{money('0.030500')} USD"
    assert text_of(page, "month-replies") == "3"
    models = rows_of(page, "model-table")
    assert models["gpt-5.5"] == expected_cells(sums(mine[:2])[None])
    assert models["gpt-unpriced"][-1] == "price not set"
    assert models["gpt-unpriced"][:6] == ["1", "500", "0", "250", "50", "750"]
    assert n(888_000) not in page and "98.76" not in page and "bob" not in page


def test_my_usage_quota_bar_shows_used_reserved_limit_and_reset_date(alice, alice_client):
    QuotaPolicy.objects.create(scope="default", monthly_token_limit=100_000)
    QuotaPolicy.objects.create(
        scope="user", user=alice, monthly_token_limit=50_000, monthly_cost_limit=Decimal("20.00")
    )
    UsageMonth.objects.create(
        user=alice,
        month=month_start(),
        tokens_used=12_500,
        tokens_reserved=4_000,
        cost_used=Decimal("3.5"),
        cost_reserved=Decimal("0.25"),
    )

    page = alice_client.get("/usage/").text

    tokens_meter = page[page.index("<h3>Tokens</h3>") : page.index("<h3>Cost (USD)</h3>")]
    for label, value in [
        ("Used", "12,500"),
        ("Reserved for replies being written", "4,000"),
        ("Limit", "50,000"),
        ("Left", "33,500"),
    ]:
        assert f"<dt>{label}</dt><dd>{value}</dd>" in tokens_meter
    assert 'role="img" aria-label="Tokens: 12,500 used and 4,000 reserved of 50,000"' in page
    assert "<dt>Left</dt><dd>16.25</dd>" in page  # 20.00 - 3.50 - 0.25
    resets = date_format(next_month(month_start()), "DATE_FORMAT")
    assert text_of(page, "resets-on") == f"The quota resets on {resets}."
    assert "No monthly limit" not in page
    # The bar's widths are SVG attributes: 12,500 of 50,000 is a quarter of 400 units.
    assert 'class="meter-used" x="0" y="0" width="100"' in tokens_meter


def test_my_usage_says_no_monthly_limit_when_none_applies(alice, alice_client):
    QuotaPolicy.objects.create(scope="default", monthly_token_limit=1000)
    QuotaPolicy.objects.create(scope="user", user=alice, exempt=True)
    page = alice_client.get("/usage/").text
    assert text_of(page, "no-limit") == "No monthly limit"
    assert 'class="meter' not in page


def test_thirty_day_chart_and_table_agree_with_the_ledger(alice, bob, alice_client):
    now = timezone.now()
    days_ago = {
        0: [(1000, 0, 500, 0), (10, 0, 5, 0)],
        3: [(2000, 0, 1000, 0)],
        29: [(300, 0, 200, 0)],
        30: [(9000, 0, 9000, 0)],
    }
    for ago, replies in days_ago.items():
        for tokens in replies:
            record(alice, tokens=tokens, when=now - datetime.timedelta(days=ago))
    record(bob, tokens=(5000, 0, 5000, 0), when=now)

    page = alice_client.get("/usage/").text

    table = rows_of(page, "")  # the days table is the page's only table without an id
    assert len(table) == 30
    expected = {
        date_format(timezone.localdate(now - datetime.timedelta(days=ago)), "DATE_FORMAT"): sum(
            t[0] + t[2] for t in replies
        )
        for ago, replies in days_ago.items()
        if ago < 30
    }
    shown = {day: cells[0] for day, cells in table.items() if cells[0] != "0"}
    assert shown == {day: n(total) for day, total in expected.items()}
    chart = page[page.index('<svg class="chart"') :]
    chart = chart[: chart.index("</svg>")]
    assert 'role="img" aria-label="Tokens per day, last 30 days"' in chart
    bars = re.findall(r'<rect class="chart-bar"[^>]*><title>([^<]*)</title>', chart)
    assert sorted(bars) == sorted(f"{day}: {n(total)} tokens" for day, total in expected.items())


def test_usage_link_is_on_the_chat_page_and_other_pages(alice, alice_client):
    conversation = Conversation.objects.create(owner=alice, model="gpt-5.5")
    for url in ["/", f"/c/{conversation.pk}/", f"/c/{conversation.pk}/delete/", "/usage/"]:
        page = alice_client.get(url).text
        assert page.count('href="/usage/"') == 1, url
        assert ">My usage</a>" in page, url
    assert 'href="/usage/"' not in Client().get("/login/").text


def test_my_usage_needs_a_login():
    response = Client().get("/usage/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- The admin's usage dashboard ----------------------------------------------------------------


@pytest.fixture
def accountant(django_user_model):
    user = django_user_model.objects.create_user("carol", password=PASSWORD, is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_usage_dashboard"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ledger(alice, bob, django_user_model):
    """Three users in two departments (and one in none), three models (one without a price),
    this month; plus entries before and after the month that a month's report leaves out."""
    carol = django_user_model.objects.create_user("dave")
    sales = Group.objects.create(name="Sales")
    alice.groups.add(sales)
    today = timezone.localdate()
    this_month = month_start()

    def at(day):
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time(12)))

    first, later = at(this_month), at(max(this_month, today - datetime.timedelta(days=1)))
    plan = Conversation.objects.create(owner=alice, title="Quarterly plan", model="gpt-5.5")
    essay = Conversation.objects.create(owner=bob, title="Long essay", model="gpt-big")
    entries = [
        record(alice, "gpt-5.5", (1000, 100, 400, 50), "0.010000", first, "Sales", plan),
        record(alice, "gpt-5.5", (3000, 0, 900, 0), "0.030000", later, "Sales", plan),
        record(alice, "gpt-free", (700, 0, 300, 0), None, later, "Sales"),
        record(bob, "gpt-big", (20_000, 5000, 8000, 4000), "1.250000", first, "Research", essay),
        record(bob, "gpt-5.5", (500, 0, 100, 0), "0.002000", later, "Research"),
        record(carol, "gpt-big", (4000, 0, 2000, 0), "0.400000", later, ""),
    ]
    record(
        alice, "gpt-5.5", (99_999, 0, 1, 0), "9.000000", at(this_month) - datetime.timedelta(days=2)
    )
    record(bob, "gpt-5.5", (88_888, 0, 1, 0), "8.000000", at(next_month(this_month)))
    return entries


DASHBOARD = "/admin/usage/"


def test_the_dashboard_needs_the_permission(
    alice, alice_client, django_user_model, admin_client, accountant
):
    staff = django_user_model.objects.create_user("staff", is_staff=True)
    staff_client = Client()
    staff_client.force_login(staff)
    for url in [DASHBOARD, "/admin/usage/export.csv"]:
        anonymous = Client().get(url)
        assert anonymous.status_code == 302 and "/admin/login/" in anonymous["Location"]
        assert alice_client.get(url).status_code == 302  # not staff: the admin's login
        assert staff_client.get(url).status_code == 403
        assert accountant.get(url).status_code == 200
        assert admin_client.get(url).status_code == 200  # superusers have every permission
    assert 'href="/admin/usage/"' in accountant.get("/admin/").text
    assert 'href="/admin/usage/"' not in staff_client.get("/admin/").text


def test_dashboard_totals_and_tables_equal_the_ledger(accountant, ledger):
    page = accountant.get(DASHBOARD).text

    total = sums(ledger)[None]
    assert text_of(page, "total-replies") == "6"
    for name, element in [
        ("input_tokens", "total-input"),
        ("cached_tokens", "total-cached"),
        ("output_tokens", "total-output"),
        ("reasoning_tokens", "total-reasoning"),
        ("total_tokens", "total-tokens"),
    ]:
        assert text_of(page, element) == n(int(total[name])), name
    assert text_of(page, "total-cost") == f"{money(total['cost'])} USD"
    assert text_of(page, "total-unpriced") == "1"

    by_user = sums(ledger, lambda e: e.user.username)
    assert rows_of(page, "by-users") == {k: expected_cells(v) for k, v in by_user.items()}
    by_group = sums(ledger, lambda e: e.group_name or "(no group)")
    assert rows_of(page, "by-groups") == {k: expected_cells(v) for k, v in by_group.items()}
    by_model = sums(ledger, lambda e: e.model)
    assert rows_of(page, "by-models") == {k: expected_cells(v) for k, v in by_model.items()}
    assert rows_of(page, "by-models")["gpt-free"][-1] == "price not set"

    top = list(rows_of(page, "top-conversations"))
    assert top == ["Long essay", "Quarterly plan"]
    assert rows_of(page, "top-conversations")["Quarterly plan"] == [
        "alice",
        "2",
        "5,300",
        "0.04 USD",
    ]


def test_dashboard_charts_show_tokens_and_cost_per_day(accountant, ledger):
    page = accountant.get(DASHBOARD).text
    per_day = sums(ledger, lambda e: timezone.localdate(e.created_at))
    titles = re.findall(r'<rect class="chart-bar"[^>]*><title>([^<]*)</title>', page)
    for day, row in per_day.items():
        assert f"{date_format(day, 'DATE_FORMAT')}: {n(int(row['total_tokens']))} tokens" in titles
        assert f"{date_format(day, 'DATE_FORMAT')}: {money(row['cost'])} USD" in titles
    assert page.count('<svg class="chart" role="img"') == 2


@pytest.mark.parametrize(
    ("sort", "order"),
    [
        ("", ["bob", "dave", "alice"]),  # by cost, the costliest first
        ("-cost", ["bob", "dave", "alice"]),
        ("cost", ["alice", "dave", "bob"]),
        ("name", ["alice", "bob", "dave"]),
        ("-name", ["dave", "bob", "alice"]),
        ("total_tokens", ["dave", "alice", "bob"]),
        ("-replies", ["alice", "bob", "dave"]),
        ("nonsense", ["bob", "dave", "alice"]),
    ],
)
def test_dashboard_tables_sort_on_the_server(accountant, ledger, sort, order):
    page = accountant.get(DASHBOARD, {"sort": sort} if sort else {}).text
    assert list(rows_of(page, "by-users")) == order


def test_sort_links_keep_the_range_and_flip_the_direction(accountant, ledger):
    day = month_start().isoformat()
    page = accountant.get(DASHBOARD, {"start": day, "end": day, "sort": "-total_tokens"}).text
    assert f'href="?start={day}&amp;end={day}&amp;sort=total_tokens"' in page
    assert 'aria-sort="descending"' in page


def test_the_date_range_selects_entries_by_day(accountant, ledger):
    first = month_start()
    page = accountant.get(DASHBOARD, {"start": first.isoformat(), "end": first.isoformat()}).text
    on_first = [e for e in ledger if timezone.localdate(e.created_at) == first]
    assert text_of(page, "total-tokens") == n(sum(e.total_tokens for e in on_first))
    before = first - datetime.timedelta(days=2)
    page = accountant.get(DASHBOARD, {"start": before.isoformat(), "end": before.isoformat()}).text
    assert text_of(page, "total-tokens") == n(100_000)


def test_the_range_form_keeps_iso_dates_in_chinese_too(accountant, ledger):
    from tests.test_i18n import ZH

    page = accountant.get(DASHBOARD, {"start": "2026-10-02", "end": "2026-10-09"}, headers=ZH)
    assert 'type="date" name="start" value="2026-10-02"' in page.text
    default = accountant.get(DASHBOARD, headers=ZH).text
    assert f'type="date" name="start" value="{month_start().isoformat()}"' in default


def test_a_bad_range_is_explained_and_this_month_shown(accountant, ledger):
    page = accountant.get(DASHBOARD, {"start": "2026-11-30", "end": "2026-11-01"}).text
    assert "The first day must not be after the last." in page
    assert text_of(page, "total-tokens") == n(sum(e.total_tokens for e in ledger))


# --- The chargeback CSV and usage_report --------------------------------------------------------


def chargeback(entries) -> list[dict]:
    grouped = sums(
        entries,
        lambda e: (
            timezone.localtime(e.created_at).strftime("%Y-%m"),
            e.group_name,
            e.user.username,
            e.model,
            e.currency,
        ),
    )
    return [
        {
            "month": month,
            "group": group,
            "user": user,
            "model": model,
            "replies": str(int(row["replies"])),
            **{name: str(int(row[name])) for name in TOKENS},
            "cost": f"{row['cost']:.6f}" if row["priced"] else "",
            "currency": currency,
        }
        for (month, group, user, model, currency), row in sorted(grouped.items())
    ]


def test_csv_export_has_the_chargeback_columns_and_the_ledgers_numbers(accountant, ledger):
    response = accountant.get("/admin/usage/export.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="usage-')
    reader = csv.DictReader(io.StringIO(response.content.decode()))
    assert reader.fieldnames == [
        "month",
        "group",
        "user",
        "model",
        "replies",
        "input_tokens",
        "cached_tokens",
        "output_tokens",
        "reasoning_tokens",
        "total_tokens",
        "cost",
        "currency",
    ]
    assert list(reader) == chargeback(ledger)


def test_usage_report_command_agrees_with_the_csv_export(accountant, ledger):
    month = month_start().strftime("%Y-%m")
    out = io.StringIO()
    call_command("usage_report", "--month", month, "--format", "csv", stdout=out)
    exported = accountant.get("/admin/usage/export.csv").content.decode()
    assert out.getvalue() == exported

    out = io.StringIO()
    call_command("usage_report", "--month", month, stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == list(chargeback(ledger)[0])
    assert [line.split() for line in lines[1:]] == [
        [value for value in row.values() if value] for row in chargeback(ledger)
    ]


def test_usage_report_of_an_empty_month_and_a_bad_month(capsys):
    out = io.StringIO()
    call_command("usage_report", "--month", "2001-01", stdout=out)
    assert out.getvalue().strip() == "(no usage)"
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="2026-11"):
        call_command("usage_report", "--month", "November")


# --- Scale: queries don't grow with the history; charts are CSP-safe ---------------------------


def many_entries(django_user_model, count: int, prefix: str) -> None:
    """More users, groups, models and conversations, each with a few entries."""
    for i in range(count):
        user = django_user_model.objects.create_user(f"{prefix}{i}")
        conversation = Conversation.objects.create(owner=user, title=f"c{i}", model="m")
        for j in range(3):
            record(
                user,
                f"model-{i % 7}",
                group=f"group-{i % 5}",
                conversation=conversation,
                tokens=(100 + j, 0, 10, 0),
            )


def test_dashboard_and_my_usage_queries_do_not_grow_with_the_ledger(
    accountant, alice, alice_client, django_user_model, django_assert_max_num_queries
):
    QuotaPolicy.objects.create(scope="default", monthly_token_limit=10**9)
    record(alice)
    many_entries(django_user_model, 2, "few")
    with CaptureQueriesContext(connection) as small_dashboard:
        accountant.get(DASHBOARD)
    with CaptureQueriesContext(connection) as small_mine:
        alice_client.get("/usage/")

    many_entries(django_user_model, 40, "many")
    for _ in range(30):
        record(alice, f"model-{_ % 6}")
    with django_assert_max_num_queries(len(small_dashboard)):
        page = accountant.get(DASHBOARD).text
    assert len(rows_of(page, "by-users")) == 43
    with django_assert_max_num_queries(len(small_mine)):
        alice_client.get("/usage/")


def test_charts_are_inline_svg_without_style_attributes(accountant, alice, alice_client, ledger):
    QuotaPolicy.objects.create(scope="default", monthly_token_limit=100_000)
    for page in [alice_client.get("/usage/").text, accountant.get(DASHBOARD).text]:
        svgs = re.findall(r'<svg class="(?:chart|meter)".*?</svg>', page, re.S)
        assert svgs
        for svg in svgs:
            assert re.match(r'<svg class="(chart|meter)" role="img" aria-label="[^"]+"', svg)
            assert "<title>" in svg and 'viewBox="0 0 400 ' in svg
        assert "style=" not in page.replace('rel="stylesheet"', "")
        assert "<style" not in page


def test_a_chart_of_nothing_is_drawn_without_bars():
    from conversations.charts import Bar, bar_chart

    svg = bar_chart([Bar(0, "a"), Bar(None, "b")], "Empty", "Tokens")
    assert "<rect" not in svg and 'aria-label="Empty"' in svg


# --- The admin's ledger, catalogue and quotas ---------------------------------------------------


def test_the_ledger_is_read_only_in_the_admin(admin_client, ledger):
    entry = ledger[0]
    assert admin_client.get("/admin/conversations/usageentry/").status_code == 200
    assert (
        admin_client.get(f"/admin/conversations/usageentry/?month={month_start()}").status_code
        == 200
    )
    assert admin_client.get("/admin/conversations/usageentry/add/").status_code == 403
    change = admin_client.get(f"/admin/conversations/usageentry/{entry.pk}/change/")
    assert change.status_code == 200 and 'name="_save"' not in change.text
    assert (
        admin_client.get(f"/admin/conversations/usageentry/{entry.pk}/delete/").status_code == 403
    )
    admin_client.post(f"/admin/conversations/usageentry/{entry.pk}/change/", {"total_tokens": 1})
    entry.refresh_from_db()
    assert entry.total_tokens == 1400
    found = admin_client.get("/admin/conversations/usageentry/", {"q": "dave"}).text
    assert "dave" in found


def test_the_catalogue_shows_models_without_a_price(admin_client):
    from conversations.models import AIModel

    AIModel.objects.create(model_id="priced", input_price=1, output_price=2)
    AIModel.objects.create(model_id="unpriced")
    page = admin_client.get("/admin/conversations/aimodel/").text
    rows = {
        re.search(r"field-model_id[^>]*>(?:<a [^>]*>)?([^<]+)", row).group(1): row
        for row in re.findall(r"<tr>.*?</tr>", page, re.S)
        if "field-model_id" in row
    }
    assert "price not set" in rows["unpriced"] and "price not set" not in rows["priced"]
    assert admin_client.get("/admin/conversations/quotapolicy/").status_code == 200
    assert admin_client.get("/admin/conversations/quotapolicy/add/").status_code == 200


def test_the_usage_pages_are_in_chinese_with_nothing_left_in_english(
    accountant, alice_client, ledger
):
    from tests.test_i18n import ZH, untranslated

    QuotaPolicy.objects.create(scope="default", monthly_token_limit=10**6)
    for url, client in [("/usage/", alice_client), (DASHBOARD, accountant)]:
        page = client.get(url, headers=ZH).text
        assert "我的用量" in page or "用量仪表板" in page
        # Names of people, groups and models, and the currency code, stay as they are.
        names = {
            "USD",
            "bob",
            "dave",
            "Sales",
            "Research",
            "Long",
            "essay",
            "Quarterly",
            "plan",
            "free",
            "big",
            "carol",
            "CSV",
            "Django",
        }
        assert untranslated(page, also_allowed=names) == [], url


def test_seed_usage_fills_the_ledger_with_month_rows_equal_to_its_sums():
    from django.db.models import F, Sum

    from conversations.models import Reply

    out = io.StringIO()
    call_command("seed_usage", replies=95, users=4, models=3, months=2, batch=40, stdout=out)
    assert "seeded 95 replies for 4 users and 3 models" in out.getvalue()
    assert UsageEntry.objects.count() == Reply.objects.count() == 95
    assert not UsageEntry.objects.exclude(total_tokens=F("reply__total_tokens")).exists()
    assert not UsageEntry.objects.exclude(user=F("reply__user")).exists()
    rows = UsageMonth.objects.all()
    before = (month_start() - datetime.timedelta(days=1)).replace(day=1)
    assert rows and {row.month for row in rows} <= {before, month_start()}
    for row in rows:
        ledger = UsageEntry.objects.filter(user=row.user, month=row.month).aggregate(
            tokens=Sum("total_tokens"), cost=Sum("cost")
        )
        assert row.tokens_used == ledger["tokens"]
        assert row.cost_used == Decimal(ledger["cost"] or 0).quantize(Decimal("0.000001"))
    unpriced = UsageEntry.objects.filter(model="seed-model-2")
    assert unpriced.exists() and not unpriced.filter(cost__isnull=False).exists()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_usage_pages_fit_a_phone_and_load_nothing_the_csp_refuses(
    asgi_server, new_browser_context, browser_log_in, watch_page, alice, django_user_model
):
    QuotaPolicy.objects.create(scope="default", monthly_token_limit=100_000)
    record(alice)
    record(alice, when=timezone.now() - datetime.timedelta(days=3))
    root = django_user_model.objects.create_superuser("root", password=PASSWORD)
    for user, path in [(alice, "/usage/"), (root, DASHBOARD)]:
        context = new_browser_context(viewport={"width": 390, "height": 844})
        browser_log_in(context, user)
        watched = watch_page(context)
        assert watched.page.goto(path).status == 200
        watched.page.wait_for_load_state("networkidle")
        chart = watched.page.locator("svg.chart").first.bounding_box()
        assert 280 <= chart["width"] <= 390, path  # the chart scales to the phone's width
        assert chart["height"] < chart["width"]
        assert watched.page.evaluate("document.documentElement.scrollWidth") <= 390, path
        assert watched.csp_violations() == [], path
        assert watched.foreign_requests(asgi_server.url) == [], path
