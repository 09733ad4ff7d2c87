"""The login throttle, for every login form of the site (the chat's and the admin's): django-axes
counts failed logins in the database, per (username, client address) and per client address,
and refuses further tries for a while once either count reaches its limit (settings.py, "Logging
in"). This module holds what axes leaves to the project: the two limits, what a success
forgives, the sentence a refused person reads, and that the company sign-in is not throttled."""

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_cool_off, get_failure_limit
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.http import HttpResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

LOCKED_OUT = _(
    "Too many failed attempts to log in. For your security, wait %(minutes)s minutes before "
    "trying again (each try meanwhile starts the wait again), or ask your administrator."
)


# The words of axes' admin pages, which its own catalogs don't have in Chinese: listed here so
# that makemessages keeps their translations in ours (Django looks there first).
AXES_ADMIN_WORDS = [
    gettext_noop("access attempt"),
    gettext_noop("access attempts"),
    gettext_noop("access failure"),
    gettext_noop("access failures"),
    gettext_noop("access log"),
    gettext_noop("access logs"),
    gettext_noop("Attempt Time"),
    gettext_noop("IP Address"),
    gettext_noop("User Agent"),
    gettext_noop("Path"),
    gettext_noop("Failed Logins"),
    gettext_noop("Attempt Remaining"),
    gettext_noop("Locked Out"),
    gettext_noop("Access lock out"),
    gettext_noop("Logout Time"),
    gettext_noop("Form Data"),
    gettext_noop("Meta Data"),
    gettext_noop("GET Data"),
    gettext_noop("POST Data"),
    gettext_noop("Clean up expired attempts"),
    gettext_noop("Not set"),
]


def _total(attempts) -> int:
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


class LoginThrottleHandler(AxesDatabaseHandler):
    """Axes' database handler with a limit per (username, address), AXES_FAILURE_LIMIT, and a
    higher one per address, LOGIN_ADDRESS_FAILURE_LIMIT: the first stops guessing one person's
    password, the second a guesser trying many usernames, while the colleagues behind the
    same office address can make the odd typo (axes has one limit for all its counts; its
    maintainers point to a handler like this one for two). AXES_LOCKOUT_PARAMETERS lists the
    two counts in this order."""

    def get_failures(self, request, credentials=None) -> int:
        per_pair, per_address = self.get_user_attempts(request, credentials)
        failures = _total(per_pair)
        if _total(per_address) >= settings.LOGIN_ADDRESS_FAILURE_LIMIT:
            return max(failures, get_failure_limit(request, credentials))
        return failures

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        """A refused company sign-in (deactivated here, say) is no guess: not counted."""
        if is_company_sign_in(credentials):
            return None
        return super().user_login_failed(sender, credentials, request, **kwargs)

    def reset_user_attempts(self, request, credentials=None) -> int:
        """A successful login forgives that username's failures from that address, never the
        address's failures for other usernames: else a guesser's own account, or a
        colleague logging in from the same office, would wipe the count of a guesser trying
        many usernames."""
        per_pair, _per_address = self.filter_user_attempts(request, credentials)
        count, _deleted = per_pair.delete()
        return count


def is_company_sign_in(credentials) -> bool:
    """The company sign-in's call of authenticate() (its callback passes the nonce, and no
    password): the provider authenticated the person, so there is nothing to guess here."""
    return "nonce" in credentials and not credentials.get("password")


class PasswordLoginThrottle(AxesStandaloneBackend):
    """Axes' refusal of throttled logins, for password logins only: an office address that
    guessed passwords (or staff typing theirs with LOCAL_LOGIN=superusers) must not shut its
    people out of the company sign-in."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if is_company_sign_in({**kwargs, "password": password}):
            return None
        return super().authenticate(request, username, password, **kwargs)


def locked_out_error(request) -> ValidationError:
    minutes = -(-get_cool_off(request).total_seconds() // 60)
    return ValidationError(LOCKED_OUT, code="locked_out", params={"minutes": int(minutes)})


def lockout_response(request, original_response, credentials=None):
    """What a refused login answers (AXES_LOCKOUT_CALLABLE): the login page that the form
    already rendered, with the sentence and the username as typed, as 429 with Retry-After.
    (Axes' middleware passes no page when Django runs it asynchronously: then the sentence.)"""
    if not isinstance(original_response, HttpResponse):
        error = locked_out_error(request)
        original_response = HttpResponse(error.message % error.params)
    original_response.status_code = 429
    original_response["Retry-After"] = str(int(get_cool_off(request).total_seconds()))
    return original_response


SUPERUSERS_ONLY = _(
    "Please enter the correct username and password of a superuser: passwords are for the "
    "site's administrators only. Everyone else signs in with the company account (the button "
    "above)."
)


class LockoutMessage:
    """Shows the lockout sentence instead of "wrong username or password" when axes refused
    the login (it marks the request), whichever login form was used; with LOCAL_LOGIN=
    superusers, says that passwords are for superusers (the backend refuses the rest), without
    telling whether the password was right."""

    def get_invalid_login_error(self):
        if getattr(self.request, "axes_locked_out", False):
            return locked_out_error(self.request)
        if settings.LOCAL_LOGIN == "superusers":
            return ValidationError(SUPERUSERS_ONLY, code="superusers_only")
        return super().get_invalid_login_error()


class LoginForm(LockoutMessage, AuthenticationForm):
    """The chat's login form."""


class AdminLoginForm(LockoutMessage, AdminAuthenticationForm):
    """The admin's login form."""
