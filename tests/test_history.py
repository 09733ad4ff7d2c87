"""History by date: the sidebar's headings (Pinned, Today, Yesterday, Previous 7 days, Previous
30 days, then months) in the person's time zone (the browser's cookie) and language, across
pages and in the partials that move entries; the account menu at the sidebar's bottom."""
# ruff: noqa: RUF001 (Chinese text uses full-width punctuation on purpose)

import re
import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from conversations.models import Conversation
from conversations.models.usage import month_start
from conversations.sidebar import history_group
from conversations.time_zone import COOKIE, time_zone_named
from tests.chat_helpers import latest_reply, logged_in, send
from tests.conftest import wait_for_reply
from tests.test_i18n import ZH, untranslated
from tests.test_organise import conversation_of

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}
NEW_YORK, SHANGHAI = zoneinfo.ZoneInfo("America/New_York"), zoneinfo.ZoneInfo("Asia/Shanghai")


def entry(updated_at, pinned=False) -> Conversation:
    return Conversation(title="x", updated_at=updated_at, pinned=pinned)


def group_at(when: datetime, today: date, zone=UTC, language="en") -> tuple[str, str]:
    with timezone.override(zone), translation.override(language):
        return tuple(history_group(entry(when), today))


def test_groups_by_days_back_then_by_month():
    today = date(2026, 12, 6)
    noon = lambda day: datetime(day.year, day.month, day.day, 12, tzinfo=UTC)  # noqa: E731
    expected = {
        date(2026, 12, 6): ("today", "Today"),
        date(2026, 12, 7): ("today", "Today"),  # (a clock a little ahead)
        date(2026, 12, 5): ("yesterday", "Yesterday"),
        date(2026, 12, 4): ("week", "Previous 7 days"),
        date(2026, 11, 29): ("week", "Previous 7 days"),  # 7 days back
        date(2026, 11, 28): ("month", "Previous 30 days"),
        date(2026, 11, 6): ("month", "Previous 30 days"),  # 30 days back
        date(2026, 11, 5): ("2026-11", "November 2026"),
        date(2026, 11, 1): ("2026-11", "November 2026"),
        date(2026, 10, 31): ("2026-10", "October 2026"),
        date(2026, 1, 1): ("2026-01", "January 2026"),
        date(2025, 12, 31): ("2025-12", "December 2025"),  # older years by month too
        date(2019, 3, 2): ("2019-03", "March 2019"),
    }
    assert {day: group_at(noon(day), today) for day in expected} == expected
    with timezone.override(UTC), translation.override("en"):
        assert tuple(history_group(entry(noon(date(2019, 3, 2)), pinned=True), today)) == (
            "pinned",
            "Pinned",
        )


def test_the_day_is_the_persons_own():
    """23:30 yesterday in New York is already today in UTC; 00:30 on the first of a month in
    Shanghai is still the month before in UTC."""
    late = datetime(2026, 11, 19, 23, 30, tzinfo=NEW_YORK)
    assert group_at(late, date(2026, 11, 20), NEW_YORK) == ("yesterday", "Yesterday")
    assert group_at(late, date(2026, 11, 20), UTC) == ("today", "Today")

    first = datetime(2026, 11, 1, 0, 30, tzinfo=SHANGHAI)
    assert group_at(first, date(2027, 3, 1), SHANGHAI) == ("2026-11", "November 2026")
    assert group_at(first, date(2027, 3, 1), UTC) == ("2026-10", "October 2026")


def test_chinese_labels():
    today = date(2026, 12, 6)
    labels = [
        group_at(datetime(2026, 12, day, 9, tzinfo=UTC), today, language="zh-hans")[1]
        for day in [6, 5, 1]
    ]
    labels += [group_at(datetime(2026, 11, 1, 9, tzinfo=UTC), today, language="zh-hans")[1]]
    labels += [group_at(datetime(2025, 2, 1, 9, tzinfo=UTC), today, language="zh-hans")[1]]
    assert labels == ["今天", "昨天", "过去 7 天", "2026年11月", "2025年2月"]
    with translation.override("zh-hans"):
        assert history_group(entry(timezone.now(), pinned=True)).label == "已置顶"
        assert group_at(datetime(2026, 11, 10, tzinfo=UTC), today, language="zh-hans") == (
            "month",
            "过去 30 天",
        )


def test_only_names_of_real_time_zones_are_taken():
    assert time_zone_named("Asia/Shanghai") == SHANGHAI
    for junk in [
        None,
        "",
        "Mars/Olympus",
        "../../etc/passwd",
        "/usr/share/zoneinfo/UTC",
        "Asia/Shanghai\x00",
        "A" * 300,
        "asia/shanghai",
    ]:
        assert time_zone_named(junk) is None, junk


def _tokens(html: str) -> list[str]:
    """The sidebar's headings ("#key") and entries (titles) in the order of the page."""
    found = re.finditer(
        r'<li class="sidebar-heading" data-group="([^"]+)">|<li id="sidebar-item-[^"]+".*?>'
        r'\s*<a id="link-[^"]+" href="[^"]+"[^>]*>(?:<span class="sr-only">[^<]*</span>)?([^<]+)',
        html,
        re.DOTALL,
    )
    return [f"#{m[1]}" if m[1] else m[2].strip() for m in found]


def _at(zone, days_back: int, hour: int, minute: int = 0) -> datetime:
    day = timezone.now().astimezone(zone).date() - timedelta(days=days_back)
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


def test_the_page_groups_in_the_browsers_time_zone(alice, alice_client):
    """The cookie names New York: a conversation of 23:30 yesterday there is Yesterday's,
    whatever the date in UTC; an unknown name means the site's TIME_ZONE (UTC here)."""
    made = [
        ("Late last night", _at(NEW_YORK, 1, 23, 30)),
        ("This morning", _at(NEW_YORK, 0, 0, 5)),
        ("Five days ago", _at(NEW_YORK, 5, 12)),
        ("Long ago", datetime(2024, 3, 15, 12, tzinfo=NEW_YORK)),
    ]
    for title, when in made:
        conversation = conversation_of(alice, title)
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=when)
    pinned = conversation_of(alice, "Kept on top", pinned=True)
    Conversation.objects.filter(pk=pinned.pk).update(updated_at=datetime(2020, 1, 1, tzinfo=UTC))

    alice_client.cookies[COOKIE] = "America/New_York"
    page = alice_client.get("/").text
    assert _tokens(page) == [
        "#pinned", "Kept on top", "#today", "This morning", "#yesterday", "Late last night",
        "#week", "Five days ago", "#2024-03", "Long ago",
    ]  # fmt: skip
    assert "<h2>Previous 7 days</h2>" in page and "<h2>March 2024</h2>" in page

    # Another name, or none that exists: UTC, where the late one may be today's.
    for cookie in ["Asia/Shanghai", "../../etc/localtime"]:
        zone = SHANGHAI if cookie == "Asia/Shanghai" else UTC
        alice_client.cookies[COOKIE] = cookie
        tokens = _tokens(alice_client.get("/").text)
        with timezone.override(zone):
            late = history_group(Conversation.objects.get(title="Late last night")).key
        assert heading_of(tokens, "Late last night") == late
        assert late == (
            "today"
            if _at(NEW_YORK, 1, 23, 30).astimezone(zone).date()
            == timezone.now().astimezone(zone).date()
            else "yesterday"
        )


def heading_of(tokens: list[str], title: str) -> str:
    """The group a title is listed under."""
    return next(t[1:] for t in reversed(tokens[: tokens.index(title)]) if t.startswith("#"))


def test_the_page_is_grouped_in_chinese(alice, alice_client):
    old = conversation_of(alice, "旧的")
    Conversation.objects.filter(pk=old.pk).update(updated_at=datetime(2025, 11, 3, tzinfo=UTC))
    conversation_of(alice, "新的")
    conversation_of(alice, "置顶的", pinned=True)
    page = alice_client.get("/", headers=ZH).text
    assert "<h2>已置顶</h2>" in page and "<h2>今天</h2>" in page and "<h2>2025年11月</h2>" in page
    nav = page.split('<ul id="sidebar-list" class="sidebar-list">')[1].split("</nav>")[0]
    assert untranslated(nav) == [], untranslated(nav)


def spread_over_days(owner, count: int) -> list[Conversation]:
    """`count` conversations, one a day back from now (the first the newest)."""
    now = timezone.now()
    return Conversation.objects.bulk_create(
        Conversation(owner=owner, title=f"Day {i:03d}", updated_at=now - timedelta(days=i))
        for i in range(count)
    )


def _scroll(client, page: str) -> list[list[str]]:
    pages = [_tokens(page)]
    while 'id="sidebar-more"' in page:
        more = re.search(r'hx-get="(/sidebar/more/\?after=[^"]+)"', page).group(1)
        page = client.get(more.replace("&amp;", "&"), headers=HTMX).text
        pages.append(_tokens(page))
    return pages


def _one_heading_per_run(tokens: list[str]) -> list[str]:
    """What the page keeps (sidebar.js): a heading repeating the group it continues goes."""
    kept, group = [], None
    for token in tokens:
        if token.startswith("#"):
            if token != group:
                kept.append(token)
            group = token
        else:
            kept.append(token)
    return kept


def test_pages_across_groups_bring_each_groups_heading(alice, alice_client):
    made = spread_over_days(alice, 130)
    page = alice_client.get("/").text
    pages = _scroll(alice_client, page)

    assert len(pages) == 3
    # Every page's first entry comes with its heading (the page may have dropped the one it
    # continues); a heading comes wherever the group changes.
    for tokens in pages:
        assert tokens[0].startswith("#")
    joined = _one_heading_per_run([t for tokens in pages for t in tokens])
    with timezone.override(UTC):
        expected = []
        for conversation in made:
            key = f"#{history_group(conversation).key}"
            if key not in expected:
                expected.append(key)
            expected.append(conversation.title)
    assert joined == expected
    headings = [t for t in joined if t.startswith("#")]
    assert headings[:4] == ["#today", "#yesterday", "#week", "#month"]
    assert len(headings) == len(set(headings))  # each group once, in order

    # Without JavaScript, ?more=1 shows up to 200 entries, each group's heading once.
    everything = _tokens(alice_client.get("/?more=1").text)
    assert everything == expected


def test_grouping_costs_no_query(alice, alice_client):
    conversation_of(alice, "One", generating=True)
    alice_client.get("/")  # (the first page also reads the model catalogue)
    with CaptureQueriesContext(connection) as few:
        alice_client.get("/")
    spread_over_days(alice, 120)
    Conversation.objects.filter(title__in=["Day 003", "Day 090"]).update(pinned=True)
    with CaptureQueriesContext(connection) as many:
        page = alice_client.get("/").text
    assert len(many) == len(few)
    assert page.count('class="sidebar-heading"') >= 5


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_send_puts_its_entry_at_the_top_of_today_with_the_heading(alice, fake_upstream):
    old = await sync_to_async(conversation_of)(alice, "Old topic")
    pinned = await sync_to_async(conversation_of)(alice, "Pinned topic", pinned=True)
    long_ago = datetime(2025, 5, 5, tzinfo=UTC)
    await Conversation.objects.filter(pk__in=[old.pk, pinned.pk]).aupdate(updated_at=long_ago)
    client = await logged_in(alice)

    html = (await send(client, "Again", conversation=old.pk)).text
    move = html.split('<hx-partial hx-target="#sidebar-others" hx-swap="afterend">')[1]
    assert _tokens(move.split("</hx-partial>")[0]) == ["#today", "Old topic"]
    await wait_for_reply((await latest_reply(alice)).pk)

    html = (await send(client, "And the pinned one", conversation=pinned.pk)).text
    move = html.split('<hx-partial hx-target="#sidebar-pinned" hx-swap="afterend">')[1]
    assert _tokens(move.split("</hx-partial>")[0]) == ["#pinned", "Pinned topic"]
    await wait_for_reply((await latest_reply(alice)).pk)


def test_pin_and_unpin_place_the_entry_with_its_groups_heading(alice, alice_client):
    march, april = conversation_of(alice, "March topic"), conversation_of(alice, "April topic")
    Conversation.objects.filter(pk=march.pk).update(updated_at=datetime(2025, 3, 9, tzinfo=UTC))
    Conversation.objects.filter(pk=april.pk).update(updated_at=datetime(2025, 4, 9, tzinfo=UTC))

    placed = alice_client.post(f"/c/{march.pk}/pin/", headers=HTMX).text
    assert '<hx-partial hx-target="#sidebar-others" hx-swap="beforebegin">' in placed
    assert _tokens(placed) == ["#pinned", "March topic"]

    placed = alice_client.post(f"/c/{march.pk}/unpin/", headers=HTMX).text
    assert '<hx-partial hx-target="#sidebar-end" hx-swap="beforebegin">' in placed
    assert _tokens(placed) == ["#2025-03", "March topic"]

    alice_client.post(f"/c/{april.pk}/archive/")
    placed = alice_client.post(f"/c/{april.pk}/unarchive/", headers=HTMX).text
    assert f'<hx-partial hx-target="#sidebar-item-{march.pk}" hx-swap="beforebegin">' in placed
    assert _tokens(placed) == ["#2025-04", "April topic"]
    zh = alice_client.get(f"/c/{april.pk}/place/", headers=HTMX | ZH).text
    assert "<h2>2025年4月</h2>" in zh


def test_a_renamed_entry_keeps_its_group(alice, alice_client):
    conversation = conversation_of(alice, "Before")
    Conversation.objects.filter(pk=conversation.pk).update(
        updated_at=datetime(2025, 3, 9, tzinfo=UTC)
    )
    renamed = alice_client.post(
        f"/c/{conversation.pk}/rename/", {"title": "After"}, headers=HTMX
    ).text
    assert f'id="sidebar-item-{conversation.pk}" class="sidebar-item" data-group="2025-03"' in (
        renamed
    )


def test_usage_is_counted_in_the_sites_time_zone_whatever_the_persons(settings):
    """Quotas and reports keep one month for everyone (README, "One month everywhere")."""
    assert settings.TIME_ZONE == "UTC"
    late = datetime(2026, 11, 30, 20, tzinfo=UTC)  # already December 1st in Shanghai
    with timezone.override(SHANGHAI):
        assert month_start(late) == date(2026, 11, 1)


def test_the_account_menu_holds_the_account_links_and_admin_for_staff(
    alice, alice_client, django_user_model, client
):
    page = alice_client.get("/").text
    menu = page.split('<details class="account-menu" id="account-menu">')[1].split("</details>")[0]
    assert "alice" in menu.split("</summary>")[0]
    for part in ['href="/usage/"', 'href="/reviews/"', 'action="/logout/"', 'id="language-select"']:
        assert part in menu
    assert "/admin/" not in page and ">Admin<" not in page

    django_user_model.objects.filter(pk=alice.pk).update(is_staff=True)
    staff = alice_client.get("/").text
    assert '<a href="/admin/">' in staff and "Admin</a>" in staff
    zh = alice_client.get("/", headers=ZH).text
    assert "管理后台</a>" in zh and "账户：" in zh
