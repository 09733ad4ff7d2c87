"""The key in a live reply's stream address. The page that shows a reply being written gives its
stream a key (Django's timestamped signature) bound to the reply, the user the page was made for
and the browser's session cookie: a stream opened with it within STREAM_KEY_MAX_AGE seconds, for
a reply this process is writing, needs no database query at all (no session, user or reply
lookup), which was most of what opening a stream cost. Without a key, with an old one (a
reconnect after a long break), or once the reply has ended, the stream goes through the usual
login check. A key is useless without the session cookie it was made for and shows only that
one reply, while it is being written; the stream still ends within seconds of its user being
deactivated (views/stream.py)."""

from django.conf import settings
from django.core import signing
from django.urls import reverse


def _signer(session_key: str) -> signing.TimestampSigner:
    # The session key goes into the salt: bound to it, never written into the address.
    return signing.TimestampSigner(salt=f"conversations.stream_keys:{session_key}")


def stream_url(request, reply) -> str:
    """The stream's address for `request`'s (logged-in) user."""
    url = reverse("reply_stream", args=[reply.pk])
    session_key = request.session.session_key if request is not None else None
    if not session_key or not request.user.is_authenticated:
        return url
    return f"{url}?key={_signer(session_key).sign(f'{reply.pk}.{request.user.pk}')}"


def opens(request, live) -> bool:
    """True for a GET with a key that `stream_url` made, less than STREAM_KEY_MAX_AGE seconds
    ago, for this live reply's owner in the session whose cookie the request sends."""
    given = request.GET.get("key", "")
    session_key = request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")
    if request.method != "GET" or not (given and session_key):
        return False
    try:
        value = _signer(session_key).unsign(given, max_age=settings.STREAM_KEY_MAX_AGE)
    except signing.BadSignature:  # (an expired key included)
        return False
    return value == f"{live.reply_id}.{live.user_id}"
