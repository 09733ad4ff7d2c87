"""Fixtures of the company sign-in tests: the provider (tests/oidc_provider.py) on 127.0.0.1 for
the session, and the site configured for it."""

import pytest

from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider


@pytest.fixture(scope="session")
def oidc_provider_server():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # http on 127.0.0.1
        provider = Provider().start()
        yield provider
        provider.stop()


@pytest.fixture
def company_sign_in(oidc_provider_server, settings):
    """The site configured for the provider (as the environment would), its discovery not
    yet cached."""
    from django.core.cache import cache

    settings.OIDC_ISSUER = oidc_provider_server.url
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_GROUPS_PREFIX = "chat-"
    settings.OIDC_REVIEWER_GROUP = "chat-reviewers"
    cache.clear()
    oidc_provider_server.forge_keys = False
    yield oidc_provider_server
    oidc_provider_server.forge_keys = False
    cache.clear()
