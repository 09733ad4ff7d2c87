"""Values every page needs: whether replies are simulated (demo mode), and whether the login
page offers the company sign-in (OIDC_ISSUER) and to whom it keeps the password form."""

from django.conf import settings


def workspace(request):
    return {
        "demo_mode": settings.DEMO_MODE,
        "company_sign_in": bool(settings.OIDC_ISSUER),
        "company_sign_in_label": settings.OIDC_BUTTON_LABEL,
        "local_login_superusers": settings.LOCAL_LOGIN == "superusers",
    }
