"""How many torch threads a CPU cell gets, and how many cells train at once: one rule.

Default: **one torch thread per cell, and as many cells side by side as there are
usable cores.** Why (docs/performance.md, "Threads"): on a shared machine a cell with
several OpenMP threads waits at every parallel region for all of them to be scheduled;
on the two-core development VM with other work running, the quick ``full`` cell took
5.8x the wall time *and* 5.8x the CPU time with torch's default two threads that it took
with one. Single-threaded cells never wait for each other, and a grid's cells are
independent, so running them side by side uses every core without that risk.

``--threads N`` is the explicit override: N threads per cell and ``cores // N`` cells at
once (at least one). ``--max-concurrent`` caps the cells at once. The thread count is
recorded with every cell (``provenance.threads``): CPU results are bitwise reproducible
for the same count, not across counts.

Torch-free: planning and the CLI use it before anything trains.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import ConfigError

DEFAULT_THREADS = 1
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"


@dataclass(frozen=True)
class CpuPlan:
    """Torch threads per cell and cells at once, for ``cells`` cells on ``cores`` cores."""

    threads: int
    concurrent: int
    cells: int
    cores: int
    explicit: bool  # threads came from --threads

    def describe(self, executor: str) -> str:
        """In words, for the line ``run`` prints before training."""
        source = f"--threads {self.threads}" if self.explicit else "one torch thread per cell (the default)"
        if executor == "local":
            return f"{source}, {self.concurrent} of {self.cells} cells at once on {self.cores} cores"
        if executor == "ray":
            return f"{source}, cells placed by Ray"
        return f"{source}, one cell at a time"


def cgroup_cpus(path: Path = CGROUP_CPU_MAX) -> int | None:
    """Whole CPUs a container's CPU quota allows (rounded up), or None without a quota."""
    try:
        quota, period = path.read_text(encoding="utf-8").split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, -(-int(quota) // int(period)))
    except (ValueError, ZeroDivisionError):
        return None


def usable_cores() -> int:
    """CPUs this process may run on: its affinity mask, capped by a container's CPU quota."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    quota = cgroup_cpus()
    return max(1, min(cores, quota) if quota else cores)


def _positive(value: int | None, flag: str) -> int | None:
    if value is not None and value < 1:
        raise ConfigError(f"{flag} must be a whole number >= 1, got {value}")
    return value


def cpu_plan(cells: int, cores: int, threads: int | None = None, max_concurrent: int | None = None) -> CpuPlan:
    """Threads per cell and cells at once for ``cells`` CPU cells on ``cores`` cores.

    ``threads`` (``--threads``) and ``max_concurrent`` (``--max-concurrent``) are the
    user's explicit choices, None where not given.
    """
    _positive(threads, "--threads")
    _positive(max_concurrent, "--max-concurrent")
    chosen = threads if threads is not None else DEFAULT_THREADS
    slots = max(1, cores // chosen)
    at_once = max(1, min(cells, slots, max_concurrent or slots))
    return CpuPlan(threads=chosen, concurrent=at_once, cells=cells, cores=cores, explicit=threads is not None)


def default_executor(plan: CpuPlan, on_cpu: bool) -> str:
    """``local`` where cells can train side by side on CPUs, else ``serial``.

    On a GPU the serial executor gives each cell the whole card (packing several on one
    card is ``--executor local`` or ``ray``, by choice).
    """
    return "local" if on_cpu and plan.concurrent > 1 else "serial"
