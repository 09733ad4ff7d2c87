"""Template filters that show model output and users' text safely (through rendering.py), and
the sidebar heading of a conversation."""

from django import template

from conversations import rendering, sidebar, streaming_markdown

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


@register.simple_tag
def live_reply_body(reply):
    """A reply being written, as its stream shows it (views/stream.py): its settled blocks,
    then the block being written, completed, in the live tail."""
    settled, tail = streaming_markdown.render_streaming(reply.text or "")
    return settled + streaming_markdown.tail_element(reply.pk, tail)
