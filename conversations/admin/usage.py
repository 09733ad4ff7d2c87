"""The admin for money: the model catalogue with its prices, quotas, and the usage ledger
(read-only)."""

import datetime
import re

from django import forms
from django.contrib import admin
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _

from conversations.admin.base import ReadOnlyAdmin
from conversations.models import AIModel, QuotaPolicy, UsageEntry
from conversations.models.usage import month_start

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$")


class DomainsField(forms.CharField):
    """A list of domains, typed one a line (or separated by commas or spaces)."""

    widget = forms.Textarea(attrs={"rows": 3})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value) -> list[str]:
        text = super().to_python(value) or ""
        domains = []
        for word in re.split(r"[\s,]+", text.strip().lower()):
            if not word:
                continue
            if not _DOMAIN.match(word):
                raise forms.ValidationError(
                    _("“%(domain)s” is not a domain name (write e.g. example.org)."),
                    params={"domain": word},
                )
            if word not in domains:
                domains.append(word)
        return domains


class AIModelForm(forms.ModelForm):
    web_search_domains = DomainsField(
        label=_("allowed domains"),
        required=False,
        help_text=_("Search only these sites, one a line (empty: the whole web)."),
    )

    class Meta:
        model = AIModel
        fields = (
            "web_search",
            "web_search_context_size",
            "web_search_domains",
            "image_generation",
        )


@admin.register(AIModel)
class AIModelAdmin(admin.ModelAdmin):
    form = AIModelForm
    fieldsets = (
        (None, {"fields": ("model_id", "display_name", "enabled", "sort_order")}),
        (
            _("Prices"),
            {"fields": ("input_price", "cached_input_price", "output_price", "currency")},
        ),
        (
            _("Hosted tools"),
            {
                "fields": (
                    "web_search",
                    "web_search_context_size",
                    "web_search_domains",
                    "image_generation",
                )
            },
        ),
    )
    list_display = (
        "model_id",
        "display_name",
        "enabled",
        "sort_order",
        "input_price",
        "cached_input_price",
        "output_price",
        "currency",
        "price_set",
        "web_search",
    )
    list_editable = ("enabled", "sort_order", "input_price", "cached_input_price", "output_price")
    list_filter = ("enabled", "currency", "web_search")
    search_fields = ("model_id", "display_name")

    @admin.display(description=_("price"))
    def price_set(self, obj: AIModel) -> str:
        """Replies by a model without a price are recorded with no cost."""
        return "" if obj.has_price else _("price not set")


@admin.register(QuotaPolicy)
class QuotaPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "__str__",
        "scope",
        "target",
        "monthly_token_limit",
        "monthly_cost_limit",
        "exempt",
        "max_concurrent_replies",
        "max_sends_per_minute",
    )
    list_filter = ("scope", "exempt")
    list_select_related = ("user", "group")
    search_fields = ("user__username", "group__name")
    raw_id_fields = ("user",)

    @admin.display(description=_("applies to"))
    def target(self, obj: QuotaPolicy) -> str:
        return str(obj.user or obj.group or _("everyone"))


class MonthFilter(admin.SimpleListFilter):
    """The last twelve accounting months (listed without a query on the ledger)."""

    title = _("month")
    parameter_name = "month"

    def lookups(self, request, model_admin):
        month = month_start()
        months = []
        for _index in range(12):
            months.append((month.isoformat(), date_format(month, "YEAR_MONTH_FORMAT")))
            month = (month - datetime.timedelta(days=1)).replace(day=1)
        return months

    def queryset(self, request, queryset):
        return queryset.filter(month=self.value()) if self.value() else queryset


@admin.register(UsageEntry)
class UsageEntryAdmin(ReadOnlyAdmin):
    """The ledger, read-only: entries are written only when a reply is billed."""

    list_display = (
        "created_at",
        "user",
        "group_name",
        "model",
        "total_tokens",
        "cost",
        "currency",
        "estimated",
    )
    list_filter = (MonthFilter, "model", "estimated")
    search_fields = ("user__username",)
    list_select_related = ("user",)
    readonly_fields = [field.name for field in UsageEntry._meta.fields]
    show_full_result_count = False
