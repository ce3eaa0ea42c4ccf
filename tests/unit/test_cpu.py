"""The cores chattui uses: affinity and the container's CPU quota (cgroup v1 and v2)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from chattui.cpu import CpuBudget, cgroup_quota, cpu_budget


def fake_cgroup(tmp_path: Path, proc: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    proc_cgroup = tmp_path / "proc-self-cgroup"
    proc_cgroup.write_text(proc)
    return root, proc_cgroup


@pytest.mark.parametrize(
    ("proc", "files", "quota"),
    [
        ("0::/\n", {"cpu.max": "max 100000\n"}, None),
        ("0::/\n", {"cpu.max": "150000 100000\n"}, 1.5),
        # The container's own cgroup, with a tighter limit on a parent.
        (
            "0::/pod/box\n",
            {
                "cpu.max": "max 100000",
                "pod/cpu.max": "100000 100000",
                "pod/box/cpu.max": "300000 100000",
            },
            1.0,
        ),
        (
            "3:cpu,cpuacct:/docker/x\n",
            {
                "cpu,cpuacct/docker/x/cpu.cfs_quota_us": "250000",
                "cpu,cpuacct/docker/x/cpu.cfs_period_us": "100000",
            },
            2.5,
        ),
        ("1:cpu:/\n", {"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ("0::/\n", {"cpu.max": "garbage"}, None),
        ("0::/\n", {}, None),
    ],
)
def test_cgroup_quota(
    tmp_path: Path, proc: str, files: dict[str, str], quota: float | None
) -> None:
    root, proc_cgroup = fake_cgroup(tmp_path, proc, files)
    assert cgroup_quota(root, proc_cgroup) == quota


def test_no_proc_means_no_quota(tmp_path: Path) -> None:
    assert cgroup_quota(tmp_path, tmp_path / "missing") is None


def test_cores_follow_the_tightest_limit() -> None:
    assert CpuBudget(affinity=8, quota=None).cores == 8
    assert CpuBudget(affinity=8, quota=2.5).cores == 2  # a thread held back stalls the rest
    assert CpuBudget(affinity=2, quota=4.0).cores == 2
    assert CpuBudget(affinity=4, quota=0.5).cores == 1
    assert "quota 2.5 cores" in CpuBudget(affinity=8, quota=2.5).describe()


def test_this_machine(tmp_path: Path) -> None:
    budget = cpu_budget()
    assert 1 <= budget.cores <= (os.cpu_count() or 1)
    root, proc_cgroup = fake_cgroup(tmp_path, "0::/\n", {"cpu.max": "100000 100000"})
    assert cpu_budget(root, proc_cgroup).cores == 1
