"""Template tags for the versions of a turn (regenerate, edit and resend)."""

import uuid

from django import template

register = template.Library()


@register.simple_tag
def form_token() -> str:
    """A fresh one-time token for a form, so a replayed submission finds what it made."""
    return str(uuid.uuid4())
