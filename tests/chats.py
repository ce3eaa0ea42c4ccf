"""Conversations compared whatever ids the store gave their messages."""

from __future__ import annotations

from dataclasses import replace

from chattui.conversation import Conversation, Outline


def renumbered(conversation: Conversation) -> Conversation:
    """``conversation`` with its id blank and its messages numbered 0, 1, ... in order."""
    order = {mid: index for index, mid in enumerate(sorted(conversation.outline.parents))}

    def number(mid: int | None) -> int | None:
        return None if mid is None else order[mid]

    return replace(
        conversation,
        id="",
        messages=tuple(
            replace(m, id=number(m.id), parent_id=number(m.parent_id))
            for m in conversation.messages
        ),
        leaf_id=number(conversation.leaf_id),
        outline=Outline({order[k]: number(v) for k, v in conversation.outline.parents.items()}),
    )
