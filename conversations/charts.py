"""Charts drawn on the server as inline SVG: no script, nothing fetched, and no inline style (the
CSP forbids it). Sizes are SVG attributes in a viewBox, so a chart scales to its container;
colours are presentation attributes that CSS classes (app.css, usage_admin.css) override."""

import math
from dataclasses import dataclass
from decimal import Decimal

from django.utils.formats import date_format, number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from conversations.templatetags.usage import money, tokens

# The drawing area, in viewBox units: about a phone's width, so text stays readable on one.
WIDTH, HEIGHT = 400, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 22, 24, 22
TEXT = {"font-size": "11", "fill": "currentColor"}
BAR_FILL = "#4a78c2"


@dataclass(frozen=True)
class Bar:
    value: int | Decimal | None
    title: str  # what the bar says when pointed at: "3 Nov: 1,200 tokens"
    tick: str = ""  # the label under the bar, "" for none


def _attrs(**attrs) -> SafeString:
    attrs = {name.replace("_", "-"): value for name, value in attrs.items()}
    return format_html_join(" ", '{}="{}"', attrs.items())


def _num(value: float) -> str:
    """A coordinate: always a dot for decimals, whatever the language."""
    return f"{value:.1f}".removesuffix(".0")


def _nice_top(maximum: float) -> float:
    """The top of the scale: the least of 1, 2, 2.5 or 5 times a power of ten above the maximum."""
    if maximum <= 0:
        return 1
    power = 10 ** math.floor(math.log10(maximum))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= maximum)


def _unit_caption(unit: str, top: float) -> tuple[str, int]:
    """The axis caption and the divisor that keeps tick labels short."""
    if top >= 10_000_000_000:
        return _("%(unit)s, billions") % {"unit": unit}, 1_000_000_000
    if top >= 10_000_000:
        return _("%(unit)s, millions") % {"unit": unit}, 1_000_000
    if top >= 10_000:
        return _("%(unit)s, thousands") % {"unit": unit}, 1_000
    return unit, 1


def _tick_label(value: float) -> str:
    value = Decimal(str(round(value, 6))).normalize()
    places = max(-value.as_tuple().exponent, 0)
    return number_format(value, decimal_pos=places, use_l10n=True, force_grouping=True)


def bar_chart(bars: list[Bar], label: str, unit: str) -> SafeString:
    """A bar chart of `bars` with a y axis in `unit`; `label` names it for screen readers."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = _nice_top(max((float(bar.value or 0) for bar in bars), default=0))
    caption, divisor = _unit_caption(unit, top)
    parts = [format_html("<title>{}</title>", label)]
    parts.append(
        format_html('<text class="chart-text" {}>{}</text>', _attrs(x=0, y=12, **TEXT), caption)
    )
    for fraction in (0, 0.5, 1):
        y = _num(TOP + plot_h * (1 - fraction))
        parts.append(
            format_html(
                '<line class="chart-grid" {}/><text class="chart-text" {}>{}</text>',
                _attrs(x1=LEFT, x2=WIDTH - RIGHT, y1=y, y2=y, stroke="#888", stroke_width="0.5"),
                _attrs(x=LEFT - 4, y=y, text_anchor="end", dominant_baseline="middle", **TEXT),
                _tick_label(top * fraction / divisor),
            )
        )
    slot = plot_w / max(len(bars), 1)
    for index, bar in enumerate(bars):
        centre = LEFT + slot * (index + 0.5)
        height = plot_h * float(bar.value or 0) / top
        if height > 0:
            parts.append(
                format_html(
                    '<rect class="chart-bar" {}><title>{}</title></rect>',
                    _attrs(
                        x=_num(centre - slot * 0.4),
                        y=_num(TOP + plot_h - height),
                        width=_num(max(slot * 0.8, 0.5)),
                        height=_num(height),
                        fill=BAR_FILL,
                    ),
                    bar.title,
                )
            )
        if bar.tick:
            parts.append(
                format_html(
                    '<text class="chart-text" {}>{}</text>',
                    _attrs(x=_num(centre), y=HEIGHT - 6, text_anchor="middle", **TEXT),
                    bar.tick,
                )
            )
    return _svg("chart", label, f"0 0 {WIDTH} {HEIGHT}", parts)


def meter_bar(used, reserved, limit, label: str) -> SafeString:
    """A horizontal bar of a quota: used, then reserved (replies being written), out of limit."""
    limit = float(limit) or 1
    used_w = min(float(used) / limit, 1) * WIDTH
    reserved_w = max(min(float(reserved) / limit * WIDTH, WIDTH - used_w), 0)
    over = float(used) + float(reserved) >= limit
    parts = [
        format_html("<title>{}</title>", label),
        format_html(
            '<rect class="meter-track" {}/>',
            _attrs(x=0, y=0, width=WIDTH, height=12, rx=6, fill="#888", fill_opacity="0.25"),
        ),
        format_html(
            '<rect class="{}" {}/>',
            "meter-used meter-full" if over else "meter-used",
            _attrs(x=0, y=0, width=_num(used_w), height=12, rx=6, fill=BAR_FILL),
        ),
        format_html(
            '<rect class="meter-reserved" {}/>',
            _attrs(
                x=_num(used_w),
                y=0,
                width=_num(reserved_w),
                height=12,
                fill=BAR_FILL,
                fill_opacity="0.45",
            ),
        ),
    ]
    return _svg("meter", label, f"0 0 {WIDTH} 12", parts)


def _svg(css_class: str, label: str, view_box: str, parts: list) -> SafeString:
    return format_html(
        '<svg class="{}" role="img" aria-label="{}" viewBox="{}" width="100%" '
        'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">{}</svg>',
        css_class,
        label,
        view_box,
        format_html_join("", "{}", ((part,) for part in parts)),
    )


def tokens_per_day(days, label: str) -> SafeString:
    """Total tokens of each day (usage_reports.Day)."""
    return _days_chart(
        days,
        [day.total_tokens for day in days],
        [_("%(count)s tokens") % {"count": tokens(day.total_tokens)} for day in days],
        label,
        _("Tokens"),
    )


def cost_per_day(days, label: str, currency: str) -> SafeString:
    """Cost of each day (usage_reports.Day); days without a priced reply draw no bar."""
    return _days_chart(
        days,
        [day.cost or 0 for day in days],
        [f"{money(day.cost or 0)} {currency}".strip() for day in days],
        label,
        _("Cost (%(currency)s)") % {"currency": currency} if currency else _("Cost"),
    )


def _days_chart(days, values, texts, label: str, unit: str) -> SafeString:
    """One bar per day; about four dates under the axis, each bar's date and value on hover."""
    # Translators: a short date under a chart, as a Django date format: Nov 3.
    axis_date = _("M j")
    step = max(1, math.ceil(len(days) / 4))
    bars = [
        Bar(
            value,
            _("%(day)s: %(value)s") % {"day": date_format(day.day, "DATE_FORMAT"), "value": text},
            date_format(day.day, axis_date) if index % step == 0 else "",
        )
        for index, (day, value, text) in enumerate(zip(days, values, texts, strict=True))
    ]
    return bar_chart(bars, label, unit)
