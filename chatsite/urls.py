"""The site's URLs: the chat at the root, log in and out (with the company sign-in), and the
admin (with its usage dashboard, which sits before the admin's own catch-all)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.http import require_GET

from conversations.login_throttle import LoginForm
from conversations.views import company_sign_in, usage_dashboard


@require_GET
def health(request):
    return JsonResponse({"status": "ok"})


urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(
            redirect_authenticated_user=True, authentication_form=LoginForm
        ),
        name="login",
    ),
    # Signing out ends the provider's session too when it came from there (company sign-in).
    path("logout/", company_sign_in.sign_out, name="logout"),
    path("oidc/authenticate/", company_sign_in.start, name="oidc_authentication_init"),
    path("oidc/callback/", company_sign_in.callback, name="oidc_authentication_callback"),
    path("admin/usage/", usage_dashboard.dashboard, name="usage_dashboard"),
    path("admin/usage/export.csv", usage_dashboard.export_csv, name="usage_export"),
    # The admin's "Log out" too ends the provider's session (as /logout/ does).
    path("admin/logout/", company_sign_in.sign_out),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("conversations.urls")),
]
