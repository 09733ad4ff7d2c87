"""The Django admin, one module per area. Each module registers its own model admins."""

from django.contrib import admin

from conversations.admin import chat, feedback, review, usage  # noqa: F401
from conversations.login_throttle import AdminLoginForm

# The admin's login form says so when the login throttle refused a try, like the chat's.
admin.site.login_form = AdminLoginForm
