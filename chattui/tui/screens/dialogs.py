"""Small modal dialogs that return typed results with ``dismiss``: confirm, ask, report an error."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label

from chattui.terminal_text import printable


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(False)", "Cancel"),
        Binding("y", "dismiss(True)", "Yes"),
    ]

    def __init__(self, question: str) -> None:
        """Ask ``question`` (shown literally)."""
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        """The question and two buttons."""
        with Vertical(classes="dialog"):
            yield Label(Text(printable(self.question)))
            with Horizontal(classes="buttons"):
                yield Button("Yes", variant="error", id="yes")
                yield Button("No", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Answer."""
        self.dismiss(event.button.id == "yes")


class TextScreen(ModalScreen[str | None]):
    """Ask for one line of text (e.g. a new title)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, question: str, value: str = "") -> None:
        """Ask ``question`` with ``value`` prefilled."""
        super().__init__()
        self.question = question
        self.value = printable(value).replace("\n", " ")

    def compose(self) -> ComposeResult:
        """The question and the input."""
        with Vertical(classes="dialog"):
            yield Label(Text(printable(self.question)))
            yield Input(self.value, id="answer")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Return the text (None when empty)."""
        self.dismiss(event.value.strip() or None)


class ErrorScreen(ModalScreen[None]):
    """Say that something failed unexpectedly, where the details are, and that the app goes on."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss(None)", "Close"),
        Binding("enter", "dismiss(None)", "Close"),
    ]

    def __init__(self, text: str) -> None:
        """Show ``text`` (literally)."""
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        """The text and a button."""
        with Vertical(classes="dialog error"):
            yield Label(Text("Something went wrong", style="bold"))
            yield Label(Text(printable(self.text)))
            with Horizontal(classes="buttons"):
                yield Button("Carry on", variant="primary", id="ok")

    def on_button_pressed(self, _: Button.Pressed) -> None:
        """Close."""
        self.dismiss(None)
