"""Dates are shown in the person's own time zone: the browser says which one in a cookie (set by
base.html's first script from Intl.DateTimeFormat().resolvedOptions().timeZone), and each
request activates it; a missing or unknown name means the site's TIME_ZONE. Only what is shown
follows it (the sidebar's Today, Yesterday..., dates on pages): quotas, usage days and months
are always counted in the site's time zone (conversations/models/usage.py)."""

import zoneinfo
from functools import cache

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.utils import timezone

COOKIE = "time_zone"
# Longer than any IANA name ("America/Argentina/ComodRivadavia" is 32): longer is not one.
MAX_NAME = 64


@cache
def _known_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def time_zone_named(name: str | None) -> zoneinfo.ZoneInfo | None:
    """The IANA time zone `name` names, or None for anything else (only the names the system
    knows are looked up, never a path made from what the browser sent)."""
    if not name or len(name) > MAX_NAME or name not in _known_names():
        return None
    return zoneinfo.ZoneInfo(name)


class TimeZoneMiddleware:
    """Activates the time zone the browser's cookie names for the request (both sync and
    async, so it adds no thread hop to the async stack), and the site's after it."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self._acall(request)
        self._activate(request)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()

    async def _acall(self, request):
        self._activate(request)
        try:
            return await self.get_response(request)
        finally:
            timezone.deactivate()

    @staticmethod
    def _activate(request) -> None:
        zone = time_zone_named(request.COOKIES.get(COOKIE))
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
