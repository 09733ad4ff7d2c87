"""Template tags of the usage pages: numbers in the reader's language, and column headers that
sort a table on the server (?sort=cost, again for the other direction)."""

from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

register = template.Library()
CENT = Decimal("0.01")


@register.filter
def tokens(value) -> str:
    """A whole number with the language's digit grouping: 1,234,567."""
    return number_format(value or 0, decimal_pos=0, use_l10n=True, force_grouping=True)


@register.filter
def money(value) -> str:
    """An amount to the cent; a non-zero amount below a cent shows as "< 0.01"."""
    if value is None:
        return ""
    value = Decimal(value)
    if 0 < value < CENT:
        return "< " + number_format(CENT, decimal_pos=2, use_l10n=True)
    rounded = value.quantize(CENT, rounding=ROUND_HALF_UP)
    return number_format(rounded, decimal_pos=2, use_l10n=True, force_grouping=True)


@register.simple_tag(takes_context=True)
def sort_header(context, column: str, label: str, numeric: bool = True):
    """A <th> whose link sorts by `column` (descending first for numbers), keeping the other
    query parameters; aria-sort tells which column the table is sorted by."""
    request, current = context["request"], context["sort"]
    if current.removeprefix("-") == column:
        target = column if current.startswith("-") else f"-{column}"
        state = "descending" if current.startswith("-") else "ascending"
    else:
        target, state = (f"-{column}" if numeric else column), ""
    query = request.GET.copy()
    query["sort"] = target
    arrow = {"descending": " ↓", "ascending": " ↑"}.get(state, "")
    return format_html(
        '<th scope="col"{}{}><a href="?{}" title="{}">{}{}</a></th>',
        format_html(' aria-sort="{}"', state) if state else "",
        mark_safe(' class="numeric"') if numeric else "",
        query.urlencode(),
        _("Sort by this column"),
        label,
        arrow,
    )
