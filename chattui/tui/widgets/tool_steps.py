"""The tools a reply called, folded in the transcript: a line per call, opened with a key.

Each call shows what the model said before it, then one line (tool, arguments, how long, the
first line of its result); Enter or a click on that line opens the arguments and the result.
Everything here came from a model or a tool: it is shown as text, never as markup.
"""

from __future__ import annotations

import json

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.widgets import Collapsible, Static

from chattui.conversation import ToolCall
from chattui.terminal_text import printable
from chattui.transcript import call_summary

SHOWN_CHARACTERS = 20_000
"""Most characters of a result shown when a call is opened (the model was given its own cut)."""


def _pretty(arguments: str) -> str:
    try:
        return json.dumps(json.loads(arguments, strict=False), indent=2, ensure_ascii=False)
    except json.JSONDecodeError:
        return arguments


def folded(call: ToolCall) -> Collapsible:
    """A call folded: its line as the title; the arguments and the result inside."""
    result = call.result
    if len(result) > SHOWN_CHARACTERS:
        result = result[:SHOWN_CHARACTERS] + f"\n… {len(call.result) - SHOWN_CHARACTERS:,} more"
    return Collapsible(
        Static(Text(printable(_pretty(call.arguments)), style="dim"), classes="arguments"),
        Static(Text(printable(result)), classes="result"),
        title=Content(printable(call_summary(call, 60))),  # type: ignore[arg-type]  # a str would be markup
        collapsed=True,
        classes=f"tool-call {call.outcome}",
    )


class ToolSteps(Vertical):
    """The calls of one reply, in order, each after the words the model wrote before it."""

    DEFAULT_CSS = """
    ToolSteps { height: auto; }
    ToolSteps .said { color: $text-muted; margin: 0 0 0 1; }
    ToolSteps .running { color: $text-muted; text-style: italic; margin: 0 0 0 1; }
    ToolSteps Collapsible { background: transparent; border-top: none; padding: 0; }
    ToolSteps .result { max-height: 20; overflow-y: auto; }
    """

    def __init__(self, calls: tuple[ToolCall, ...] = ()) -> None:
        """Show ``calls`` (more are added as a reply makes them)."""
        super().__init__(classes="tool-steps")
        self.calls = list(calls)
        self._running_line: Static | None = None

    def compose(self) -> ComposeResult:
        """Each call: the model's words before it, then the call folded."""
        for call in self.calls:
            if call.text.strip():
                yield _said(call.text)
            yield folded(call)

    async def started(self, call: ToolCall, said: str) -> None:
        """A call begins (``said``: what the model wrote before it)."""
        if said.strip():
            await self.mount(_said(said))
        self._running_line = Static(
            Text(printable(f"⚙ {call.shown_name} … running (Esc stops it)")), classes="running"
        )
        await self.mount(self._running_line)

    async def ended(self, call: ToolCall) -> None:
        """The call has ended: fold it in place of the running line."""
        self.calls.append(call)
        running, self._running_line = self._running_line, None
        if running is not None:
            await self.mount(folded(call), before=running)
            await running.remove()
        else:
            await self.mount(folded(call))


def _said(text: str) -> Static:
    return Static(Text(printable(text.strip())), classes="said")
