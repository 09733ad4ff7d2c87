"""Template filters that show model output and users' text safely (through rendering.py)."""

from django import template

from conversations import rendering

register = template.Library()


@register.filter
def render_markdown(text: str):
    return rendering.render_markdown(text or "")


@register.filter
def render_plain(text: str):
    return rendering.render_plain(text or "")
