"""Conversation domain types: roles and messages. Pure stdlib, imported by every layer."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    """Who wrote a message."""

    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


@dataclass(frozen=True, slots=True)
class Message:
    """One message of a chat as the model sees it."""

    role: Role
    """Who wrote it."""
    content: str
    """Its text."""

    def as_chat_dict(self) -> dict[str, str]:
        """Return the OpenAI-style ``{"role", "content"}`` mapping chat templates expect."""
        return {"role": str(self.role), "content": self.content}
