"""The question before a tool runs: which server, which tool, with what; once, always, or no."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static

from chattui.terminal_text import printable
from chattui.tools.runner import Approval, CallRequest


class ApprovalDialog(ModalScreen[Approval]):
    """Ask whether a tool may run: Enter or y runs it once, a always in this chat, n or Esc no."""

    DEFAULT_CSS = """
    ApprovalDialog .arguments { height: auto; max-height: 16; border: round $panel; padding: 0 1; }
    ApprovalDialog .description { color: $text-muted; }
    """
    AUTO_FOCUS = "#once"
    """Enter runs it once."""
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,n", "dismiss('deny')", "Deny"),
        Binding("y", "dismiss('once')", "Run once"),
        Binding("a", "dismiss('always')", "Always in this chat"),
    ]

    def __init__(self, request: CallRequest) -> None:
        """Ask about ``request`` (its tool's text and the arguments are shown literally)."""
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        """Server and tool, what it does, the arguments, and three answers."""
        tool = self.request.tool
        with Vertical(classes="dialog approval"):
            yield Label(
                Text(printable(f"Run {tool.name} from tool server {tool.server}?"), style="bold")
            )
            if tool.description:
                yield Label(Text(printable(tool.description.strip()[:300])), classes="description")
            with VerticalScroll(classes="arguments"):
                yield Static(Text(printable(self.request.pretty)))
            with Horizontal(classes="buttons"):
                yield Button("Run once (y)", variant="primary", id="once")
                yield Button("Always in this chat (a)", id="always")
                yield Button("Deny (n)", variant="error", id="deny")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Answer."""
        self.dismiss(Approval(event.button.id or "deny"))

    async def action_dismiss(self, result: Approval | str | None = None) -> None:
        """Answer from a key (bindings give the answer as text)."""
        self.dismiss(Approval(result) if result else Approval.DENY)

    @staticmethod
    def dismiss_open(app: App[object]) -> None:
        """Close a dialog still asking (the reply was stopped): its answer is no."""
        if isinstance(app.screen, ApprovalDialog):
            app.screen.dismiss(Approval.DENY)
