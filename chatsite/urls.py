"""The site's URLs: the chat at the root, log in and out, and the admin (with its usage
dashboard, which sits before the admin's own catch-all)."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.http import require_GET

from conversations.login_throttle import LoginForm
from conversations.views import usage_dashboard


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
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/usage/", usage_dashboard.dashboard, name="usage_dashboard"),
    path("admin/usage/export.csv", usage_dashboard.export_csv, name="usage_export"),
    path("admin/", admin.site.urls),
    path("health/", health, name="health"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("conversations.urls")),
]
