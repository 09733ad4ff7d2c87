"""Template filters that show model output and users' text safely (through rendering.py), and
the address of a live reply's stream."""

from django import template

from conversations import rendering, stream_keys

register = template.Library()


@register.filter
def render_markdown(text: str):
    return rendering.render_markdown(text or "")


@register.filter
def render_plain(text: str):
    return rendering.render_plain(text or "")


@register.simple_tag(takes_context=True)
def reply_stream_url(context, reply) -> str:
    return stream_keys.stream_url(context.get("request"), reply)
