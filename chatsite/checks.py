"""System checks of how the site is served (`manage.py check`, run by `make run`, and every
worker's start-up, which refuses to serve on an error): several worker processes need what
lets them behave as one site."""

from django.conf import settings
from django.core import checks
from django.db import connections
from django.utils.translation import gettext as _

SERVING = "serving"


@checks.register(SERVING)
def several_workers_share_what_they_must(app_configs=None, **kwargs) -> list[checks.Error]:
    """WORKERS > 1 needs Redis (live replies, Stop and the cache shared between the processes)
    and PostgreSQL (SQLite takes one writer at a time, and its file is one machine's)."""
    if settings.WORKERS <= 1:
        return []
    errors = []
    if not settings.REDIS_URL:
        errors.append(
            checks.Error(
                _(
                    "WORKERS is %(workers)d but REDIS_URL is not set: several worker processes "
                    "share live replies, Stop and the cache through Redis. Set REDIS_URL "
                    "(e.g. redis://127.0.0.1:6379/0) or set WORKERS=1."
                )
                % {"workers": settings.WORKERS},
                id="chatsite.E001",
            )
        )
    if connections["default"].vendor == "sqlite":
        errors.append(
            checks.Error(
                _(
                    "WORKERS is %(workers)d but the database is SQLite: several worker processes "
                    "need PostgreSQL. Set DATABASE_URL (e.g. postgres://user:password@host:5432/"
                    "chat) or set WORKERS=1."
                )
                % {"workers": settings.WORKERS},
                id="chatsite.E002",
            )
        )
    return errors


@checks.register(checks.Tags.security)
def company_sign_in_is_complete(app_configs=None, **kwargs) -> list[checks.Error]:
    """OIDC_ISSUER turns the company sign-in on; it cannot work without the client's id and
    secret, and LOCAL_LOGIN takes only its two values."""
    errors = []
    if settings.OIDC_ISSUER and not (settings.OIDC_RP_CLIENT_ID and settings.OIDC_RP_CLIENT_SECRET):
        errors.append(
            checks.Error(
                _(
                    "OIDC_ISSUER is set but OIDC_CLIENT_ID or OIDC_CLIENT_SECRET is not: the "
                    "company sign-in needs the client id and secret the identity provider gave "
                    "when the site was registered. Set both, or unset OIDC_ISSUER."
                ),
                id="chatsite.E003",
            )
        )
    if settings.LOCAL_LOGIN not in ("everyone", "superusers"):
        errors.append(
            checks.Error(
                _("LOCAL_LOGIN is %(value)r: it takes everyone or superusers.")
                % {"value": settings.LOCAL_LOGIN},
                id="chatsite.E004",
            )
        )
    return errors
