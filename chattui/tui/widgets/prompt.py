"""The prompt: multi-line input where Enter sends, Ctrl+J (or Shift+Enter) adds a line."""

from __future__ import annotations

from dataclasses import dataclass

from textual import events
from textual.message import Message
from textual.widgets import TextArea

from chattui.tui.slash import complete


class PromptInput(TextArea):
    """Multi-line prompt with history recall (Up in an empty prompt) and slash completion."""

    @dataclass
    class Submitted(Message):
        """The user pressed Enter."""

        text: str

    @dataclass
    class Scroll(Message):
        """A key that scrolls the transcript was pressed in the prompt."""

        key: str

    SCROLL_KEYS = frozenset({"pageup", "pagedown", "ctrl+home", "ctrl+end"})
    """Keys that scroll the transcript, not the prompt: a chat's prompt is a line or two."""

    def __init__(self) -> None:
        """Create an empty prompt."""
        super().__init__(id="prompt", soft_wrap=True, show_line_numbers=False, tab_behavior="focus")
        self.sent: list[str] = []
        """Messages sent, oldest first (for Up recall)."""
        self._recall = 0

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.prevent_default()
            event.stop()
            text = self.text.strip()
            if text:
                self.sent.append(text)
                self._recall = 0
                self.clear()
                self.post_message(self.Submitted(text))
            return
        if event.key in self.SCROLL_KEYS:
            event.prevent_default()
            event.stop()
            self.post_message(self.Scroll(event.key))
            return
        if event.key in ("ctrl+j", "shift+enter"):
            event.prevent_default()
            event.stop()
            self.insert("\n")
            return
        if event.key == "up" and (not self.text or self._recall) and self.sent:
            event.prevent_default()
            event.stop()
            self._recall = min(self._recall + 1, len(self.sent))
            self.load_text(self.sent[-self._recall])
            self.move_cursor(self.document.end)
            return
        if event.key == "tab" and (command := complete(self.text)) is not None:
            event.prevent_default()
            event.stop()
            self.load_text(command + " ")
            self.move_cursor(self.document.end)
            return
        self._recall = 0
        await super()._on_key(event)

    def give_back(self, text: str) -> None:
        """Put back a message that could not be sent, unless something new was typed."""
        if not self.text:
            self.load_text(text)
            self.move_cursor(self.document.end)
