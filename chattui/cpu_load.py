"""LoadMeter: how many of this process's cores other processes are using right now.

The kernel counts, per CPU, the time spent busy and idle (``/proc/stat``, in clock ticks), and
this process's own CPU time is exact (``time.process_time``). Over a window of a few hundred
milliseconds, busy time on our CPUs that is not ours is load from elsewhere: another program,
or a hypervisor stealing time (``steal`` counts as busy). The thread tuner reads it at every
decode step, so it follows the load without timing the slow thread counts (engine/threads.py).

Linux only. Elsewhere, and in a container whose CPU quota (not its CPU set) limits it, there is
no such reading and the tuner times its steps instead.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from chattui.cpu import cgroup_quota

PROC_STAT = Path("/proc/stat")
WINDOW = 0.25
"""Seconds between two readings: long enough for clock ticks (10 ms) to average out."""
IDLE_FIELDS = (3, 4)
"""``idle`` and ``iowait`` among a ``cpuN`` line's numbers."""
BUSY_FIELDS = 8
"""user, nice, system, idle, iowait, irq, softirq, steal (guest time is inside user)."""


@dataclass(frozen=True, slots=True)
class CpuSample:
    """One reading of the clocks."""

    wall: float
    """Monotonic seconds."""
    busy: float
    """Seconds our CPUs have spent busy since boot, whoever ran."""
    ours: float
    """Seconds of CPU this process has used, over all its threads."""


class LoadMeter:
    """Reads the cores that other processes keep busy, one window at a time."""

    def __init__(
        self,
        cpus: set[int],
        stat: Path = PROC_STAT,
        clock: Callable[[], float] = time.monotonic,
        process: Callable[[], float] = time.process_time,
        window: float = WINDOW,
    ) -> None:
        """Meter the CPUs numbered ``cpus``.

        Args:
            cpus: The CPUs this process may run on (its affinity).
            stat: The kernel's CPU counters.
            clock: Wall time.
            process: This process's CPU time.
            window: Seconds a reading spans at least.
        """
        self._cpus = {f"cpu{n}" for n in cpus}
        self._stat = stat
        self._clock = clock
        self._process = process
        self._window = window
        self._tick = 1 / os.sysconf("SC_CLK_TCK")
        self._last = self.sample()
        self._due = self._last.wall + window

    def restart(self) -> None:
        """Start a new window now, half as long: a reply's first reading comes early."""
        try:
            self._last = self.sample()
        except (OSError, ValueError):
            return
        self._due = self._last.wall + self._window / 2

    @classmethod
    def for_this_process(cls) -> LoadMeter | None:
        """A meter of this process's CPUs, or None where none can be read.

        None without ``/proc/stat`` (macOS, Windows) and under a cgroup CPU quota: there the
        limit is a share of time, and the busy CPUs it runs on are mostly other tenants'.
        """
        try:
            cpus = os.sched_getaffinity(0)
        except AttributeError:
            return None
        if cgroup_quota() is not None:
            return None
        try:
            return cls(cpus)
        except (OSError, ValueError):
            return None

    def sample(self) -> CpuSample:
        """Read the clocks now.

        Raises:
            OSError: The counters cannot be read.
            ValueError: They are not in the kernel's format, or name none of our CPUs.
        """
        busy_ticks = 0
        seen = 0
        with self._stat.open("rb") as stat:
            for raw in stat:
                name, _, rest = raw.decode("ascii", "replace").partition(" ")
                if name not in self._cpus:
                    if seen and not name.startswith("cpu"):
                        break  # the cpuN lines come first
                    continue
                numbers = [int(v) for v in rest.split()[:BUSY_FIELDS]]
                busy_ticks += sum(numbers) - sum(numbers[i] for i in IDLE_FIELDS)
                seen += 1
        if not seen:
            raise ValueError(f"{self._stat} names none of CPUs {sorted(self._cpus)}")
        return CpuSample(self._clock(), busy_ticks * self._tick, self._process())

    def others(self) -> float | None:
        """Cores busy with other work since the last reading, once a window has passed.

        Returns:
            The average over the window (0 when idle), or None before the window is over or
            when the counters cannot be read.
        """
        if self._clock() < self._due:
            return None
        try:
            now = self.sample()
        except (OSError, ValueError):
            return None
        last, self._last = self._last, now
        self._due = now.wall + self._window
        wall = now.wall - last.wall
        return max(0.0, (now.busy - last.busy) - (now.ours - last.ours)) / wall
