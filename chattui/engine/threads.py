"""ThreadTuner: the threads of each decode step and prompt batch, chosen by the load on the machine.

llama.cpp's threads meet at a barrier at every layer, so when another process takes a core, one
descheduled thread stalls all the others: on two cores with one kept busy, two threads decode at
a fraction of the speed of one. Where the kernel says how busy the CPUs are (a ``Gauge``, Linux:
cpu_load.py), the tuner runs as many threads as there are cores that other work leaves free,
reading the load every quarter second: it never spends a step at a count that the load makes
slow. Elsewhere it times the steps, tries the other counts now and then (a few tokens each) and
keeps the fastest; it probes again at once when the steps at the chosen count slow down, and
otherwise rarely (bench/load.py). Pure logic: the engine applies its choice.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol

PROBE = 4
"""Steps timed at each count when probing (after one step to settle)."""
PERIOD = 1024
"""Steps at the chosen count between two routine probes."""
DRIFT = 1.6
"""A chosen count whose recent steps are this much slower than when chosen is probed again."""
KEEP = 0.5
"""With a gauge, a count is kept while the free cores are at least this close to it..."""
RAISE = 0.25
"""...and a higher count taken once they are this close: a load near the edge does not flap."""


class Gauge(Protocol):
    """Cores that other processes are keeping busy (``cpu_load.LoadMeter``)."""

    def others(self) -> float | None:
        """Their average since the last reading; None until the next reading is due."""
        ...

    def restart(self) -> None:
        """Begin a new reading now (a reply starts)."""
        ...


@dataclass
class ThreadTuner:
    """Chooses the threads of each decode step: up to ``most``, or ``most``, half or one."""

    most: int
    """The most threads worth running (the cores this process may use)."""
    gauge: Gauge | None = None
    """The machine's load, where it can be read; else steps are timed."""
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
        if self.gauge is None:  # each count is timed: a few of them
            self.candidates = sorted({self.most, max(1, self.most // 2), 1}, reverse=True)
        else:
            self.candidates = list(range(self.most, 0, -1))
        self.chosen = self.most
        self._times = {n: deque(maxlen=self.probe) for n in self.candidates}
        probing = len(self.candidates) > 1 and self.gauge is None
        self._plan = self._probe_plan(self.candidates) if probing else []

    def start(self) -> None:
        """A reply begins: the load is read afresh, over a shorter first window."""
        if self.gauge is not None:
            self.gauge.restart()

    def next(self) -> int:
        """Threads for the next step."""
        return self._plan[0] if self._plan else self.chosen

    def prompt_threads(self) -> int:
        """Threads for the next prompt batch: what the load leaves, where it is read; else all."""
        if self.gauge is None:
            return self.most
        self._follow(self.gauge)
        return self.chosen

    def record(self, threads: int, seconds: float) -> None:
        """A step ran with ``threads`` threads and took ``seconds``."""
        if self.gauge is not None:
            self._follow(self.gauge)
            return
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

    def _follow(self, gauge: Gauge) -> None:
        """Take the count the load leaves room for, when a new reading is due."""
        busy = gauge.others()
        if busy is not None:
            self.chosen = self._fitting(self.most - busy)

    def _fitting(self, free: float) -> int:
        """The most threads that ``free`` cores hold, staying put near the edge."""
        for count in self.candidates:  # highest first
            if free >= count - (KEEP if count <= self.chosen else RAISE):
                return count
        return 1

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
