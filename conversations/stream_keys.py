"""The key in a live reply's stream address. The page that shows a reply being written gives its
stream a key bound to the reply, its owner and the browser's session cookie: a stream opened
with it, for a reply this process is writing, needs no database query at all (no session, user
or reply lookup), which is most of what opening a stream cost. Without the key, or once the
reply has ended, the stream goes through the usual login check. A key is useless without the
session cookie it was made for, and shows only that one reply while it is being written."""

from django.conf import settings
from django.urls import reverse
from django.utils.crypto import constant_time_compare, salted_hmac

SALT = "conversations.stream_keys"


def _key(reply_id, user_id, session_key: str) -> str:
    message = f"{reply_id}:{user_id}:{session_key}"
    return salted_hmac(SALT, message, algorithm="sha256").hexdigest()


def stream_url(request, reply) -> str:
    """The stream's address for `request`'s user, who owns `reply`."""
    url = reverse("reply_stream", args=[reply.pk])
    session_key = request.session.session_key if request is not None else None
    if not session_key:
        return url
    return f"{url}?key={_key(reply.pk, reply.user_id, session_key)}"


def opens(request, live) -> bool:
    """True when the request carries the key that `stream_url` made for this live reply's owner
    in the session whose cookie the request sends."""
    given = request.GET.get("key", "")
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
    if not (given and session_key):
        return False
    return constant_time_compare(given, _key(live.reply_id, live.user_id, session_key))
