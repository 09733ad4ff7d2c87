"""Template filters that show model output and users' text safely (through rendering.py), and
the sidebar heading of a conversation."""

from django import template
from django.urls import NoReverseMatch, reverse

from conversations import citations, rendering, sidebar, streaming_markdown

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


@register.simple_tag
def cited_reply_text(reply):
    """A finished reply's text with its citations' numbered marks (citations.py)."""
    return citations.render_cited_text(reply.text or "", reply.citations or [], reply.pk)


@register.simple_tag
def reply_sources(reply):
    """The pages a reply cites, numbered (citations.Source)."""
    return citations.sources(reply.citations or [])[0]


@register.simple_tag
def attachment_url(attachment) -> str:
    """Where the site serves a stored file (the attachment view); "" where it is not served."""
    try:
        return reverse("attachment", args=[attachment.pk])
    except NoReverseMatch:
        return ""
