"""The ``serial`` executor: one cell after another in this process (debuggers, CI, GPUs).

Each cell trains with the thread count of ``benchmark.cpu_plan`` (one by default;
``--threads N`` for N). ``run_one`` is the body every local executor shares: the
``local`` executor runs it in a child process per cell.
"""

from __future__ import annotations

import time
from dataclasses import replace

from benchmark.cpu_plan import cpu_plan, usable_cores
from benchmark.engine import RunOptions, run_cell
from benchmark.executor import DispatchSettings, Echo, _stderr, summary_line
from benchmark.liveness import Heartbeat, cell_state
from benchmark.progress import epoch_lines
from benchmark.resolve import ResolvedCell
from benchmark.schema import Record
from benchmark.store import Store


def run_one(i: int, n: int, rc: ResolvedCell, store: Store, options: RunOptions, echo: Echo,
            executor: str = "serial") -> Record | None:
    """Train cell ``i`` of ``n`` under a heartbeat; None if another run has it or finished it."""
    state = cell_state(store, rc.key)
    if state in ("done", "running"):  # another run on the same results folder got there first
        echo(f"[{i}/{n}] {rc.cell.name}: skipped, {state} in another run")
        return None
    echo(f"[{i}/{n}] {rc.cell.name} ({rc.key}) ...")
    with Heartbeat(store, rc.key, executor, rc.profile.epochs) as beat:
        on_epoch = epoch_lines(beat.epoch, rc, options, echo, f"[{i}/{n}]")
        return run_cell(rc.cell, store, options, on_epoch=on_epoch)


def finished_line(i: int, n: int, rc: ResolvedCell, record: Record, cell_s: float, elapsed_s: float, left: int) -> str:
    """The line a finished cell prints: its metrics, its time, and an estimate of the rest."""
    done = n - left
    eta = elapsed_s / done * left if done else 0.0
    return (f"[{i}/{n}] {rc.cell.name}: {summary_line(record)}  ({cell_s:.0f} s; "
            f"elapsed {elapsed_s:.0f} s, about {eta:.0f} s left)")


def run_serial(
    todo: list[ResolvedCell],
    store: Store,
    options: RunOptions,
    echo: Echo = _stderr,
    settings: DispatchSettings | None = None,
) -> list[Record]:
    """One cell after another in this process; ``settings`` other than ``echo`` do not apply."""
    if settings is not None and echo is _stderr:
        echo = settings.echo
    options = replace(options, threads=cpu_plan(len(todo), usable_cores(), options.threads).threads)
    records = []
    start = time.perf_counter()
    for i, rc in enumerate(todo, 1):
        t = time.perf_counter()
        record = run_one(i, len(todo), rc, store, options, echo)
        if record is None:
            continue
        records.append(record)
        echo(finished_line(i, len(todo), rc, record, time.perf_counter() - t, time.perf_counter() - start, len(todo) - i))
    return records
