"""Prepares the benchmark's own database (DATABASE_URL must point at a temporary file, or at a
PostgreSQL database whose name starts with bench_, made for the run by bench/tempdb.py): migrates
it, creates N users and a logged-in session for each, and prints one JSON line per user
({"user": ..., "sessionid": ..., "csrftoken": ...}). Run as its own process by run.py."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")


def main(count: int) -> None:
    import django

    url = os.environ.get("DATABASE_URL", "")
    if not (url.startswith("sqlite:////tmp/") or _is_bench_postgres(url)):
        sys.exit(f"refusing to set up a database that is not the benchmark's own: {url!r}")
    django.setup()

    import json

    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.db import transaction
    from django.middleware.csrf import _get_new_csrf_string

    call_command("migrate", interactive=False, verbosity=0)
    User = get_user_model()
    unusable = make_password(None)  # no hashing work per user; sessions are made directly
    User.objects.bulk_create(
        [User(username=f"bench{i:04d}", password=unusable) for i in range(count)]
    )
    lines = []
    with transaction.atomic():
        for user in User.objects.filter(username__startswith="bench").order_by("username"):
            session = SessionStore()
            session[SESSION_KEY] = str(user.pk)
            session[BACKEND_SESSION_KEY] = (
                "conversations.company_sign_in.backends.LocalPasswordBackend"
            )
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.create()
            lines.append(
                json.dumps(
                    {
                        "user": user.username,
                        "sessionid": session.session_key,
                        "csrftoken": _get_new_csrf_string(),
                    }
                )
            )
    print("\n".join(lines))


def _is_bench_postgres(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.scheme in ("postgres", "postgresql") and parts.path.startswith("/bench_")


if __name__ == "__main__":
    main(int(sys.argv[1]))
