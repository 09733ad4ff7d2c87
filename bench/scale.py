"""The usage pages and search at scale, on PostgreSQL: seeds a temporary database (1M replies
of varied English and Chinese text, 500 users, 10 models) twice, once spread over the last 12
months and once all in this month (the worst case for a month's dashboard), then measures
in-process with Django's test Client the server-side time of the admin usage dashboard for this
month (target <= 500 ms) and of "My usage" (<= 100 ms), counts the queries of the quota check
before a send with an empty and a full history (must be equal), and times a person's search
(/search/ and the sidebar's /search/live/) and the admin's (conversations and replies) for
common, rare and Chinese words (target <= 300 ms). The database (bench_scale) is created and
dropped here; nothing else is touched. `make bench` runs it when DATABASE_URL is a PostgreSQL
server.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/scale.py
        [--replies 1000000] [--users 500] [--models 10] [--runs 7] [--search-runs 3]
        [--heavy-person 100000] [--spread both|months|one-month] [--keep]
        [--database bench_scale]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_NAME = "bench_scale"
TARGETS_MS = {"dashboard": 500, "my_usage": 100}
SEARCH_TARGET_MS = 300
SLOW_SEARCH_SECONDS = 10  # a search slower than this is timed once
SEARCH_TIMEOUT_SECONDS = 30  # and cancelled after this (reported as this)
# The searches timed: what each page shows for a query, by who may see it.
SEARCH_PAGES = {
    "person: /search/": "/search/",
    "person: /search/live/": "/search/live/",
    "admin: conversations": "/admin/conversations/conversation/",
    "admin: replies": "/admin/conversations/reply/",
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replies", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--runs", type=int, default=7, help="timed requests per page (median)")
    parser.add_argument(
        "--search-runs", type=int, default=3, help="timed requests per search query (median)"
    )
    parser.add_argument(
        "--spread",
        choices=["both", "months", "one-month"],
        default="both",
        help="the replies over the last 12 months, all in this month (the worst case), or both",
    )
    parser.add_argument(
        "--heavy-person",
        type=int,
        default=100_000,
        help="replies (of the total) of one more user, whose searches are timed",
    )
    parser.add_argument("--keep", action="store_true", help="keep the (last) database afterwards")
    parser.add_argument("--database", default=DB_NAME, help="the temporary database's name")
    parser.add_argument(
        "--existing",
        action="store_true",
        help="measure the database a run with --keep left (migrated first: new indexes are "
        "built on its rows, timed), seeding nothing and keeping it",
    )
    return parser.parse_args()


def server_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit(
            "Set DATABASE_URL to a PostgreSQL server, e.g. postgres://postgres@127.0.0.1/postgres"
        )
    return url


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def admin_sql(url: str, statement: str) -> None:
    """CREATE or DROP DATABASE, through the server's maintenance database (autocommit)."""
    import psycopg

    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(statement)


SPREADS = {
    "months": "1M replies over the last 12 months",
    "one-month": "1M replies all in this month",
}


def main() -> None:
    args = parse_args()
    url = server_url()
    name = args.database
    os.environ["DATABASE_URL"] = with_database(url, name)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    import django

    django.setup()
    spreads = ["months", "one-month"] if args.spread == "both" else [args.spread]
    summary = []
    if args.existing:
        spreads = spreads[:1]
    for index, spread in enumerate(spreads):
        if not args.existing:
            admin_sql(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin_sql(url, f"CREATE DATABASE {name}")
        label = SPREADS[spread].replace("1M", f"{args.replies:,}")
        print(f"--- {label} ---", flush=True)
        try:
            summary.append((label, run(args, one_month=spread == "one-month", search=index == 0)))
        finally:
            from django.db import connections

            connections.close_all()
            if not (args.keep or args.existing) or index < len(spreads) - 1:
                admin_sql(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    print("--- usage pages and search at scale (PostgreSQL) ---")
    for label, lines in summary:
        for line in lines:
            print(f"{label}: {line}")


def run(args, one_month: bool, search: bool) -> list[str]:
    """Seeds the database and times its pages; with `search`, the seed has varied text, the
    search indexes are built after it (timed), and the searches are timed too."""
    from django.conf import settings
    from django.contrib.contenttypes.models import ContentType
    from django.core.cache import caches
    from django.core.management import call_command
    from django.db import connection

    ContentType.objects.clear_cache()  # a fresh database each run: nothing cached may carry over
    for cache in caches.all():
        cache.clear()

    if args.existing:
        if not (settings.STATIC_ROOT / "staticfiles.json").exists():  # pages need the manifest
            call_command("collectstatic", interactive=False, verbosity=0)
        started = time.monotonic()
        with connection.cursor() as cursor:  # GIN builds are faster with more memory
            cursor.execute("SET maintenance_work_mem = '512MB'")
        call_command("migrate", interactive=False, verbosity=0)
        print(f"migrate (on the existing rows): {time.monotonic() - started:.1f} s")
    else:
        seed(args, one_month, search)
    started = time.monotonic()
    with connection.cursor() as cursor:
        # What autovacuum does soon after a bulk load: statistics and the visibility map.
        cursor.execute("VACUUM ANALYZE")
    print(f"VACUUM ANALYZE: {time.monotonic() - started:.1f} s", flush=True)

    results = measure_pages(args.runs)
    queries = measure_quota_check()
    lines = report(results, queries)
    if search:
        lines += report_search(measure_search(args.search_runs))
    for line in lines:
        print(line, flush=True)
    return lines


def seed(args, one_month: bool, search: bool) -> None:
    """A fresh database migrated and seeded; the search indexes, if this version has them,
    built after the load (as on an existing database; and the load is faster)."""
    from django.apps import apps
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from conversations.models.usage import month_start

    call_command("migrate", interactive=False, verbosity=0)
    if not (settings.STATIC_ROOT / "staticfiles.json").exists():  # pages need the manifest
        call_command("collectstatic", interactive=False, verbosity=0)
    indexes = search_indexes()
    if indexes:
        with connection.schema_editor(atomic=False) as editor:
            indexes.drop_indexes(apps, editor)
    started = time.monotonic()
    spread = {"month": f"{month_start():%Y-%m}"} if one_month else {"months": 12}
    heavy = min(args.heavy_person, args.replies // 2)
    seeding = {"models": args.models, "batch": 10_000, "text": search, **spread}
    call_command("seed_usage", replies=args.replies - heavy, users=args.users, **seeding)
    if heavy:  # one more user, with a large share of the replies: the person who searches
        call_command("seed_usage", replies=heavy, users=1, seed=2, **seeding)
    print(f"seed: {time.monotonic() - started:.1f} s", flush=True)
    if indexes:
        started = time.monotonic()
        with connection.cursor() as cursor:  # GIN builds are faster with more memory
            cursor.execute("SET maintenance_work_mem = '512MB'")
        with connection.schema_editor(atomic=False) as editor:
            indexes.create_indexes(apps, editor)
        print(f"search indexes: {time.monotonic() - started:.1f} s", flush=True)


def search_indexes():
    """The migration that creates the search indexes (its create_indexes and drop_indexes), or
    None in a version without them."""
    import importlib

    try:
        return importlib.import_module("conversations.migrations.0013_search_indexes")
    except ModuleNotFoundError:
        return None


def measure_pages(runs: int) -> dict:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from conversations.models import UsageEntry
    from conversations.models.usage import month_start

    User = get_user_model()
    admin = User.objects.filter(username="bench-admin").first()
    admin = admin or User.objects.create_superuser("bench-admin", password=None)
    heavy = User.objects.filter(username__startswith="seed-").order_by("pk").first()
    pages = {"dashboard": (admin, "/admin/usage/"), "my_usage": (heavy, "/usage/")}
    this_month = UsageEntry.objects.filter(month=month_start())  # the ledger under each page
    entries = {"dashboard": this_month, "my_usage": this_month.filter(user=heavy)}
    results = {}
    for name, (user, path) in pages.items():
        client = Client(SERVER_NAME="localhost")
        client.force_login(user)
        assert client.get(path).status_code == 200  # warm: templates, connection, caches
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        with CaptureQueriesContext(connection) as captured:
            client.get(path)
        results[name] = {
            "entries": entries[name].count(),
            "median_ms": statistics.median(timings),
            "max_ms": max(timings),
            "queries": len(captured),
        }
    return results


def measure_quota_check() -> dict:
    """Queries of what a send does before calling the relay, for a user with no history and
    for a seeded user (the whole ledger in the table): the quota check alone (limits_for and
    the locked month row) and the whole submit, each rolled back. The first check of a month
    also creates the month row, so it is counted separately."""
    import uuid

    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from conversations.models import Conversation, QuotaPolicy, Reply, UsageEntry, UsageMonth
    from conversations.models.usage import month_start

    def check(user) -> int:
        with CaptureQueriesContext(connection) as captured:
            QuotaPolicy.limits_for(user)
            UsageMonth.locked(user, month_start())
        return len(captured)

    User = get_user_model()
    QuotaPolicy.objects.get_or_create(scope="default", defaults={"monthly_token_limit": 10**12})
    fresh, _created = User.objects.get_or_create(username="bench-fresh")
    seeded = User.objects.filter(username__startswith="seed-").order_by("pk").first()
    counts = {}
    for label, user in [("empty", fresh), ("full", seeded)]:
        history = UsageEntry.objects.filter(user=user).count()
        with transaction.atomic():
            first, then = check(user), check(user)
            transaction.set_rollback(True)
        UsageMonth.objects.get_or_create(user=user, month=month_start())
        conversation = Conversation.objects.filter(owner=user).first() or Conversation(
            owner=user, model="seed-model-0"
        )
        with transaction.atomic():
            with CaptureQueriesContext(connection) as submit:
                Reply.objects.submit(user, conversation, "How many queries?", uuid.uuid4())
            transaction.set_rollback(True)
        counts[label] = {"history": history, "first": first, "check": then, "submit": len(submit)}
    return counts


def report(results: dict, queries: dict) -> list[str]:
    lines = []
    for name, figures in results.items():
        verdict = "PASS" if figures["median_ms"] <= TARGETS_MS[name] else "FAIL"
        lines.append(
            f"{name}: median {figures['median_ms']:.0f} ms (max {figures['max_ms']:.0f} ms, "
            f"{figures['queries']} queries, {figures['entries']} entries this month), "
            f"target <= {TARGETS_MS[name]} ms: {verdict}"
        )
    empty, full = queries["empty"], queries["full"]
    same = empty["check"] == full["check"] and empty["submit"] == full["submit"]
    lines.append(
        f"quota check queries: {empty['check']} with an empty history, {full['check']} with "
        f"{full['history']} entries of the user ({empty['first']} and {full['first']} when the "
        f"month row is first created); whole submit: {empty['submit']} vs {full['submit']}: "
        f"{'PASS' if same else 'FAIL'}"
    )
    return lines


def search_queries() -> dict[str, str]:
    """Words of the seeded text (conversations/management/seed_text.py) from the most to the
    least common, English and Chinese: in most replies, in some, in one."""
    from conversations.management.seed_text import rare_word, vocabulary

    words = vocabulary()
    three = next(word for word in words.chinese[100:] if len(word) == 3)
    return {
        "common word": "the",
        "frequent word": "database",
        "less common word": words.english[2000],
        "rare word": rare_word(10**7 + 12_345),  # seed 1's
        "two words": f"{words.english[300]} {words.english[301]}",
        "Chinese, 4 characters": words.chinese[0] + words.chinese[1],
        "Chinese, 3 characters": three,
        "Chinese, 2 characters": words.chinese[5],
    }


def measure_search(runs: int) -> dict:
    """Median server-side time of each search page for each query, and how many replies the
    query matches in the whole database (counted once, untimed)."""
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.db.models import Q
    from django.test import Client

    from conversations.models import Reply

    User = get_user_model()
    person = User.objects.filter(username__startswith="seed-").order_by("pk").last()
    admin = User.objects.get(username="bench-admin")
    clients = {}
    for who, user in [("person", person), ("admin", admin)]:
        clients[who] = Client(SERVER_NAME="localhost")
        clients[who].force_login(user)
    results = {"person": person.get_username(), "queries": {}}
    with connection.cursor() as cursor:  # a search without an index can take minutes
        cursor.execute(f"SET statement_timeout = {SEARCH_TIMEOUT_SECONDS * 1000}")
    for label, query in search_queries().items():
        matching = Reply.objects.filter(Q(user_input__icontains=query) | Q(text__icontains=query))
        timings = {}
        for page, path in SEARCH_PAGES.items():
            timings[page] = time_search(clients[page.split(":")[0]], path, query, runs)
        results["queries"][label] = {
            "query": query,
            "replies": matching.count(),
            "mine": matching.filter(user=person).count(),
            "ms": timings,
        }
    with connection.cursor() as cursor:
        cursor.execute("RESET statement_timeout")
    return results


def time_search(client, path: str, query: str, runs: int) -> float:
    """The median of `runs` requests after a first one (which warms the caches), or the first
    one's time alone when it took over SLOW_SEARCH_SECONDS (an unindexed search), or the
    statement timeout when a query was cancelled by it."""
    from django.db import OperationalError

    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        try:
            response = client.get(path, {"q": query})
        except OperationalError:  # cancelled by statement_timeout
            return SEARCH_TIMEOUT_SECONDS * 1000
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
        if times[0] > SLOW_SEARCH_SECONDS * 1000:
            return times[0]
    return statistics.median(times[1:])


def report_search(results: dict) -> list[str]:
    """Each query's times, then each page's median over the queries against the target."""
    lines = [f"search ({results['person']}'s for the person, a superuser's for the admin):"]
    for label, figures in results["queries"].items():
        times = ", ".join(
            f"{page} {'>=' if ms >= SEARCH_TIMEOUT_SECONDS * 1000 else ''}{ms:.0f}"
            for page, ms in figures["ms"].items()
        )
        lines.append(
            f"  {label} {figures['query']!r} ({figures['replies']} replies, "
            f"{figures['mine']} the person's): {times} ms"
        )
    for page in SEARCH_PAGES:
        times = [figures["ms"][page] for figures in results["queries"].values()]
        median = statistics.median(times)
        verdict = "PASS" if median <= SEARCH_TARGET_MS else "FAIL"
        lines.append(
            f"search {page}: median {median:.0f} ms over {len(times)} queries (slowest "
            f"{max(times):.0f} ms), target <= {SEARCH_TARGET_MS} ms: {verdict}"
        )
    return lines


if __name__ == "__main__":
    main()
