"""``ask --tools``: each call asked about on the terminal (or refused in a pipe), and shown."""

from __future__ import annotations

import sys

from chattui.cli.output import MarkdownWriter, PlainWriter, ReplyWriter, echo
from chattui.conversation import ToolCall
from chattui.terminal_text import printable
from chattui.tools.runner import Approval, CallRequest
from chattui.transcript import call_summary

ANSWERS = {
    "y": Approval.ONCE,
    "yes": Approval.ONCE,
    "a": Approval.ALWAYS,
    "always": Approval.ALWAYS,
}
"""What may be typed at the question; anything else (Enter, Ctrl+D included) is a no."""


class AskTools:
    """The terminal's side of a reply's tool calls.

    Args:
        writer: Where the reply goes (set once chosen); its live view pauses while asking.
        yes: Run every call without asking (``--yes``).
    """

    def __init__(self, writer: ReplyWriter | None, *, yes: bool) -> None:
        self.writer = writer
        self.yes = yes
        self._wrote = False

    def written(self, piece: str) -> None:
        """Note that reply text was written since the last call."""
        self._wrote = self._wrote or bool(piece.strip())

    def approve(self, request: CallRequest) -> Approval:
        """Ask on the terminal; with none to ask on, refuse (the model is told)."""
        name = request.tool.qualified
        if self.yes:
            return Approval.ONCE
        if sys.stdin is None or not sys.stdin.isatty():
            echo(
                f"chattui: did not run {name}: no terminal to ask on; add --allow {name} or --yes",
                err=True,
            )
            return Approval.DENY
        question = (
            f"Run {name}?\n{request.pretty}\n[y] once, [a] always in this chat, [n] no (Enter): "
        )
        if isinstance(self.writer, MarkdownWriter):
            with self.writer.suspended():
                return self._ask(question)
        return self._ask(question)

    @staticmethod
    def _ask(question: str) -> Approval:
        echo(question, err=True, end="")
        line = sys.stdin.readline()
        if not line:
            echo(err=True)
        return ANSWERS.get(line.strip().lower(), Approval.DENY)

    def on_tool(self, call: ToolCall, starting: bool) -> None:
        """Keep the reply's text apart from the call; show the call folded once it has run."""
        if starting:
            if isinstance(self.writer, MarkdownWriter):
                self.writer.settle()
            elif isinstance(self.writer, PlainWriter) and self._wrote:
                self.writer.write("\n\n")
            self._wrote = False
            return
        line = printable(call_summary(call, 80))
        if isinstance(self.writer, MarkdownWriter):
            from rich.text import Text

            self.writer.console.print(Text(line, style="dim"))
        elif sys.stderr.isatty():
            echo(line, err=True)
