"""The benchmark's own PostgreSQL database on the machine's server (`--workers`): created empty
at the start under a name of its own (bench_<pid>), dropped at the end, so a run never touches
another database and two runs never share one."""

import os
from urllib.parse import urlsplit, urlunsplit

# The server's maintenance database, from which ours is created and dropped. BENCH_POSTGRES_URL
# names another server; DATABASE_URL is used when it is a PostgreSQL one.
DEFAULT_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def admin_url() -> str:
    for name in ("BENCH_POSTGRES_URL", "DATABASE_URL"):
        url = os.environ.get(name, "")
        if url.startswith(("postgres://", "postgresql://")):
            return url
    return DEFAULT_ADMIN_URL


def with_database(url: str, name: str) -> str:
    """`url` pointing at database `name` instead (same server, user and options)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def create(name: str) -> str:
    """Creates the empty database `name` (must start with bench_); returns its URL."""
    import psycopg
    from psycopg import sql

    if not name.startswith("bench_"):
        raise ValueError(f"refusing to create {name!r}: the benchmark's names start with bench_")
    with psycopg.connect(admin_url(), autocommit=True) as db:
        db.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return with_database(admin_url(), name)


def drop(name: str) -> None:
    """Drops the database `name` (ending any connection still open to it)."""
    import psycopg
    from psycopg import sql

    if not name.startswith("bench_"):
        raise ValueError(f"refusing to drop {name!r}: the benchmark's names start with bench_")
    with psycopg.connect(admin_url(), autocommit=True) as db:
        db.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
