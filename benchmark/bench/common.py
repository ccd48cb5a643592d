"""Helpers shared by the benchmarks: one-core pinning and timing."""

from __future__ import annotations

import os
import time
from contextlib import contextmanager
from typing import Callable, Iterator


@contextmanager
def one_core() -> Iterator[str]:
    """Pin this process to one CPU (where the OS allows) and to one torch thread."""
    import torch

    before_affinity = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    before_threads = torch.get_num_threads()
    pinned = "not pinned"
    try:
        if before_affinity:
            cpu = _current_cpu(before_affinity)
            os.sched_setaffinity(0, {cpu})
            pinned = f"pinned to CPU {cpu}"
        torch.set_num_threads(1)
        yield pinned
    finally:
        if before_affinity:
            os.sched_setaffinity(0, before_affinity)
        torch.set_num_threads(before_threads)


def _current_cpu(allowed: set[int]) -> int:
    """The CPU this process runs on now (field 39 of /proc/self/stat), so concurrent
    benchmarks do not all pile onto CPU 0; the lowest allowed CPU where unknown."""
    try:
        stat = open("/proc/self/stat").read()
        cpu = int(stat.rsplit(")", 1)[1].split()[36])
        if cpu in allowed:
            return cpu
    except (OSError, ValueError, IndexError):
        pass
    return min(allowed)


def best_of(fn: Callable[[], object], repeats: int = 3) -> float:
    """Fastest wall time of ``repeats`` calls (the least disturbed by other load)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)
