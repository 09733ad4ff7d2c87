"""The key in a live reply's stream address. The page that shows a reply being written gives its
stream a key bound to the reply, the user the page was made for, the browser's session cookie and
the moment it was made: a stream opened with it within STREAM_KEY_MAX_AGE seconds, for a reply
this process is writing, needs no database query at all (no session, user or reply lookup),
which was most of what opening a stream cost. Without a key, with an old one (a reconnect after
a long break), or once the reply has ended, the stream goes through the usual login check. A key
is useless without the session cookie it was made for and shows only that one reply, while it is
being written; the stream still ends within seconds of its user being deactivated
(views/stream.py)."""

import time

from django.conf import settings
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

SALT = "conversations.stream_keys"


def _key(reply_id, user_id, session_key: str, made_at: int) -> str:
    message = f"{reply_id}:{user_id}:{session_key}:{made_at}"
    return f"{made_at:x}-{salted_hmac(SALT, message, algorithm='sha256').hexdigest()}"


def stream_url(request, reply) -> str:
    """The stream's address for `request`'s (logged-in) user."""
    url = reverse("reply_stream", args=[reply.pk])
    session_key = request.session.session_key if request is not None else None
    if not session_key or not request.user.is_authenticated:
        return url
    return f"{url}?key={_key(reply.pk, request.user.pk, session_key, int(time.time()))}"


def opens(request, live) -> bool:
    """True for a GET with a key that `stream_url` made, less than STREAM_KEY_MAX_AGE seconds
    ago, for this live reply's owner in the session whose cookie the request sends."""
    given = request.GET.get("key", "")
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
    made_at, _, _ = given.partition("-")
    if request.method != "GET" or not (given and session_key):
        return False
    try:
        made_at = int(made_at, 16)
    except ValueError:
        return False
    if not 0 <= time.time() - made_at <= settings.STREAM_KEY_MAX_AGE:
        return False
    return constant_time_compare(given, _key(live.reply_id, live.user_id, session_key, made_at))
