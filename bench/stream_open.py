"""What opening a live reply's stream costs the server, in process: CPU per open (200 opens,
best of seven rounds) for a reply this process is writing (the login check only), for one it is
not (the login check and the owner-scoped lookup), and for the session check an open stream
repeats every STREAM_SESSION_CHECK_INTERVAL seconds. The database connection is kept, as on the
server's stream threads. A temporary SQLite database unless DATABASE_URL is set.

    .venv/bin/python bench/stream_open.py
"""

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
if "DATABASE_URL" not in os.environ:
    os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='bench-')}/db.sqlite3"

OPENS, ROUNDS = 200, 7


def cpu_ms_each(action) -> float:
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.process_time()
        for _ in range(OPENS):
            action()
        best = min(best, (time.process_time() - started) / OPENS * 1000)
    return best


def main() -> None:
    import django

    django.setup()
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import get_user
    from django.core.management import call_command
    from django.db import connection
    from django.http import HttpRequest
    from django.test import Client
    from django.utils import timezone

    from conversations import live
    from conversations.models import Conversation, Reply, User

    call_command("migrate", verbosity=0)
    connection.close()
    connection.settings_dict["CONN_MAX_AGE"] = None
    settings.ALLOWED_HOSTS = ["testserver"]
    user = User.objects.create_user(f"bench-{time.time_ns()}")
    conversation = Conversation.objects.create(owner=user, model="gpt-5.5")
    now = timezone.now()
    reply = Reply.objects.create(
        conversation=conversation,
        user=user,
        user_input="hi",
        status=Reply.Status.IN_PROGRESS,
        model="gpt-5.5",
        started_at=now,
        heartbeat_at=now,
        worker="bench:1",
    )
    client = Client()
    client.force_login(user)
    url = f"/r/{reply.pk}/stream/"
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    session_store = import_module(settings.SESSION_ENGINE).SessionStore

    def open_stream():
        response = client.get(url)
        assert response.status_code == 200 and response.streaming
        response.close()

    def check_session():
        request = HttpRequest()
        request.session = session_store(session_key)
        assert get_user(request).pk == user.pk

    being_written = live.LiveReply(reply.pk, conversation.pk, user.pk)
    live.register(being_written)
    print(f"{connection.vendor}, CPU per call, best of {ROUNDS} rounds of {OPENS}:")
    print(f"  open, reply written here    {cpu_ms_each(open_stream):.2f} ms")
    print(f"  session check               {cpu_ms_each(check_session):.2f} ms")
    live.unregister(being_written)
    print(f"  open, reply looked up       {cpu_ms_each(open_stream):.2f} ms")
    conversation.delete()
    user.delete()


if __name__ == "__main__":
    main()
