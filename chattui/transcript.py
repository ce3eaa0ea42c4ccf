"""A saved conversation as Markdown or as a JSON document (export, import, ``history show``)."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from chattui.attachments.text import size_text
from chattui.conversation import (
    Attachment,
    AttachmentKind,
    Conversation,
    Message,
    Passage,
    Role,
    ToolCall,
    ToolOutcome,
    check_info,
    fence_for,
    info_from_dict,
    info_to_dict,
    passages_from_list,
    passages_to_list,
    tool_calls_from_list,
    tool_calls_to_list,
)
from chattui.errors import UsageError

EXPORT_FORMAT = "chattui-conversation"
EXPORT_VERSION = 5
"""Version 2 keeps the tree (ids, parent ids, the leaf), version 3 what was attached to each
message, version 4 the passages a knowledge base gave, version 5 the tools a reply called;
documents of versions 1 to 4 still import."""


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
    sources: tuple[Passage, ...] = ()
    for message in conversation.messages:
        lines += [_heading(message), ""]
        lines += [f"- Attached: {describe_attachment(a)}" for a in message.attachments]
        lines += [""] if message.attachments else []
        lines += [line for call in message.tool_calls for line in tool_call_markdown(call)]
        lines += [message.content, ""]
        if message.role is Role.USER:
            sources = message.passages
        elif sources:  # the reply cites them by number
            lines += ["Sources:", ""]
            lines += [f"- [{n}] {p.cited}" for n, p in enumerate(sources, 1)]
            lines += [""]
    return "\n".join(lines)


RESULT_LINES = 5
"""Lines of a tool's result shown where a call is folded (history show, Markdown export)."""


def describe_call(call: ToolCall) -> str:
    """One line about a tool call: name, arguments, how it ended and how long it took."""
    arguments = " ".join(call.arguments.split())
    arguments = arguments if len(arguments) <= 120 else arguments[:119] + "…"
    ended = "" if call.outcome is ToolOutcome.RAN else f", {call.outcome}"
    return f"{call.shown_name or '(no tool)'} {arguments} ({call.seconds:.1f} s{ended})"


def call_summary(call: ToolCall, width: int) -> str:
    """A call on one line: ``⚙ server.tool {"a": 1} → 42 (+3 lines) [denied] (0.1 s)``.

    The arguments and the result's first line are cut to ``width`` characters each.
    """

    def cut(text: str) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    lines = call.result.strip().splitlines()
    more = f" (+{len(lines) - 1} lines)" if len(lines) > 1 else ""
    ended = "" if call.outcome is ToolOutcome.RAN else f" [{call.outcome}]"
    arguments = cut(" ".join(call.arguments.split()))
    first = cut(lines[0] if lines else "")
    return f"⚙ {call.shown_name} {arguments} → {first}{more}{ended} ({call.seconds:.1f} s)"


def tool_call_markdown(call: ToolCall) -> list[str]:
    """A call folded for reading: what the model said, the call, the first lines of its result."""
    lines = [call.text, ""] if call.text else []
    result = call.result.splitlines()
    shown = result[:RESULT_LINES] + (
        [f"… {len(result) - RESULT_LINES} more lines"] if len(result) > RESULT_LINES else []
    )
    fence = fence_for(call.result)
    return [*lines, f"- Tool: {describe_call(call)}", "", fence, *shown, fence, ""]


def describe_attachment(attachment: Attachment) -> str:
    """One line about an attachment: name, kind, size, tokens, note (passages: where each is)."""
    a = attachment
    if a.kind is AttachmentKind.KNOWLEDGE:
        count = len(a.passages)
        found = f"{count} passage{'s' if count != 1 else ''}" if count else "nothing relevant"
        return f"knowledge base {a.name} ({found})"
    parts = [str(a.kind), size_text(a.size)]
    if a.tokens is not None:
        parts.append(f"{a.tokens:,} tokens")
    if a.note:
        parts.append(a.note)
    return f"{a.name} ({', '.join(parts)})"


def to_document(
    conversation: Conversation, tree: Sequence[Message] | None = None
) -> dict[str, Any]:
    """The conversation as a JSON-ready document that ``from_document`` reads back.

    Args:
        conversation: The chat (its branch in view when ``tree`` is not given).
        tree: Every message of the chat, oldest first: the document keeps every branch, each
            message with its id and its parent's, and the leaf in view.
    """
    messages = list(conversation.messages if tree is None else tree)
    if any(m.id is None for m in messages):  # not saved: one branch, numbered here
        messages = [replace(m, id=i, parent_id=i - 1 or None) for i, m in enumerate(messages, 1)]
    leaf = conversation.leaf_id if tree is not None else None
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
        "leaf_id": leaf if leaf is not None else (messages[-1].id if messages else None),
        "messages": [
            {
                "id": m.id,
                "parent_id": m.parent_id,
                "role": str(m.role),
                "content": m.content,
                "created_at": m.created_at,
                "info": info_to_dict(m.info),
                **(
                    {"attachments": [_attachment_dict(a) for a in m.attachments]}
                    if m.attachments
                    else {}
                ),
                **({"tool_calls": tool_calls_to_list(m.tool_calls)} if m.tool_calls else {}),
            }
            for m in messages
        ],
    }


def _attachment_dict(a: Attachment) -> dict[str, Any]:
    return {
        "name": a.name,
        "kind": str(a.kind),
        "size": a.size,
        "sha256": a.sha256,
        "text": a.text,
        "language": a.language,
        "note": a.note,
        "mime": a.mime,
        "data": base64.b64encode(a.data).decode() if a.data else None,
        "tokens": a.tokens,
        **({"passages": passages_to_list(a.passages)} if a.passages else {}),
    }


def _attachment(item: Any, label: str) -> Attachment:
    """One attachment of a message in a document."""
    if not isinstance(item, dict):
        raise UsageError(f"{label} must be an object")
    kind = _field(item, "kind", (str,), label)
    if kind not in {str(k) for k in AttachmentKind}:
        raise UsageError(f"{label}: 'kind' must be one of {', '.join(AttachmentKind)}")
    size, tokens = item.get("size"), item.get("tokens")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise UsageError(f"{label}: 'size' must be an int of 0 or more")
    if isinstance(tokens, bool) or not isinstance(tokens, int | None):
        raise UsageError(f"{label}: 'tokens' must be int or null")
    data = _field(item, "data", (str, type(None)), label)
    try:
        raw = base64.b64decode(data, validate=True) if data else b""
    except ValueError:
        raise UsageError(f"{label}: 'data' must be base64") from None
    try:
        passages = passages_from_list(item.get("passages", []))
    except ValueError as error:
        raise UsageError(f"{label}: {error}") from None
    return Attachment(
        name=_field(item, "name", (str,), label),
        kind=AttachmentKind(kind),
        size=size,
        sha256=_field(item, "sha256", (str,), label),
        text=_field(item, "text", (str,), label),
        language=_field(item, "language", (str,), label),
        note=_field(item, "note", (str,), label),
        mime=_field(item, "mime", (str,), label),
        data=raw,
        tokens=tokens,
        passages=passages,
    )


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
    version = data.get("version")
    if version not in (1, 2, 3, 4, EXPORT_VERSION) or isinstance(version, bool):
        raise UsageError(f"{where}: export version {version!r} is not supported")
    messages: list[Message] = []
    seen: set[int] = set()
    for index, item in enumerate(_field(data, "messages", (list,), where), start=1):
        label = f"{where}: message {index}"
        if not isinstance(item, dict):
            raise UsageError(f"{label} must be an object")
        message = _message(item, label)
        if version == 1:  # one branch: each message follows the one before
            message = replace(message, id=index, parent_id=index - 1 or None)
        if message.id is None:
            raise UsageError(f"{label}: 'id' must be int")
        if version != 1 and message.id in seen:
            raise UsageError(f"{label}: id {message.id} is used twice")
        if version != 1 and message.parent_id is not None and message.parent_id not in seen:
            raise UsageError(f"{label}: 'parent_id' must be the id of an earlier message")
        seen.add(message.id)
        messages.append(message)
    leaf = data.get("leaf_id") if version != 1 else (messages[-1].id if messages else None)
    if leaf is not None and (type(leaf) is not int or leaf not in seen):
        raise UsageError(f"{where}: 'leaf_id' must be the id of one of its messages")
    return Conversation(
        id=_field(data, "id", (str,), where),
        title=_field(data, "title", (str,), where),
        created_at=_field(data, "created_at", (str,), where),
        updated_at=_field(data, "updated_at", (str,), where),
        model_id=_field(data, "model_id", (str, type(None)), where),
        system_prompt=_field(data, "system_prompt", (str, type(None)), where),
        settings=_field(data, "settings", (dict,), where),
        messages=tuple(messages),
        leaf_id=leaf,
    )


def _message(item: Mapping[str, Any], label: str) -> Message:
    """One message of a document (its ids as written; absent in version 1)."""
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
    ids = [item.get("id"), item.get("parent_id")]
    if "id" in item and (isinstance(ids[0], bool) or not isinstance(ids[0], int)):
        raise UsageError(f"{label}: 'id' must be int")
    if isinstance(ids[1], bool) or not isinstance(ids[1], int | None):
        raise UsageError(f"{label}: 'parent_id' must be int or null")
    attached = _field(item, "attachments", (list, type(None)), label) or []
    try:
        calls = tool_calls_from_list(item.get("tool_calls", []))
    except ValueError as error:
        raise UsageError(f"{label}: 'tool_calls' is malformed: {error}") from None
    return Message(
        Role(role),
        _field(item, "content", (str,), label),
        _field(item, "created_at", (str,), label),
        parsed,
        ids[0],
        ids[1],
        tuple(_attachment(a, f"{label}: attachment {n}") for n, a in enumerate(attached, 1)),
        calls,
    )
