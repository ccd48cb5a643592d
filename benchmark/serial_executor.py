"""The ``serial`` executor: one cell after another in this process."""

from __future__ import annotations

import time

from benchmark.engine import RunOptions, run_cell
from benchmark.executor import DispatchSettings, Echo, _stderr, summary_line
from benchmark.liveness import Heartbeat, cell_state
from benchmark.progress import epoch_lines
from benchmark.resolve import ResolvedCell
from benchmark.schema import Record
from benchmark.store import Store


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
    records = []
    start = time.perf_counter()
    for i, rc in enumerate(todo, 1):
        state = cell_state(store, rc.key)
        if state in ("done", "running"):  # another run on the same results folder got there first
            echo(f"[{i}/{len(todo)}] {rc.cell.name}: skipped, {state} in another run")
            continue
        echo(f"[{i}/{len(todo)}] {rc.cell.name} ({rc.key}) ...")
        t = time.perf_counter()
        with Heartbeat(store, rc.key, "serial", rc.profile.epochs) as beat:
            on_epoch = epoch_lines(beat.epoch, rc, options, echo, f"[{i}/{len(todo)}]")
            record = run_cell(rc.cell, store, options, on_epoch=on_epoch)
        records.append(record)
        elapsed = time.perf_counter() - start
        eta = elapsed / i * (len(todo) - i)
        echo(f"[{i}/{len(todo)}] {rc.cell.name}: {summary_line(record)}  ({time.perf_counter() - t:.0f} s; "
             f"elapsed {elapsed:.0f} s, about {eta:.0f} s left)")
    return records
