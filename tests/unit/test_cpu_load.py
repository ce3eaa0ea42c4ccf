"""The load meter reads other processes' CPU use from the kernel's counters."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from chattui.cpu import cgroup_quota
from chattui.cpu_load import LoadMeter

TICKS = os.sysconf("SC_CLK_TCK")


def stat_file(path: Path, busy: list[int], idle: list[int]) -> None:
    """A /proc/stat with one cpuN line per entry: ``busy`` user ticks, ``idle`` idle ticks."""
    total = [sum(busy), 0, 0, sum(idle), 0, 0, 0, 0, 0, 0]
    lines = ["cpu  " + " ".join(map(str, total))]
    for n, (b, i) in enumerate(zip(busy, idle, strict=True)):
        lines.append(f"cpu{n} {b} 0 0 {i} 0 0 0 0 0 0")
    lines += ["intr 1 2 3", "ctxt 99"]
    path.write_text("\n".join(lines) + "\n")


def test_others_is_busy_time_that_is_not_ours(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    clock = [100.0]
    ours = [5.0]
    stat_file(stat, [1000, 1000], [0, 0])
    meter = LoadMeter({0, 1}, stat, lambda: clock[0], lambda: ours[0])
    assert meter.others() is None  # no window has passed
    # One second: both CPUs busy all of it; we used 1.25 s of CPU, so others 0.75 cores.
    clock[0] += 1.0
    ours[0] += 1.25
    stat_file(stat, [1000 + TICKS, 1000 + TICKS], [0, 0])
    assert meter.others() == 0.75
    # Half a second: one CPU idle, the other ours; then the load is 0.
    clock[0] += 0.5
    ours[0] += 0.5
    stat_file(stat, [1000 + TICKS + TICKS // 2, 1000 + TICKS], [0, TICKS // 2])
    assert meter.others() == 0.0


def test_only_our_cpus_count(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    clock = [0.0]
    stat_file(stat, [0, 0, 0], [0, 0, 0])
    meter = LoadMeter({1}, stat, lambda: clock[0], lambda: 0.0)
    clock[0] += 1.0
    stat_file(stat, [TICKS, 0, TICKS], [0, TICKS, 0])  # CPUs 0 and 2 are not ours
    assert meter.others() == 0.0


def test_a_reply_reads_its_first_window_early(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    clock = [0.0]
    stat_file(stat, [0], [0])
    meter = LoadMeter({0}, stat, lambda: clock[0], lambda: 0.0, window=0.2)
    clock[0] = 50.0  # long after the last reading, between replies
    meter.restart()
    clock[0] += 0.1
    stat_file(stat, [TICKS // 10], [0])
    assert meter.others() is not None  # half a window after the start
    clock[0] += 0.1
    assert meter.others() is None  # then whole windows


def test_unreadable_counters_give_no_reading(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    clock = [0.0]
    stat_file(stat, [0], [0])
    meter = LoadMeter({0}, stat, lambda: clock[0], lambda: 0.0)
    stat.write_text("garbage\n")
    clock[0] += 1.0
    assert meter.others() is None
    stat.unlink()
    clock[0] += 1.0
    assert meter.others() is None


def test_this_machine_sees_another_process_spin() -> None:
    meter = LoadMeter.for_this_process()
    if not Path("/proc/stat").exists() or cgroup_quota() is not None:
        assert meter is None  # timed steps choose the threads there
        return
    assert meter is not None
    time.sleep(0.3)
    before = meter.others()
    assert before is not None and 0.0 <= before <= len(os.sched_getaffinity(0))
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        meter.restart()
        time.sleep(1.0)
        during = meter.others()
    finally:
        spinner.kill()
        spinner.wait()
    # The spinner is runnable all the second: it gets a good part of a core, whatever else runs.
    assert during is not None and during >= 0.3
