"""The attachments waiting to go with the next message, shown as chips above the prompt."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import Static

from chattui.attachments.text import size_text
from chattui.conversation import Attachment
from chattui.terminal_text import printable


def chip(attachment: Attachment) -> Text:
    """One attachment as a chip: name, kind, size and tokens (names are text, never markup)."""
    a = attachment
    tokens = "counting…" if a.tokens is None else f"{a.tokens:,} tokens"
    label = Text(f" 📎 {printable(a.name)} ", style="bold")
    label.append(f"{a.kind} · {size_text(a.size)} · {tokens} ", style="not bold")
    return label


class AttachmentBar(Static):
    """What the next message carries; hidden while there is nothing."""

    DEFAULT_CSS = """
    AttachmentBar { height: auto; padding: 0 1; display: none; }
    AttachmentBar.some { display: block; }
    """

    def __init__(self) -> None:
        """An empty bar."""
        super().__init__(id="attachments")
        self.items: list[Attachment] = []

    def add(self, attachments: Sequence[Attachment]) -> list[Attachment]:
        """Add ``attachments`` (one already there with the same name is replaced)."""
        names = {a.name for a in attachments}
        self.items = [a for a in self.items if a.name not in names] + list(attachments)
        self._show()
        return self.items

    def counted(self, attachments: Sequence[Attachment]) -> None:
        """Show the token counts of attachments that are still there."""
        counts = {(a.name, a.sha256): a for a in attachments}
        self.items = [counts.get((a.name, a.sha256), a) for a in self.items]
        self._show()

    def take(self) -> list[Attachment]:
        """Empty the bar; what it held."""
        taken, self.items = self.items, []
        self._show()
        return taken

    def drop(self, index: int) -> Attachment:
        """Remove the attachment at ``index`` (0-based).

        Raises:
            IndexError: There is none there.
        """
        gone = self.items.pop(index)
        self._show()
        return gone

    def _show(self) -> None:
        self.set_class(bool(self.items), "some")
        chips = [chip(a) for a in self.items]
        total = sum(a.tokens or 0 for a in self.items)
        if len(chips) > 1:
            chips.append(Text(f" {total:,} tokens in all", style="dim"))
        self.update(Text("  ").join(chips))
