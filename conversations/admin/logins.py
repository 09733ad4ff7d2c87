"""The login throttle's records in the admin (django-axes' own pages): the failed logins being
counted (deleting one lets that person or address try again at once) and the log of failures.
Successful logins are not logged (settings.AXES_DISABLE_ACCESS_LOG), so their page is left out."""

from axes.admin import AccessAttemptAdmin, AccessFailureLogAdmin
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib import admin

from conversations.login_throttle import AdminLoginForm

admin.site.register(AccessAttempt, AccessAttemptAdmin)
admin.site.register(AccessFailureLog, AccessFailureLogAdmin)

# The admin's login form says so when the login throttle refused a try, like the chat's.
admin.site.login_form = AdminLoginForm
