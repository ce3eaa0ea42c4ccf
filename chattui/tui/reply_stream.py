"""A reply on its way from the generating thread to the view: its text, its stop, its pace.

The worker pushes each piece without ever waiting for the UI; the UI takes what arrived on its
own clock (a few dozen times a second), so drawing never sets the pace of decoding. A stop can be
asked for at any moment after Enter, even before the engine has started the reply.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from chattui.chat import ChatTurn
from chattui.conversation import ToolCall


@dataclass(frozen=True, slots=True)
class CallEvent:
    """A tool call beginning (``starting``) or ended, in order with the reply's text."""

    call: ToolCall
    starting: bool


@dataclass(frozen=True, slots=True)
class Progress:
    """How far the reply has come, for the status bar while it streams."""

    pieces: int
    """Text pieces generated so far (one per token, but for characters split across tokens)."""
    speed: float
    """Pieces per second since the first one (0 until there are two)."""
    prompt_tokens: int
    """Tokens of the prompt the reply answers (0 until the engine has planned it)."""


class ReplyStream:
    """One reply in flight; ``push``, ``started`` and ``attach`` are called by the worker."""

    def __init__(self) -> None:
        """Create an empty stream."""
        self._lock = threading.Lock()
        self._pending: list[str | CallEvent] = []
        self._pieces = 0
        self._first = 0.0
        self._last = 0.0
        self._stop = threading.Event()
        self._turn: ChatTurn | None = None

    # Worker side -------------------------------------------------------------------------

    def attach(self, turn: ChatTurn) -> None:
        """The engine has started ``turn``; a stop asked for earlier applies to it now."""
        self._turn = turn
        if self._stop.is_set():  # Esc came before the turn existed
            turn.stop()

    def push(self, piece: str) -> bool:
        """Add generated text; never blocks on the UI.

        Returns:
            Whether the buffer was empty: the UI should be woken to take the text.
        """
        now = time.monotonic()
        with self._lock:
            wake = not self._pending
            self._pending.append(piece)
            if not self._pieces:
                self._first = now
            self._pieces += 1
            self._last = now
        return wake

    def push_call(self, call: ToolCall, starting: bool) -> bool:
        """Note a tool call beginning or ending, in its place among the text; never blocks.

        Returns:
            Whether the UI should be woken.
        """
        with self._lock:
            wake = not self._pending
            self._pending.append(CallEvent(call, starting))
        return wake

    # UI side -----------------------------------------------------------------------------

    def take_all(self) -> list[str | CallEvent]:
        """Everything pushed since the last call, in order: runs of text joined, and calls."""
        with self._lock:
            pending, self._pending = self._pending, []
        taken: list[str | CallEvent] = []
        for item in pending:
            if isinstance(item, str) and taken and isinstance(taken[-1], str):
                taken[-1] += item
            else:
                taken.append(item)
        return taken

    def stop(self) -> None:
        """Stop the reply, whether or not the engine has started it yet; thread-safe."""
        self._stop.set()
        turn = self._turn  # read after the flag: attach() sees the flag or we see the turn
        if turn is not None:
            turn.stop()

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked for."""
        return self._stop.is_set()

    @property
    def turn(self) -> ChatTurn | None:
        """The turn, once the engine has started it."""
        return self._turn

    def progress(self) -> Progress:
        """Pieces so far and their pace."""
        with self._lock:
            pieces, first, last = self._pieces, self._first, self._last
        speed = (pieces - 1) / (last - first) if pieces > 1 and last > first else 0.0
        turn = self._turn
        prompt = turn.reply.fit.prompt_tokens if turn is not None else 0
        return Progress(pieces, speed, prompt)
