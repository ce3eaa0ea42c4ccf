"""Writers that show a streamed reply: live Markdown on a terminal, plain text, or one JSON object.

All of them treat the model's text as untrusted: it is never parsed as Rich markup, and control
characters are made visible whenever the output is a terminal.
"""

from __future__ import annotations

import contextlib
import enum
import json
import sys
import time
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any, Protocol

from chattui.formulas import formulas_to_text
from chattui.markdown_blocks import split_settled
from chattui.terminal_text import json_safe, printable

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult

    from chattui.conversation import Passage
    from chattui.engine.base import TurnStats


class OutputFormat(enum.StrEnum):
    """How ``ask`` shows the reply."""

    AUTO = "auto"
    MARKDOWN = "markdown"
    PLAIN = "plain"


class ReplyWriter(Protocol):
    """Shows a reply as it streams."""

    def write(self, piece: str) -> None:
        """Show the next piece of the reply."""
        ...

    def finish(self, stats: TurnStats | None) -> None:
        """Finish the output (called once, also after an interruption)."""
        ...


class PlainWriter:
    """Writes the text as it comes, then one newline; sanitised when the stream is a terminal."""

    def __init__(self, stream: IO[str], *, terminal: bool) -> None:
        """Create the writer.

        Args:
            stream: Where to write.
            terminal: Whether ``stream`` is a terminal (control characters are then replaced).
        """
        self.stream = stream
        self.terminal = terminal

    def write(self, piece: str) -> None:
        """Write a piece and flush, so pipes see tokens as they arrive."""
        self.stream.write(printable(piece) if self.terminal else piece)
        self.stream.flush()

    def finish(self, stats: TurnStats | None) -> None:
        """End the reply with one newline."""
        self.stream.write("\n")
        self.stream.flush()


class _Tail:
    """Renders Markdown but shows only its last lines, so a growing block stays in view."""

    def __init__(self, markdown: Any, height: int) -> None:
        self.markdown = markdown
        self.height = height

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.segment import Segment

        lines = console.render_lines(self.markdown, options, pad=False)
        for line in lines[-self.height :]:
            yield from line
            yield Segment.line()


class MarkdownWriter:
    """Live Markdown on a terminal: settled blocks are printed for good, the last one redrawn."""

    REFRESH_SECONDS = 1 / 15

    def __init__(self, console: Console, code_theme: str = "monokai") -> None:
        """Create the writer.

        Args:
            console: A Rich console on the terminal.
            code_theme: Pygments theme of code blocks.
        """
        from rich.live import Live

        self.console = console
        self.code_theme = code_theme
        self.pending = ""
        self.last_refresh = 0.0
        self.live = Live(console=console, transient=True, auto_refresh=False)
        self.live.start()

    def _markdown(self, text: str) -> Any:
        from rich.markdown import Markdown

        return Markdown(printable(formulas_to_text(text)), code_theme=self.code_theme)

    def write(self, piece: str) -> None:
        """Add a piece; print settled blocks and redraw the rest at most 15 times a second."""
        self.pending += piece
        settled = split_settled(self.pending)
        if settled:
            self.live.console.print(self._markdown(self.pending[:settled]))
            self.pending = self.pending[settled:]
        now = time.monotonic()
        if settled or now - self.last_refresh >= self.REFRESH_SECONDS:
            self.last_refresh = now
            height = max(3, self.console.height - 1)
            self.live.update(_Tail(self._markdown(self.pending), height), refresh=True)

    def settle(self) -> None:
        """Print what is pending for good (a tool call comes next)."""
        self.live.update("", refresh=True)
        if self.pending.strip():
            self.live.console.print(self._markdown(self.pending))
        self.pending = ""

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        """The live view stopped while the user is asked something on the terminal."""
        self.settle()
        self.live.stop()
        try:
            yield
        finally:
            self.live.start()

    def finish(self, stats: TurnStats | None) -> None:
        """Stop the live view and print the last block in full."""
        self.live.update("", refresh=True)
        self.live.stop()
        if self.pending.strip():
            self.console.print(self._markdown(self.pending))


class JsonWriter:
    """Collects the reply and prints one JSON object at the end."""

    def __init__(self, stream: IO[str], model_id: str, load_seconds: float) -> None:
        """Create the writer.

        Args:
            stream: Where to print the object.
            model_id: Id of the model replying.
            load_seconds: How long loading the model took.
        """
        self.stream = stream
        self.model_id = model_id
        self.load_seconds = load_seconds
        self.text = ""
        self.extra: dict[str, Any] = {}
        """More fields to include (e.g. the conversation id)."""

    def write(self, piece: str) -> None:
        """Collect a piece."""
        self.text += piece

    def finish(self, stats: TurnStats | None) -> None:
        """Print the object."""
        self.stream.write(json_safe(json.dumps(self.document(stats), ensure_ascii=False)) + "\n")
        self.stream.flush()

    def document(self, stats: TurnStats | None) -> dict[str, Any]:
        """Return the object ``finish`` prints."""
        doc: dict[str, Any] = {"text": self.text, "model": self.model_id}
        if stats is not None:
            doc |= {
                "finish_reason": str(stats.finish_reason),
                "usage": {
                    "prompt_tokens": stats.prompt_tokens,
                    "prompt_tokens_evaluated": stats.prompt_evaluated,
                    # From the chat's KV snapshot (or the cache): not evaluated again.
                    "prompt_tokens_restored": stats.prompt_tokens - stats.prompt_evaluated,
                    "completion_tokens": stats.completion_tokens,
                },
                "timings": {
                    "load_seconds": round(self.load_seconds, 4),
                    "time_to_first_token": round(stats.time_to_first_token, 4),
                    "decode_tokens_per_second": round(stats.decode_tps, 2),
                },
                "dropped_messages": stats.dropped_messages,
                "seed": stats.seed,
            }
        return doc | self.extra


def describe_stats(stats: TurnStats, load_seconds: float) -> str:
    """One line of a turn's figures, for ``--stats`` on stderr."""
    parts = [
        f"prompt {stats.prompt_tokens} tok ({stats.prompt_tokens - stats.prompt_evaluated}"
        f" restored, {stats.prompt_evaluated} evaluated)",
        f"reply {stats.completion_tokens} tok",
        f"load {load_seconds:.2f} s",
        f"first token {stats.time_to_first_token:.2f} s",
        f"{stats.decode_tps:.1f} tok/s",
        f"finish {stats.finish_reason}",
    ]
    if stats.dropped_messages:
        parts.append(f"{stats.dropped_messages} old messages dropped to fit the context")
    return ", ".join(parts)


def echo(text: str = "", *, err: bool = False, end: str = "\n") -> None:
    """Print for the user: control characters made visible on a terminal, exact elsewhere.

    Every line chattui prints goes through here (or through a writer above), so no text from a
    model, a file or a setting can move the cursor or retitle the terminal.
    """
    stream = sys.stderr if err else sys.stdout
    shown = text + end
    stream.write(printable(shown) if stream.isatty() else shown)
    stream.flush()


def confirm(question: str) -> bool:
    """Ask a yes/no question on the terminal; Ctrl+C is an interrupt, Ctrl+D a no.

    Click would turn either into "Aborted!" and exit 1.
    """
    import typer

    try:
        return typer.confirm(question)
    except typer.Abort as aborted:
        if isinstance(aborted.__context__, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        echo(err=True)
        return False


def confirm_deletion(question: str) -> None:
    """Ask ``question`` before deleting; with no terminal to ask on, refuse.

    Raises:
        UsageError: stdin is not a terminal (one line: add --yes).
        typer.Exit: The answer was no (exit 1).
    """
    import typer

    from chattui.errors import UsageError

    if sys.stdin is None or not sys.stdin.isatty():
        raise UsageError("refusing to delete without confirmation; add --yes")
    if not confirm(question):
        raise typer.Exit(1)


def print_json(value: object) -> None:
    """Print a JSON document (C1 controls escaped, safe on a terminal)."""
    print(json_safe(json.dumps(value, ensure_ascii=False, indent=2)))


def table(headers: list[str], rows: list[list[str]]) -> None:
    """A Rich table on a terminal, tab-separated lines in a pipe; cells are never markup."""
    if not sys.stdout.isatty():
        for row in rows:
            print("\t".join(cell.replace("\t", " ").replace("\n", " ") for cell in row))
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(*headers, box=None, header_style="bold")
    for row in rows:
        # One line per row: Rich cuts a long cell by display width with an ellipsis.
        table.add_row(*(Text(printable(cell), no_wrap=True, overflow="ellipsis") for cell in row))
    Console().print(table)


def passage_json(passage: Passage, number: int) -> dict[str, object]:
    """What ``--json`` says of a passage (its text, when it has it)."""
    return {
        "n": number,
        "file": passage.shown,
        "path": passage.path,
        "start_line": passage.start_line,
        "end_line": passage.end_line,
        "heading": passage.heading,
        "score": passage.score,
        **({"text": passage.text} if passage.text else {}),
    }
