"""The prompt: multi-line input where Enter sends, Ctrl+J (or Shift+Enter) adds a line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import events
from textual.message import Message
from textual.widgets import TextArea

from chattui.attachments.mentions import complete_path, escape, last_word, pasted_paths, unescape
from chattui.tui.slash import complete


class PromptInput(TextArea):
    """Multi-line prompt with history recall (Up in an empty prompt) and slash completion."""

    @dataclass
    class Submitted(Message):
        """The user pressed Enter."""

        text: str

    @dataclass
    class PathsPasted(Message):
        """A paste that was nothing but paths of existing files (a file dropped on the terminal)."""

        paths: list[str]

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
        if event.key == "tab" and self._complete_path():
            event.prevent_default()
            event.stop()
            return
        self._recall = 0
        await super()._on_key(event)

    def _complete_path(self) -> bool:
        """Complete the ``@path``, or ``/file``'s path, before the cursor; whether there was one.

        A unique file is completed with a space after it (it is then attached); several
        matches are listed. Spaces in names are written with a backslash, as a shell does.
        """
        row, column = self.cursor_location
        before = self.document.get_line(row)[:column]
        word = last_word(before)
        if word.startswith("@"):
            sigil = "@"
        elif row == 0 and before.startswith("/file "):  # a word never reaches back past its space
            sigil = ""
        else:
            return False
        completion, names = complete_path(unescape(word[len(sigil) :]), Path.cwd())
        done = sigil + escape(completion)
        if len(names) == 1 and not names[0].endswith("/"):
            done += " "
        if done != word:
            self.replace(done, (row, column - len(word)), (row, column))
            self.move_cursor((row, column - len(word) + len(done)))
        elif len(names) > 1:
            shown = "  ".join(names[:12]) + ("  …" if len(names) > 12 else "")
            self.app.notify(shown, title=f"{len(names)} matches", timeout=4)
        return True

    def _on_paste(self, event: events.Paste) -> None:  # type: ignore[override]
        """A paste of nothing but existing paths is offered as attachments, not typed.

        Any other paste goes on to TextArea's handler (Textual calls each class's in turn).
        """
        paths = pasted_paths(event.text, Path.cwd())
        if paths is not None:
            event.prevent_default()
            event.stop()
            self.post_message(self.PathsPasted(paths))

    def give_back(self, text: str) -> None:
        """Put back a message that could not be sent, unless something new was typed."""
        if not self.text:
            self.load_text(text)
            self.move_cursor(self.document.end)
