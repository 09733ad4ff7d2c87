"""The reply streams open in this process, per user. One user may have MAX_STREAMS_PER_USER open
at once: opening one more marks their oldest as closed by the cap (its stream then ends with a
sentence, views/stream.py). The process's budget of live updates per second is split equally
between the users watching a live reply, then between each user's own live streams, so that
one person's many tabs slow only that person's streams. Used on the server's event loop only;
each process counts its own streams (README, "Generating")."""


class OpenStream:
    """One open stream: whose, in which session, whether it is following a live reply now, and
    whether a newer stream of the same user has taken its place."""

    __slots__ = ("closed_by_cap", "live", "session_key", "user_id")

    def __init__(self, user_id: int, session_key: str):
        self.user_id = user_id
        self.session_key = session_key
        self.live = False
        self.closed_by_cap = False


_open: dict[int, list[OpenStream]] = {}  # per user, oldest first
_live: dict[int, int] = {}  # live streams per user, for users with at least one


def register(stream: OpenStream, limit: int) -> None:
    """Counts `stream` as open; beyond `limit` for its user, their oldest is closed by the cap."""
    streams = _open.setdefault(stream.user_id, [])
    streams.append(stream)
    while len(streams) > limit:
        streams.pop(0).closed_by_cap = True


def unregister(stream: OpenStream) -> None:
    streams = _open.get(stream.user_id, [])
    if stream in streams:
        streams.remove(stream)
        if not streams:
            del _open[stream.user_id]
    if stream.live:
        stop_live(stream)


def open_count(user_id: int) -> int:
    return len(_open.get(user_id, ()))


def start_live(stream: OpenStream) -> None:
    stream.live = True
    _live[stream.user_id] = _live.get(stream.user_id, 0) + 1


def stop_live(stream: OpenStream) -> None:
    """Once per stream, however often it is called (a closed stream's events may be finalised
    after it was unregistered)."""
    if not stream.live:
        return
    stream.live = False
    _live[stream.user_id] -= 1
    if not _live[stream.user_id]:
        del _live[stream.user_id]


def share(user_id: int) -> float:
    """The part of the process's per-second budget (messages, renders) that one live stream of
    this user may use: an equal part per user watching a live reply, split equally between
    that user's live streams."""
    return 1 / (len(_live) * _live[user_id])
