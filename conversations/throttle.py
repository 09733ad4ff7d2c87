"""Throttles repeated failed logins, per username and per client address, in the cache
(in-process by default; Redis when REDIS_URL is set, so every worker shares the count)."""

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _


def _keys(request, username: str) -> list[str]:
    address = request.META.get("REMOTE_ADDR", "") if request else ""
    return [f"login-fail:user:{username.strip().lower()}", f"login-fail:addr:{address}"]


def is_throttled(request, username: str) -> bool:
    counts = cache.get_many(_keys(request, username))
    return any(count >= settings.LOGIN_FAILURE_LIMIT for count in counts.values())


def record_failure(request, username: str) -> None:
    for key in _keys(request, username):
        if cache.add(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW):
            continue
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW)


def clear_failures(request, username: str) -> None:
    cache.delete_many(_keys(request, username))


class ThrottledLoginForm(AuthenticationForm):
    """Django's login form (fields "Username" and "Password"), refusing to check a password
    after LOGIN_FAILURE_LIMIT failures within LOGIN_FAILURE_WINDOW seconds."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": _(
            "Too many failed attempts to log in. For your security, wait %(minutes)s minutes "
            "and try again, or ask your administrator to reset your password."
        ),
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if is_throttled(self.request, username):
            raise ValidationError(
                self.error_messages["throttled"],
                code="throttled",
                params={"minutes": max(1, settings.LOGIN_FAILURE_WINDOW // 60)},
            )
        try:
            cleaned = super().clean()
        except ValidationError:
            record_failure(self.request, username)
            raise
        clear_failures(self.request, username)
        return cleaned
