"""The company's identity provider as its discovery document describes it
(`{OIDC_ISSUER}/.well-known/openid-configuration`): fetched when first needed, never at import
or settings load, and kept in the cache (shared between processes with REDIS_URL) for an hour.
Also the settings hook that gives mozilla-django-oidc its endpoints from it."""

import logging
from urllib.parse import urlencode

import httpx
from django.conf import settings
from django.core.cache import cache
from django.shortcuts import resolve_url
from mozilla_django_oidc.utils import import_from_settings

logger = logging.getLogger(__name__)

CACHE_SECONDS = 3600
# mozilla-django-oidc's setting -> the discovery document's field.
ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}
REQUIRED = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


class ProviderUnavailable(Exception):
    """The provider's discovery document could not be had (down, unreachable, or not one)."""


def enabled() -> bool:
    return bool(settings.OIDC_ISSUER)


def _cache_key() -> str:
    return f"oidc-discovery:{settings.OIDC_ISSUER}"


def metadata() -> dict:
    """The discovery document, from the cache or the provider. Raises ProviderUnavailable."""
    document = cache.get(_cache_key())
    if document is None:
        document = fetch()
        cache.set(_cache_key(), document, CACHE_SECONDS)
    return document


def fetch() -> dict:
    issuer = settings.OIDC_ISSUER.rstrip("/")
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        response = httpx.get(url, timeout=settings.OIDC_TIMEOUT, follow_redirects=True)
        response.raise_for_status()
        document = response.json()
    except (httpx.HTTPError, ValueError) as error:
        logger.warning("OpenID Connect discovery failed at %s: %r", url, error)
        raise ProviderUnavailable(str(error)) from error
    missing = [field for field in REQUIRED if not document.get(field)]
    # The document must speak for the configured issuer (OpenID Connect Discovery, 4.3).
    if missing or document["issuer"].rstrip("/") != issuer:
        logger.warning(
            "OpenID Connect discovery at %s is not usable: missing %s, issuer %r",
            url,
            missing,
            document.get("issuer"),
        )
        raise ProviderUnavailable("discovery document not usable")
    return document


def get_setting(attr: str, *default):
    """mozilla-django-oidc's settings, with the endpoints taken from discovery."""
    if attr in ENDPOINTS:
        return metadata().get(ENDPOINTS[attr], *default) if default else metadata()[ENDPOINTS[attr]]
    return import_from_settings(attr, *default)


def logout_url(request) -> str:
    """Where signing out goes (OIDC_OP_LOGOUT_URL_METHOD): the provider's end-session endpoint
    when it has one and this session came from it, so the provider's session ends too; then
    the provider sends the person back to the login page. Else the login page directly."""
    local = resolve_url(settings.LOGOUT_REDIRECT_URL)
    id_token = request.session.get("oidc_id_token")
    if not (enabled() and id_token):
        return local
    try:
        end_session = metadata().get("end_session_endpoint")
    except ProviderUnavailable:
        return local
    if not end_session:
        return local
    query = {
        "id_token_hint": id_token,
        "post_logout_redirect_uri": request.build_absolute_uri(local),
        "client_id": settings.OIDC_RP_CLIENT_ID,
    }
    separator = "&" if "?" in end_session else "?"
    return f"{end_session}{separator}{urlencode(query)}"
