"""Signing in and out with the company's identity provider: mozilla-django-oidc's views with
the endpoints from discovery, and every way the sign-in can fail turned into a sentence in the
person's language with a way back to the login page (the details go to the log). Without
OIDC_ISSUER these URLs answer 404."""

import logging

import jwt
import requests
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
    OIDCLogoutView,
)

from conversations.company_sign_in import provider

logger = logging.getLogger(__name__)

SENTENCES = {
    "down": _(
        "The company sign-in is not available right now: the identity provider did not answer. "
        "Try again in a few minutes, or ask your IT department."
    ),
    "denied": _(
        "The company sign-in was cancelled because access was not allowed. To use the chat, "
        "sign in again and allow access."
    ),
    "provider_error": _(
        "The company's identity provider refused the sign-in. Try again, or ask your IT department."
    ),
    "state": _(
        "This sign-in could not be completed: it expired, was already used, or was started in "
        "another browser. Sign in again."
    ),
    "token": _(
        "The answer of the company's identity provider could not be verified, so you were not "
        "signed in. Try again, or ask your IT department."
    ),
    "claims": _(
        "The company's identity provider did not say who you are (no username), so you were "
        "not signed in. Ask your IT department."
    ),
    "inactive": _("Your account on this site has been deactivated. Ask your administrator."),
    "taken": _(
        "An account with your username already exists on this site and is not yours to sign "
        "in to with the company account. Ask your administrator."
    ),
    "failed": _("The company sign-in did not complete. Try again, or ask your IT department."),
}
STATUS = {"down": 503, "inactive": 403, "taken": 403, "claims": 403, "denied": 403}


def failed(request, reason: str):
    return render(
        request,
        "registration/sign_in_failed.html",
        {"sentence": SENTENCES[reason]},
        status=STATUS.get(reason, 400),
    )


class CompanySignInStart(OIDCAuthenticationRequestView):
    get_settings = staticmethod(provider.get_setting)


class CompanySignInCallback(OIDCAuthenticationCallbackView):
    get_settings = staticmethod(provider.get_setting)

    def login_success(self):
        """The session lasts OIDC_SESSION_HOURS: then the person goes through the provider
        again (at once when it still knows them), so that someone it no longer lets in loses
        the site within that time even if nobody deactivates them here."""
        response = super().login_success()
        self.request.session.set_expiry(round(settings.OIDC_SESSION_HOURS * 3600))
        return response

    def login_failure(self):
        request = self.request
        error = request.GET.get("error")
        if error:
            logger.warning(
                "company sign-in: the provider answered %s (%s)",
                error,
                request.GET.get("error_description", ""),
            )
            return failed(request, "denied" if error == "access_denied" else "provider_error")
        user = getattr(self, "user", None)
        if user is not None and not user.is_active:
            return failed(request, "inactive")
        return failed(request, getattr(request, "company_sign_in_refusal", "failed"))


class CompanySignOut(OIDCLogoutView):
    get_settings = staticmethod(provider.get_setting)


@require_GET
def start(request):
    """Off to the provider, with state, nonce and PKCE (the library keeps them in the session)."""
    if not provider.enabled():
        raise Http404
    try:
        return CompanySignInStart.as_view()(request)
    except provider.ProviderUnavailable:
        return failed(request, "down")


@require_GET
def callback(request):
    """Where the provider sends the person back (the redirect URI to register)."""
    if not provider.enabled():
        raise Http404
    state = request.GET.get("state")
    if "error" not in request.GET and state not in request.session.get("oidc_states", {}):
        logger.warning("company sign-in: a callback with an unknown state")
        return failed(request, "state")
    try:
        return CompanySignInCallback.as_view()(request)
    except (provider.ProviderUnavailable, requests.RequestException) as error:
        logger.warning("company sign-in: the provider failed: %r", error)
        return failed(request, "down")
    except (SuspiciousOperation, jwt.InvalidTokenError) as error:
        logger.warning("company sign-in: token refused: %r", error)
        return failed(request, "token")


# Replaces Django's LogoutView at /logout/ (a POST, as before): the provider's session ends too.
sign_out = CompanySignOut.as_view()
