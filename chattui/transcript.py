"""A saved conversation as Markdown or as a JSON document (export, import, ``history show``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from chattui.conversation import (
    Conversation,
    Message,
    Role,
    check_info,
    info_from_dict,
    info_to_dict,
)
from chattui.errors import UsageError

EXPORT_FORMAT = "chattui-conversation"
EXPORT_VERSION = 1


def age(timestamp: str, now: datetime | None = None) -> str:
    """Say how long ago an ISO-8601 time was, in a few characters ("5 min ago")."""
    try:
        then = datetime.fromisoformat(timestamp)
    except ValueError:
        return "?"
    if then.tzinfo is None:  # written by another tool without a zone: taken as UTC
        then = then.replace(tzinfo=UTC)
    seconds = max(0.0, ((now or datetime.now(UTC)) - then).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def _heading(message: Message) -> str:
    if message.role is Role.USER:
        return "## User"
    parts = ["## Assistant"]
    if message.info is not None:
        parts.append(message.info.model_id)
        finish = message.info.finish_reason or "interrupted"
        if finish != "stop":
            parts.append(finish)
    return " · ".join(parts)


def to_markdown(conversation: Conversation) -> str:
    """The conversation as a Markdown document."""
    lines = [f"# {conversation.title}", ""]
    role = conversation.settings.get("role")
    lines.append(
        f"*{conversation.id} · {conversation.model_id or 'no model'} · "
        + (f"role {role} · " if role else "")
        + f"{conversation.created_at[:16].replace('T', ' ')} UTC*"
    )
    lines.append("")
    if conversation.system_prompt:
        lines += ["> **System:** " + conversation.system_prompt.replace("\n", "\n> "), ""]
    for message in conversation.messages:
        lines += [_heading(message), "", message.content, ""]
    return "\n".join(lines)


def to_document(conversation: Conversation) -> dict[str, Any]:
    """The conversation as a JSON-ready document that ``from_document`` reads back."""
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "id": conversation.id,
        "title": conversation.title,
        "created_at": conversation.created_at,
        "updated_at": conversation.updated_at,
        "model_id": conversation.model_id,
        "system_prompt": conversation.system_prompt,
        "settings": dict(conversation.settings),
        "messages": [
            {
                "role": str(m.role),
                "content": m.content,
                "created_at": m.created_at,
                "info": info_to_dict(m.info),
            }
            for m in conversation.messages
        ],
    }


def _field(data: Mapping[str, Any], key: str, kinds: tuple[type, ...], where: str) -> Any:
    value = data.get(key)
    if not isinstance(value, kinds):
        names = " or ".join("null" if k is type(None) else k.__name__ for k in kinds)
        raise UsageError(f"{where}: '{key}' must be {names}")
    return value


def from_document(data: Any, where: str) -> Conversation:
    """Read a document written by ``to_document``.

    Raises:
        UsageError: It is not a chattui export or a field is malformed (named in the message).
    """
    if not isinstance(data, dict) or data.get("format") != EXPORT_FORMAT:
        raise UsageError(f"{where} is not a chattui conversation export (format {EXPORT_FORMAT})")
    if data.get("version") != EXPORT_VERSION:
        raise UsageError(f"{where}: export version {data.get('version')!r} is not supported")
    messages = []
    for index, item in enumerate(_field(data, "messages", (list,), where), start=1):
        label = f"{where}: message {index}"
        if not isinstance(item, dict):
            raise UsageError(f"{label} must be an object")
        role = _field(item, "role", (str,), label)
        if role not in ("user", "assistant", "system"):
            raise UsageError(f"{label}: 'role' must be user, assistant or system")
        info = _field(item, "info", (dict, type(None)), label)
        try:
            if info is not None:
                check_info(info)
            parsed = info_from_dict(info)
        except TypeError as error:
            raise UsageError(f"{label}: 'info' is malformed: {error}") from None
        messages.append(
            Message(
                Role(role),
                _field(item, "content", (str,), label),
                _field(item, "created_at", (str,), label),
                parsed,
            )
        )
    return Conversation(
        id=_field(data, "id", (str,), where),
        title=_field(data, "title", (str,), where),
        created_at=_field(data, "created_at", (str,), where),
        updated_at=_field(data, "updated_at", (str,), where),
        model_id=_field(data, "model_id", (str, type(None)), where),
        system_prompt=_field(data, "system_prompt", (str, type(None)), where),
        settings=_field(data, "settings", (dict,), where),
        messages=tuple(messages),
    )
