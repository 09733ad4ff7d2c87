"""Template filters that show model output and users' text safely (through rendering.py), and
the sidebar heading of a conversation."""

from django import template

from conversations import rendering, sidebar

register = template.Library()


@register.filter
def render_markdown(text: str):
    return rendering.render_markdown(text or "")


@register.filter
def render_plain(text: str):
    return rendering.render_plain(text or "")


@register.filter
def history_group(item):
    """The sidebar heading a conversation is listed under (sidebar.history_group)."""
    return sidebar.history_group(item)
