"""The status bar: model, state, speed of the last reply, and the context gauge."""

from __future__ import annotations

import enum

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from chattui.terminal_text import printable
from chattui.text_width import cells, fit


class State(enum.StrEnum):
    """What the engine is doing."""

    NO_MODEL = "no model"
    LOADING = "loading"
    READY = "ready"
    PROMPT = "processing prompt"
    GENERATING = "generating"


class StatusBar(Static):
    """One line at the bottom of the chat."""

    model: reactive[str] = reactive("")
    """Name of the model."""
    state: reactive[State] = reactive(State.LOADING)
    """What the engine is doing."""
    speed: reactive[float] = reactive(0.0)
    """Decode tokens/s of the last reply."""
    used: reactive[int] = reactive(0)
    """Tokens of the conversation as the model sees it."""
    capacity: reactive[int] = reactive(0)
    """Context size."""
    dropped: reactive[int] = reactive(0)
    """Oldest messages left out of the last prompt."""
    next_drop: reactive[int] = reactive(0)
    """Oldest messages the next trim will leave out, once the context is full."""

    branch: reactive[str] = reactive("")
    """The place of the version in view among its siblings ("‹ 2/3 ›"), if it has some."""

    def render(self) -> Text:
        """Compose the line (all plain text: model names are never markup).

        What matters most stays when the bar is narrow: the branch, the state, the speed and
        the gauge; the model's name is shortened first, then the notes on trimming go.
        """
        width = self.content_size.width or 1000
        head = [part for part in (self.branch, str(self.state)) if part]
        if self.speed:
            head.append(f"{self.speed:.1f} tok/s")
        notes = [""]
        if self.capacity:
            percent = 100 * self.used // self.capacity
            head.append(f"ctx {self.used:,}/{self.capacity:,} ({percent}%)")
            left_out = f", oldest {self.dropped} left out" if self.dropped else ""
            long = f", oldest {self.dropped} messages left out" if self.dropped else ""
            if self.next_drop:
                long += f"; when full, the oldest {self.next_drop} messages go"
            notes = [
                long,
                left_out + (f"; {self.next_drop} go when full" if self.next_drop else ""),
                left_out,
                "",
            ]
        model = printable(self.model)
        # The longest note that leaves the model's whole name room; without one, the name is
        # shortened: the branch, state, speed and gauge always stay.
        for note in notes:
            tail = "  ·  ".join(head) + note
            if cells(tail) + (cells(model) + 5 if model else 0) <= width:
                break
        if not model:
            return Text(printable(tail))
        room = width - cells(tail) - len("  ·  ")
        shown = fit(model, room) if room >= 4 else ""
        return Text(printable("  ·  ".join(part for part in (shown, tail) if part)))
