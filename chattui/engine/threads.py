"""ThreadTuner: how many threads each decode step uses, chosen by what the steps measure.

llama.cpp's threads meet at a barrier at every layer, so when another process takes a core, one
descheduled thread stalls all the others: on two cores with one kept busy, two threads decode at
a third of the speed of one. The tuner times the steps, tries the other counts now and then (a
few tokens each) and keeps the fastest. It probes again at once when the steps at the chosen
count slow down (the load changed), and otherwise rarely, so that an idle machine loses
almost nothing to probing (bench/load.py). Pure logic: the engine applies its choice.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field

PROBE = 4
"""Steps timed at each count when probing (after one step to settle)."""
PERIOD = 1024
"""Steps at the chosen count between two routine probes."""
DRIFT = 1.6
"""A chosen count whose recent steps are this much slower than when chosen is probed again."""


@dataclass
class ThreadTuner:
    """Chooses among ``most``, half of it and one thread for each decode step."""

    most: int
    """The most threads worth running (the cores this process may use)."""
    probe: int = PROBE
    period: int = PERIOD
    drift: float = DRIFT
    candidates: list[int] = field(init=False)
    chosen: int = field(init=False)
    """The count in use between probes."""
    _times: dict[int, deque[float]] = field(init=False)
    _plan: list[int] = field(init=False)
    """Counts of the coming probe steps (empty between probes)."""
    _last: int | None = field(default=None, init=False)
    _since: int = field(default=0, init=False)
    _baseline: float = field(default=math.inf, init=False)

    def __post_init__(self) -> None:
        self.candidates = sorted({self.most, max(1, self.most // 2), 1}, reverse=True)
        self.chosen = self.most
        self._times = {n: deque(maxlen=self.probe) for n in self.candidates}
        self._plan = self._probe_plan(self.candidates) if len(self.candidates) > 1 else []

    def next(self) -> int:
        """Threads for the next step."""
        return self._plan[0] if self._plan else self.chosen

    def record(self, threads: int, seconds: float) -> None:
        """A step ran with ``threads`` threads and took ``seconds``."""
        switched, self._last = threads != self._last, threads
        if not switched:  # the first step after a change pays for waking threads up
            self._times[threads].append(seconds)
        if self._plan:
            self._plan.pop(0)
            if not self._plan:
                self._choose()
            return
        self._since += 1
        if len(self.candidates) == 1:
            return
        recent = self._times[self.chosen]
        slowed = (
            len(recent) == self.probe and statistics.median(recent) > self.drift * self._baseline
        )
        if self._since >= self.period or slowed:
            others = [n for n in self.candidates if n != self.chosen]
            self._plan = self._probe_plan([*others, self.chosen])

    def _probe_plan(self, counts: list[int]) -> list[int]:
        for count in counts:
            self._times[count].clear()
        return [count for count in counts for _ in range(self.probe + 1)]

    def _choose(self) -> None:
        measured = {n: statistics.median(t) for n, t in self._times.items() if t}
        if measured:
            self.chosen = min(measured, key=lambda n: (measured[n], -n))
            self._baseline = measured[self.chosen]
        self._since = 0
