"""The admin's usage dashboard and its chargeback CSV, for staff with the view_usage_dashboard
permission: totals, tables by user, group and model, tokens and cost per day, and the costliest
conversations, over a date range (this month unless chosen)."""

import datetime
from functools import wraps

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from conversations import charts, usage_reports
from conversations.usage_reports import Period

PERMISSION = "conversations.view_usage_dashboard"
MAX_DAYS = 366


def usage_staff_only(view):
    """Staff (through the admin's login) with the dashboard permission; others get a 403."""

    @wraps(view)
    def checked(request, *args, **kwargs):
        if not request.user.has_perm(PERMISSION):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return admin.site.admin_view(require_GET(checked))


def _date_input():
    # A date picker sends and expects ISO dates, whatever the language's date format.
    return forms.DateInput({"type": "date"}, format="%Y-%m-%d")


class RangeForm(forms.Form):
    start = forms.DateField(label=gettext_lazy("From"), widget=_date_input())
    end = forms.DateField(label=gettext_lazy("To"), widget=_date_input())

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise forms.ValidationError(_("The first day must not be after the last."))
        if start and end and (end - start).days >= MAX_DAYS:
            raise forms.ValidationError(_("Choose at most a year."))
        return data

    def period(self) -> Period:
        if self.is_bound and self.is_valid():
            return Period(self.cleaned_data["start"], self.cleaned_data["end"])
        return Period.this_month()


def _range_form(request) -> tuple[RangeForm, Period]:
    bound = "start" in request.GET or "end" in request.GET
    form = RangeForm(request.GET if bound else None)
    period = form.period()
    if not bound:
        form = RangeForm(initial={"start": period.start, "end": period.end})
    return form, period


@usage_staff_only
def dashboard(request):
    form, period = _range_form(request)
    sort = usage_reports.parse_sort(request.GET.get("sort"))
    entries = period.entries()
    totals = usage_reports.totals(entries)
    days = usage_reports.per_day(period.days_rows(), period)
    currency = totals.costs[0][0] if len(totals.costs) == 1 else ""
    before = period.start.replace(day=1) - datetime.timedelta(days=1)
    context = {
        **admin.site.each_context(request),
        "title": _("Usage dashboard"),
        "form": form,
        "period": period,
        "this_month": Period.this_month(),
        "month_before": Period.month(before.replace(day=1)),
        "sort": sort,
        "totals": totals,
        "tables": [
            (_("By user"), "users", usage_reports.by_user(entries, sort)),
            (_("By group"), "groups", usage_reports.by_group(entries, sort)),
            (_("By model"), "models", usage_reports.by_model(entries, sort)),
        ],
        "top_conversations": usage_reports.top_conversations(period),
        "days": days,
        "tokens_chart": charts.tokens_per_day(days, _("Tokens per day")),
        "cost_chart": charts.cost_per_day(days, _("Cost per day"), currency),
    }
    return render(request, "admin/usage_dashboard.html", context)


@usage_staff_only
def export_csv(request):
    """The chargeback file: month, group, user, model, tokens and cost, for the chosen range."""
    _form, period = _range_form(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    filename = f"usage-{period.start:%Y-%m-%d}-to-{period.end:%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    usage_reports.write_csv(usage_reports.chargeback_rows(period), response)
    return response
