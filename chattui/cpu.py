"""How many CPU cores this process may really use: affinity, then the container's CPU quota.

``os.cpu_count()`` counts the machine's cores. A process pinned to fewer (``taskset``, cpusets)
or in a container with a CPU quota (``docker --cpus``, Kubernetes limits: cgroup ``cpu.max``)
gets less, and llama.cpp threads beyond that only wait on each other.
"""

from __future__ import annotations

import math
import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_CGROUP = Path("/proc/self/cgroup")
CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True, slots=True)
class CpuBudget:
    """The cores this process may use, and what limits them."""

    affinity: int
    """Cores the process may be scheduled on."""
    quota: float | None
    """The cgroup's CPU quota in cores (``cpu.max``); None when there is none."""

    @property
    def cores(self) -> int:
        """Threads worth running: the affinity, cut to the whole cores of the quota (at least 1).

        Rounded down: llama.cpp's threads meet at a barrier every layer, so one thread held back
        by the quota stalls them all.
        """
        if self.quota is None:
            return self.affinity
        return max(1, min(self.affinity, math.floor(self.quota)))

    def describe(self) -> str:
        """For ``doctor``: ``2 (affinity 4, CPU quota 2.5 cores)``."""
        if self.quota is None:
            return f"{self.cores} (cores this process may use)"
        return f"{self.cores} (affinity {self.affinity}, CPU quota {self.quota:g} cores)"


def cpu_budget(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> CpuBudget:
    """Read this process's affinity and its cgroup's CPU quota (v2 ``cpu.max`` or v1 CFS)."""
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS has no affinity masks
        affinity = os.cpu_count() or 1
    return CpuBudget(max(1, affinity), cgroup_quota(root, proc_cgroup))


def usable_cores() -> int:
    """Cores this process may use (affinity and container CPU quota)."""
    return cpu_budget().cores


def cgroup_quota(root: Path = CGROUP_ROOT, proc_cgroup: Path = PROC_CGROUP) -> float | None:
    """The smallest CPU quota on this process's cgroup path, in cores; None if unlimited."""
    try:
        lines = proc_cgroup.read_text().splitlines()
    except OSError:  # not Linux, or no /proc
        return None
    quotas: list[float] = []
    for line in lines:
        _, controllers, path = [*line.split(":", 2), "", ""][:3]
        if controllers == "":  # cgroup v2
            quotas += _along(root, path, _v2_quota)
        elif "cpu" in controllers.split(","):  # cgroup v1, mounted as cpu or cpu,cpuacct
            for mount in (root / "cpu", root / "cpu,cpuacct"):
                quotas += _along(mount, path, _v1_quota)
    return min(quotas) if quotas else None


def _along(mount: Path, path: str, read: Callable[[Path], float | None]) -> list[float]:
    """Quotas found from the process's cgroup up to the mount's root."""
    found: list[float] = []
    folder = mount / path.strip("/")
    while True:
        quota = read(folder)
        if quota is not None:
            found.append(quota)
        if folder == mount or mount not in folder.parents:
            return found
        folder = folder.parent


def _v2_quota(folder: Path) -> float | None:
    try:
        quota, period = (folder / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError, ZeroDivisionError):
        return None


def _v1_quota(folder: Path) -> float | None:
    try:
        quota = int((folder / "cpu.cfs_quota_us").read_text())
        period = int((folder / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError, ZeroDivisionError):
        return None


def cpu_features(cpuinfo: Path = CPUINFO) -> str:
    """This CPU's model and feature flags as the kernel reports them (``amx_int8 avx512f ...``).

    llama.cpp picks its kernels by these flags, so a verdict about a kernel holds for one set of
    them. Where there is no ``/proc/cpuinfo`` (macOS), the platform's processor name stands in.
    """
    try:
        lines = cpuinfo.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    wanted = ("model name", "flags", "features", "isa", "cpu model")
    found: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name in wanted and name not in found:  # the first CPU speaks for all of them
            found[name] = " ".join(sorted(value.split())) if name != "model name" else value
    if not found:
        return f"{platform.machine()} {platform.processor()}".strip()
    return "; ".join(f"{name}: {value.strip()}" for name, value in sorted(found.items()))
