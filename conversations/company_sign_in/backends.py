"""The two ways in: the company's provider (CompanyAccountBackend) and a local password
(LocalPasswordBackend, limited to superusers by LOCAL_LOGIN=superusers, whichever login form
is used, the admin's too)."""

import logging
import re

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from conversations.company_sign_in import provider
from conversations.models import DirectoryAccount

logger = logging.getLogger(__name__)


class LocalPasswordBackend(ModelBackend):
    """Username and password. With LOCAL_LOGIN=superusers only a superuser's password opens
    the site: everyone else signs in with the company account."""

    def user_can_authenticate(self, user) -> bool:
        if settings.LOCAL_LOGIN == "superusers" and not user.is_superuser:
            return False
        return super().user_can_authenticate(user)


class Refused(SuspiciousOperation):
    """The provider vouched for the person, but this site does not let them in; `reason` is
    one of views.company_sign_in.SENTENCES' keys. (A SuspiciousOperation, so that
    mozilla-django-oidc logs it and answers no user.)"""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


def refuse(request, reason: str, detail: str) -> Refused:
    """Tells the callback view why (an attribute of the request, as django-axes does)."""
    request.company_sign_in_refusal = reason
    logger.warning("company sign-in refused (%s): %s", reason, detail)
    return Refused(reason, detail)


class CompanyAccountBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend, with the endpoints from discovery (read only while
    signing someone in: loading a signed-in user never asks the provider), accounts linked to
    the provider's `sub`, named from OIDC_USERNAME_CLAIM, and their directory groups synced at
    every sign-in, all or nothing."""

    def __init__(self, *args, **kwargs):
        # Not the library's __init__: it reads the endpoints, which would ask the provider
        # each time Django loads any backend (every request of a signed-in person).
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None
        self.UserModel = get_user_model()

    @staticmethod
    def get_settings(attr, *args):
        return provider.get_setting(attr, *args)

    @property
    def OIDC_OP_TOKEN_ENDPOINT(self):  # the library's attribute names
        return self.get_settings("OIDC_OP_TOKEN_ENDPOINT")

    @property
    def OIDC_OP_USER_ENDPOINT(self):
        return self.get_settings("OIDC_OP_USER_ENDPOINT", None)

    @property
    def OIDC_OP_JWKS_ENDPOINT(self):
        return self.get_settings("OIDC_OP_JWKS_ENDPOINT")

    def get_user(self, user_id):
        """The signed-in person on each request, as Django's own backend gives them: none once
        deactivated (the library's would keep them), so deactivating someone ends their
        sessions at once."""
        return ModelBackend.get_user(self, user_id)

    def authenticate(self, request, **kwargs):
        """Only the callback's call (it passes the nonce), never a password form's."""
        if not provider.enabled() or "nonce" not in kwargs:
            return None
        return super().authenticate(request, **kwargs)

    def verify_token(self, token, **kwargs):
        """The library checks the signature against the provider's keys, the expiry and the
        nonce; the issuer and the audience are checked here (OpenID Connect Core 3.1.3.7)."""
        payload = super().verify_token(token, **kwargs)
        issuer = provider.metadata()["issuer"]
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if payload.get("iss") != issuer or self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("ID token for another issuer or client")
        return payload

    def get_userinfo(self, access_token, id_token, payload):
        """The ID token's claims (signed; Entra ID puts the groups only there), completed by
        the userinfo endpoint's when the provider has one (it must be about the same person)."""
        claims = dict(payload)
        if self.OIDC_OP_USER_ENDPOINT:
            userinfo = super().get_userinfo(access_token, id_token, payload)
            if userinfo.get("sub") != payload.get("sub"):
                raise SuspiciousOperation("userinfo about another subject")
            claims = {**userinfo, **claims}
        return claims

    def verify_claims(self, claims) -> bool:
        if not claims.get("sub"):
            raise refuse(self.request, "claims", "no sub claim")
        if not str(claims.get(settings.OIDC_USERNAME_CLAIM) or "").strip():
            raise refuse(
                self.request,
                "claims",
                f"no {settings.OIDC_USERNAME_CLAIM!r} claim among {sorted(claims)} "
                f"(sub {claims['sub']!r})",
            )
        return True

    def filter_users_by_claims(self, claims):
        """The account linked to this person; else, once, the unlinked account with their
        username (a local account made before company sign-in was turned on)."""
        linked = self.UserModel.objects.filter(
            directory_account__issuer=settings.OIDC_ISSUER,
            directory_account__subject=claims["sub"],
        )
        if linked.exists():
            return linked
        same_name = self.UserModel.objects.filter(username=username_of(claims))
        user = same_name.first()
        if user is None:
            return same_name
        if DirectoryAccount.objects.filter(user=user).exists():
            raise refuse(self.request, "taken", f"{user.username} is linked to another person")
        if user.is_superuser:
            raise refuse(self.request, "taken", f"{user.username} is a local superuser")
        return same_name

    def get_or_create_user(self, access_token, id_token, payload):
        with transaction.atomic():
            return super().get_or_create_user(access_token, id_token, payload)

    def create_user(self, claims):
        user = self.UserModel(username=username_of(claims))
        user.set_unusable_password()
        fill_from_claims(user, claims)
        user.save()
        return self.update_user(user, claims)

    def update_user(self, user, claims):
        if not user.is_active:
            raise refuse(self.request, "inactive", f"{user.username} is deactivated")
        fill_from_claims(user, claims)
        user.save()
        account, _created = DirectoryAccount.objects.get_or_create(
            user=user, defaults={"issuer": settings.OIDC_ISSUER, "subject": claims["sub"]}
        )
        account.last_sign_in = timezone.now()
        names = directory_groups(claims)
        reviewer = bool(settings.OIDC_REVIEWER_GROUP) and settings.OIDC_REVIEWER_GROUP in names
        account.sync_groups(names - {settings.OIDC_REVIEWER_GROUP}, reviewer)
        return user


def username_of(claims) -> str:
    return str(claims[settings.OIDC_USERNAME_CLAIM]).strip()[:150]


def fill_from_claims(user, claims) -> None:
    """Name and email from the standard claims, when the provider sends them."""
    for field, claim in (("first_name", "given_name"), ("last_name", "family_name")):
        if claims.get(claim):
            setattr(user, field, str(claims[claim])[:150])
    if claims.get("email"):
        user.email = str(claims["email"])[:254]


def directory_groups(claims) -> set[str]:
    """The groups claim's names, only those starting with OIDC_GROUPS_PREFIX when it is set
    (so the directory's unrelated groups stay out), as group names fit for Django (150)."""
    listed = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(listed, str):
        listed = re.split(r"[,\s]+", listed)
    names = {str(name).strip()[:150] for name in listed if str(name).strip()}
    reviewer = settings.OIDC_REVIEWER_GROUP
    prefix = settings.OIDC_GROUPS_PREFIX
    return {name for name in names if not prefix or name.startswith(prefix) or name == reviewer}
