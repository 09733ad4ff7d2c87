"""`{% icon "name" %}`: one of the vendored Lucide icons (static/vendor/lucide/icons/), inlined
so it takes the colour of its text and needs no request. Icons are decoration: the control that
holds one carries the accessible name (its text, or an aria-label)."""

import re
from functools import cache

from django import template
from django.contrib.staticfiles import finders
from django.utils.safestring import mark_safe

register = template.Library()

_COMMENT = re.compile(r"<!--.*?-->\s*", re.DOTALL)
_NAME = re.compile(r"[a-z0-9-]+")


@register.simple_tag
def icon(name: str, size: int = 18) -> str:
    return mark_safe(_svg(name, int(size)))  # noqa: S308 (our own vendored files, attributes fixed)


@cache
def _svg(name: str, size: int) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"not an icon name: {name!r}")
    path = finders.find(f"vendor/lucide/icons/{name}.svg")
    if path is None:
        raise ValueError(f"no such icon: {name!r} (copy it into static/vendor/lucide/icons/)")
    with open(path, encoding="utf-8") as file:
        svg = _COMMENT.sub("", file.read()).strip()
    svg = re.sub(r'\s+width="24"\s+height="24"', f' width="{size}" height="{size}"', svg, count=1)
    svg = re.sub(
        r'class="lucide ', 'aria-hidden="true" focusable="false" class="icon lucide ', svg, count=1
    )
    return " ".join(svg.split())
