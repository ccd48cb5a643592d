"""Running a list of cells: drop the finished ones, run the rest, report progress.

The serial executor runs cells one after another in this process (debugging, machines
without Ray, CI); every executor shares the same skip-done rule and record writing, which
live in ``run_cell`` and the store.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import Callable

from benchmark.cells import Cell
from benchmark.engine import RunOptions, run_cell
from benchmark.resolve import ResolvedCell, resolve
from benchmark.schema import Record
from benchmark.store import Store


@dataclass
class Plan:
    """What a run will do: every cell resolved, split into finished and to-do."""

    resolved: list[ResolvedCell]
    done: list[ResolvedCell] = field(default_factory=list)
    todo: list[ResolvedCell] = field(default_factory=list)


def preflight(resolved: list[ResolvedCell], options: RunOptions) -> None:
    """Fail before any training if a dataset folder is missing (clear error, nothing lost)."""
    from benchmark.data import layout
    from benchmark.data.catalog import dataset_spec
    from benchmark.data.loader import default_data_root

    root = options.data_root if options.data_root is not None else default_data_root()
    for name in sorted({rc.cell.dataset for rc in resolved}):
        spec = dataset_spec(name)
        if spec.embedded:
            continue
        for folder in spec.parts or (spec.folder,):
            layout.dataset_folder(root, folder)


def plan(cells: list[Cell], store: Store) -> Plan:
    """Resolve every cell first, so an unknown name fails before anything runs."""
    resolved = [resolve(c) for c in cells]
    p = Plan(resolved)
    for rc in resolved:
        (p.done if store.status(rc.key) == "done" else p.todo).append(rc)
    return p


def _summary_line(record: Record) -> str:
    if record["status"] != "done":
        return f"FAILED: {record.get('error', {}).get('type')}: {record.get('error', {}).get('message')}"
    m = record["metrics"]["last"]["subsets"]["all"]
    return f"IoU {m['iou']:.2f}  nIoU {m['niou']:.2f}  Pd {m['pd']:.2f}  Fa {m['fa']:.2f}"


def run_serial(
    todo: list[ResolvedCell],
    store: Store,
    options: RunOptions,
    echo: Callable[[str], None] = lambda s: print(s, file=sys.stderr, flush=True),
) -> list[Record]:
    records = []
    start = time.perf_counter()
    for i, rc in enumerate(todo, 1):
        echo(f"[{i}/{len(todo)}] {rc.cell.name} ({rc.key}) ...")
        t = time.perf_counter()
        record = run_cell(rc.cell, store, options)
        records.append(record)
        elapsed = time.perf_counter() - start
        eta = elapsed / i * (len(todo) - i)
        echo(f"[{i}/{len(todo)}] {rc.cell.name}: {_summary_line(record)}  ({time.perf_counter() - t:.0f} s; "
             f"elapsed {elapsed:.0f} s, about {eta:.0f} s left)")
    return records


EXECUTORS = {"serial": run_serial}
