"""The sidebar: saved conversations, newest first, with a full-text filter."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from chattui.terminal_text import printable


@dataclass(frozen=True, slots=True)
class Entry:
    """One conversation in the list."""

    id: str
    title: str
    detail: str
    """Age, or the matching snippet when filtering."""
    message_id: int | None = None
    """The message the snippet is from, when filtering."""


class Sidebar(Vertical):
    """Lists conversations; the screen fills it (a widget never reads the store itself)."""

    @dataclass
    class Opened(Message):
        """A conversation was chosen."""

        conversation_id: str
        message_id: int | None = None
        """The message to show (a search hit), or None for the newest."""

    @dataclass
    class FilterChanged(Message):
        """The filter text changed."""

        query: str

    def __init__(self, *, id: str | None = None) -> None:
        """An empty sidebar."""
        super().__init__(id=id)
        self._entries: dict[str, Entry] = {}

    def compose(self) -> ComposeResult:
        """The filter box and the list."""
        yield Input(placeholder="Search chats…", id="filter")
        yield OptionList(id="chats")

    def show(self, entries: list[Entry]) -> None:
        """Replace the list."""
        chats = self.query_one(OptionList)
        chats.clear_options()
        self._entries = {entry.id: entry for entry in entries}
        for entry in entries:
            label = Text(printable(entry.title), no_wrap=True, overflow="ellipsis")
            label.append("\n" + printable(entry.detail), style="dim")
            chats.add_option(Option(label, id=entry.id))

    @property
    def filter_text(self) -> str:
        """What the filter box holds."""
        return self.query_one("#filter", Input).value

    def selected(self) -> str | None:
        """Id of the highlighted conversation."""
        chats = self.query_one(OptionList)
        if chats.highlighted is None:
            return None
        return chats.get_option_at_index(chats.highlighted).id

    def on_input_changed(self, event: Input.Changed) -> None:
        """Tell the screen to refill the list."""
        event.stop()
        self.post_message(self.FilterChanged(event.value))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Tell the screen to open the chosen conversation."""
        event.stop()
        entry = self._entries.get(event.option.id or "")
        if entry is not None:
            self.post_message(self.Opened(entry.id, entry.message_id))
