"""When to show more of a streaming reply: as often as a small CPU budget for the UI allows.

On a CPU-only machine llama.cpp keeps every core busy, and its threads wait for each other at
every step: whatever CPU the UI thread takes is taken from decoding (bench/tui_stream.py). So the
view is updated at a pace set by what the UI thread spent since the last update, measured each
time, rather than at a fixed rate: a fast machine, or one decoding on a GPU, gets smooth updates,
and a slow one gets larger batches.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field

UI_SHARE = 0.10
"""Share of one core the UI thread may take while a reply streams."""
FASTEST = 0.06
"""Fewest seconds between two updates."""
SLOWEST = 1.0
"""Most seconds between two updates, however costly they are (a paragraph of thousands of
characters is parsed, wrapped and drawn again on each update)."""
RECENT = 8
"""The pace follows the mean cost of this many recent updates."""
FIRST_GUESS = 0.004
"""CPU seconds an update is assumed to take before any is measured (a modest laptop's)."""
OUTLIER = 4.0
"""A cost counts as at most this many times the median of the recent ones, so that one slow
update (the first one mounts widgets; a garbage collection) does not stall the next ones, while
the regular dearer ones (an update that adds a line lays out and scrolls) still count in full."""


@dataclass(slots=True)
class Pacer:
    """Spaces the updates of a streaming reply so that the UI thread takes about ``share``."""

    share: float = UI_SHARE
    """Share of one core the UI thread may take."""
    fastest: float = FASTEST
    """Fewest seconds between two updates."""
    slowest: float = SLOWEST
    """Most seconds between two updates."""
    _last: float = field(default=-math.inf, init=False)
    _cpu: float | None = field(default=None, init=False)
    _costs: deque[float] = field(
        default_factory=lambda: deque([FIRST_GUESS] * RECENT, maxlen=RECENT), init=False
    )

    def restart(self) -> None:
        """Start a new reply: its first text is shown at once, then at the pace measured so far.

        The costs measured in earlier replies are kept: the machine and the widgets are the same.
        """
        self._last, self._cpu = -math.inf, None

    def delay(self, now: float) -> float:
        """Seconds from ``now`` (a monotonic time) until the next update may start."""
        return max(0.0, self._last + self.wait - now)

    def update(self, now: float, cpu: float) -> None:
        """An update starts at ``now``, when the UI thread has used ``cpu`` seconds of CPU.

        What the UI thread used since the previous update (that update, its drawing, and
        anything else it did meanwhile) sets the wait before the next one.
        """
        if self._cpu is not None:
            self._costs.append(cpu - self._cpu)
        self._last, self._cpu = now, cpu

    @property
    def wait(self) -> float:
        """Seconds between updates at the pace measured so far."""
        cap = OUTLIER * statistics.median(self._costs)
        typical = statistics.fmean(min(cost, cap) for cost in self._costs)
        return min(self.slowest, max(self.fastest, typical / self.share))
