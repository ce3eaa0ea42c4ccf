"""The status bar: model, state, speed of the last reply, and the context gauge."""

from __future__ import annotations

import enum

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from chattui.terminal_text import printable


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

    def render(self) -> Text:
        """Compose the line (all plain text: model names are never markup)."""
        parts = [self.model, str(self.state)] if self.model else [str(self.state)]
        if self.speed:
            parts.append(f"{self.speed:.1f} tok/s")
        if self.capacity:
            gauge = f"ctx {self.used:,}/{self.capacity:,} ({100 * self.used // self.capacity}%)"
            if self.dropped:
                gauge += f", oldest {self.dropped} messages left out"
            if self.next_drop:
                gauge += f"; when full, the oldest {self.next_drop} messages go"
            parts.append(gauge)
        return Text(printable("  ·  ".join(parts)))
