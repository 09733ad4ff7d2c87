"""Server-sent event framing for htmx's SSE extension: each message is HTML whose
<hx-partial> elements update regions of the page."""

from django.utils.html import escape

KEEPALIVE = b": ping\n\n"


def message(html: str) -> bytes:
    """One unnamed SSE message; every line of the HTML gets its own data: field."""
    lines = html.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return ("".join(f"data: {line}\n" for line in lines) + "\n").encode()


def partial(target_id: str, html: str, swap: str = "innerHTML") -> str:
    return f'<hx-partial hx-target="#{escape(target_id)}" hx-swap="{swap}">{html}</hx-partial>'
