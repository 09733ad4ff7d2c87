"""A conversation as a file: Markdown (to read), JSON (everything stored about each reply:
status, usage, cost, timings) and JSON lines (one conversation per line, for bulk exports).
Text is exported as written; the files are sent as downloads, never rendered as pages."""

import json
from collections.abc import Iterable, Iterator

from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from conversations.citations import sources
from conversations.models import Attachment, Conversation, Reply

FORMATS = {"md": "text/markdown; charset=utf-8", "json": "application/json"}
JSONL_CONTENT_TYPE = "application/x-ndjson"


def export_filename(conversation: Conversation, extension: str) -> str:
    """ASCII only (safe in a header); the id keeps titles that slugify to nothing apart."""
    slug = slugify(conversation.title)[:60].strip("-") or "conversation"
    return f"{slug}-{conversation.pk.hex[:8]}.{extension}"


def _replies(conversation: Conversation) -> list[Reply]:
    return list(
        conversation.visible_replies().select_related("feedback").prefetch_related("attachments")
    )


def attachment_path(attachment: Attachment) -> str:
    """Where a file is in the zip export (the id keeps files of the same name apart)."""
    return f"files/{attachment.pk.hex[:8]}-{attachment.name}"


def _attachment_data(attachment: Attachment) -> dict:
    return {
        "id": str(attachment.pk),
        "name": attachment.name,
        "origin": attachment.origin,
        "kind": attachment.kind,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "width": attachment.width,
        "height": attachment.height,
        "pages": attachment.pages,
        "estimated_tokens": attachment.estimated_tokens,
        "path_in_zip": attachment_path(attachment),
    }


def _time(moment) -> str | None:
    return moment.isoformat() if moment else None


def conversation_markdown(conversation: Conversation) -> str:
    lines = [f"# {conversation.display_title}", ""]
    lines.append(_("Model: %(model)s") % {"model": conversation.model})
    lines.append(_("Started: %(date)s") % {"date": _time(conversation.created_at)})
    lines.append(_("Exported: %(date)s") % {"date": _time(timezone.now())})
    for reply in _replies(conversation):
        lines += ["", "---", "", f"## {_('You')}", "", reply.user_input, ""]
        for attachment in reply.uploaded_files():
            lines.append(f"- {_('Attached')}: {attachment.name} ({attachment.size} B)")
        lines += [f"## {_('Reply')} ({reply.model})", ""]
        if reply.text:
            lines += [reply.text, ""]
        lines += _sources_markdown(reply)
        if reply.used_unknown_tool:
            lines += [f"*{_("The model used a tool this site doesn't show.")}*", ""]
        if reply.status != Reply.Status.COMPLETED:
            lines.append(f"*{reply.get_status_display()}*")
        if reply.error_message:
            lines.append(f"*{_(reply.error_message)}*")
    return "\n".join(lines).rstrip() + "\n"


def _sources_markdown(reply: Reply) -> list[str]:
    """The reply's sources as a numbered list: a link only for a URL the page would link
    (citations.py); any other as text, so the file never carries a javascript: or look-alike
    link. Titles are escaped so they cannot make markdown of their own."""
    found = sources(reply.citations or [])[0]
    if not found:
        return []
    lines = [f"{_('Sources')}:", ""]
    for source in found:
        label = _markdown_text(source.label)
        if source.href:
            href = source.href.replace("<", "%3C").replace(">", "%3E")
            lines.append(f"{source.number}. [{label}](<{href}>) ({source.host})")
        else:
            lines.append(f"{source.number}. {label}" + (f" ({source.host})" if source.host else ""))
    return [*lines, ""]


def _markdown_text(text: str) -> str:
    return "".join(f"\\{char}" if char in "\\`*_{}[]()<>#+-.!|" else char for char in text)


def _reply_data(reply: Reply) -> dict:
    feedback = getattr(reply, "feedback", None)
    return {
        "id": str(reply.pk),
        "position": reply.position,
        "status": reply.status,
        "model": reply.model,
        "message": reply.user_input,
        "reply": reply.text,
        "reasoning_summary": reply.reasoning_summary,
        "refusal": reply.refusal,
        "citations": reply.citations or [],
        "unknown_tool_used": reply.used_unknown_tool,
        "incomplete_reason": reply.incomplete_reason,
        "error": reply.error_message,
        "upstream_id": reply.upstream_id,
        "parameters": reply.request_params,
        "usage": {
            "input_tokens": reply.input_tokens,
            "cached_input_tokens": reply.input_cached_tokens,
            "output_tokens": reply.output_tokens,
            "reasoning_tokens": reply.reasoning_tokens,
            "image_tokens": reply.input_image_tokens,
            "total_tokens": reply.total_tokens,
            "estimated": reply.usage_estimated,
        },
        "cost": None if reply.cost is None else str(reply.cost),
        "currency": reply.cost_currency,
        "timings": {
            "created_at": _time(reply.created_at),
            "started_at": _time(reply.started_at),
            "first_token_at": _time(reply.first_token_at),
            "finished_at": _time(reply.finished_at),
        },
        "feedback": None
        if feedback is None
        else {"helpful": feedback.helpful, "comment": feedback.comment},
        "attachments": [_attachment_data(attachment) for attachment in reply.attachments.all()],
    }


def _conversation_data(conversation: Conversation) -> dict:
    return {
        "id": str(conversation.pk),
        "title": conversation.title,
        "owner": conversation.owner.get_username(),
        "model": conversation.model,
        "instructions": conversation.instructions,
        "created_at": _time(conversation.created_at),
        "last_activity_at": _time(conversation.updated_at),
        "deleted_at": _time(conversation.deleted_at),
        "replies": [_reply_data(reply) for reply in _replies(conversation)],
    }


def conversation_json(conversation: Conversation) -> str:
    return json.dumps(_conversation_data(conversation), ensure_ascii=False, indent=2) + "\n"


def conversations_jsonl(conversations: Iterable[Conversation]) -> Iterator[str]:
    """One line per conversation, produced one at a time (for a streamed download)."""
    for conversation in conversations:
        yield json.dumps(_conversation_data(conversation), ensure_ascii=False) + "\n"


def conversation_zip(conversation: Conversation):
    """The conversation's JSON export and its files, as a zip in a temporary file (spooled to
    disk past a few megabytes), rewound for reading."""
    import tempfile
    import zipfile

    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("conversation.json", conversation_json(conversation))
        for reply in _replies(conversation):
            for attachment in reply.attachments.all():
                try:
                    with (
                        attachment.file.open("rb") as source,
                        archive.open(attachment_path(attachment), "w") as target,
                    ):
                        while chunk := source.read(1024 * 1024):
                            target.write(chunk)
                except FileNotFoundError:
                    continue
    out.seek(0)
    return out
