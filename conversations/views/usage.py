"""The "My usage" page: this month's tokens and cost against the monthly quota, by model, and
tokens per day for the last 30 days. Only the signed-in user's own usage, from the ledger."""

from django.contrib.auth.decorators import login_required
from django.db.models import Sum
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from conversations import charts, usage_reports
from conversations.attachments.store import storage_allowed, storage_used
from conversations.models import AIModel, Reply
from conversations.models.usage import QuotaStatus, month_start, next_month
from conversations.templatetags.usage import money, tokens


@login_required
@require_GET
def my_usage(request):
    user, month = request.user, month_start()
    entries = usage_reports.month_entries(month, user)
    period, days = usage_reports.user_last_days(user, 30)
    return render(
        request,
        "conversations/my_usage.html",
        {
            "month": month,
            "resets_on": next_month(month),
            "totals": usage_reports.totals(entries),
            "models": usage_reports.by_model(entries, "name"),
            "meters": quota_meters(user),
            "period": period,
            "days": days,
            "chart": charts.tokens_per_day(days, _("Tokens per day, last 30 days")),
            "image_tokens": month_image_tokens(user, month),
            "storage": {"used": storage_used(user), "allowed": storage_allowed()},
        },
    )


def month_image_tokens(user, month) -> int:
    """Input tokens of images (attached or in the history) in this month's replies, as the relay
    reported them (either naming scheme: upstream.parse_usage)."""
    replies = Reply.objects.filter(user=user, created_at__date__gte=month)
    return replies.aggregate(total=Sum("input_image_tokens"))["total"] or 0


def quota_meters(user) -> list[dict] | None:
    """One meter per monthly limit (tokens, cost) from the user's month row; None when no
    limit applies to the user."""
    status = QuotaStatus.for_user(user)
    limits = status.limits
    if limits.unlimited:
        return None
    meters = []
    if limits.tokens is not None:
        meters.append(
            _meter(_("Tokens"), status.tokens_used, status.tokens_reserved, limits.tokens, tokens)
        )
    if limits.cost is not None:
        currency = _catalogue_currency()
        meters.append(
            _meter(
                _("Cost (%(currency)s)") % {"currency": currency},
                status.cost_used,
                status.cost_reserved,
                limits.cost,
                money,
            )
        )
    return meters


def _catalogue_currency() -> str:
    """The currency cost limits are set in (the catalogue's; USD when it is empty)."""
    return AIModel.objects.values_list("currency", flat=True).first() or "USD"


def _meter(name: str, used, reserved, limit, show) -> dict:
    numbers = {"used": show(used), "reserved": show(reserved), "limit": show(limit)}
    label = _("%(name)s: %(used)s used and %(reserved)s reserved of %(limit)s") % {
        "name": name,
        **numbers,
    }
    return {
        "name": name,
        **numbers,
        "left": show(max(limit - used - reserved, 0)),
        "over": used + reserved >= limit,
        "bar": charts.meter_bar(used, reserved, limit, label),
    }
