"""Signing in with the company's identity provider (OpenID Connect), on mozilla-django-oidc:
the provider's endpoints found through its discovery document (provider.py), the backend that
makes and updates accounts from its claims (backends.py), and the password rule for local
accounts (LOCAL_LOGIN). Nothing here is active without OIDC_ISSUER."""
