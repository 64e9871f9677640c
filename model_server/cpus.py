"""How many CPUs this container may use: the cgroup CPU quota (v2 cpu.max or v1 CFS quota),
bounded by the CPUs the process may be scheduled on. One worker process per usable CPU."""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except OSError:
        return None


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs allowed by the quota, or None when unlimited or unknown."""
    v2 = _read(root / "cpu.max")  # "max 100000" or "50000 100000"
    if v2 is not None:
        quota, _, period = v2.partition(" ")
        if quota == "max" or not period:
            return None
        return int(quota) / int(period)
    for directory in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        quota_text = _read(root / directory / "cpu.cfs_quota_us")
        period_text = _read(root / directory / "cpu.cfs_period_us")
        if quota_text is not None and period_text is not None:
            quota_us = int(quota_text)
            return None if quota_us <= 0 else quota_us / int(period_text)
    return None


def schedulable_cpus() -> int:
    return len(os.sched_getaffinity(0))


def default_workers(root: Path = CGROUP_ROOT) -> int:
    """ceil(quota), so a 1.5-CPU limit gets 2 workers and the whole quota is usable; never more
    workers than schedulable CPUs, never fewer than one."""
    cpus = schedulable_cpus()
    limit = cgroup_cpu_limit(root)
    if limit is None:
        return max(1, cpus)
    return max(1, min(cpus, math.ceil(limit - 1e-9)))
