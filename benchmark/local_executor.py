"""The ``local`` executor: cells side by side on this machine, one child process per cell.

The default for a CPU run of two or more cells on two or more cores (``benchmark.cli``):
``benchmark.cpu_plan`` gives each cell one torch thread and runs as many at once as
there are cores, so a grid uses every core without the thread oversubscription that
makes multi-threaded cells collapse on a shared machine (docs/performance.md,
"Threads"). No Ray: a child is a fresh ``spawn``ed interpreter (no state inherited from
this one, fork-safe with torch's thread pools), it runs the same per-cell body as the
serial executor (``run_one``: heartbeat, epoch log lines, ``run_cell`` writing its
record), and exits. A process per cell costs an interpreter start and a torch import
(about 2-4 s) per cell: nothing beside a cell of minutes.

On a GPU the same executor packs cells on one card: each child caps its share of GPU
memory at 1/concurrent (``torch.cuda.set_per_process_memory_fraction``), so an
over-packed card fails one cell with an out-of-memory error instead of slowing all.

A child that dies without writing its record (killed, out of memory) leaves its cell
resumable from its last checkpoint: the run reports it and exits 1, and running the
same command again resumes it. Ctrl-C reaches the children too (one process group);
the executor waits for them to stop and starts no more.
"""

from __future__ import annotations

import importlib
import multiprocessing
import multiprocessing.connection
import sys
import time
from dataclasses import replace
from pathlib import Path

from benchmark.cells import Cell
from benchmark.cpu_plan import cpu_plan, usable_cores
from benchmark.engine import RunOptions
from benchmark.errors import ConfigError
from benchmark.executor import DispatchSettings, _stderr, registration_modules
from benchmark.resolve import ResolvedCell, resolve
from benchmark.schema import Record
from benchmark.serial_executor import finished_line, run_one, run_serial
from benchmark.store import Store

STOP_WAIT_S = 30.0  # after Ctrl-C: how long children get to stop before they are terminated


def _child(i: int, n: int, cell: Cell, key: str, root: str, suite: str, options: RunOptions,
           modules: tuple[str, ...], gpu_share: float) -> None:
    """One cell in a fresh interpreter (module-level: ``spawn`` pickles it by reference)."""
    for name in modules:  # the parent's own registrations (a user's method module, a test module)
        importlib.import_module(name)
    if gpu_share < 1:
        import torch

        if torch.cuda.is_available() and (options.device or "cuda").startswith("cuda"):
            torch.cuda.set_per_process_memory_fraction(gpu_share)
    rc = resolve(cell)
    if rc.key != key:
        raise ConfigError(f"cell {cell.name} resolves to key {rc.key} in a child process but {key} in its parent")
    try:
        run_one(i, n, rc, Store(root, suite), options, _stderr, executor="local")
    except KeyboardInterrupt:
        sys.exit(130)


def run_local(
    todo: list[ResolvedCell], store: Store, options: RunOptions, settings: DispatchSettings | None = None
) -> list[Record]:
    """Run ``todo`` in child processes, ``cpu_plan``'s count at once; the records they wrote."""
    settings = settings or DispatchSettings()
    plan = cpu_plan(len(todo), usable_cores(), options.threads, settings.max_concurrent)
    if plan.concurrent <= 1:
        return run_serial(todo, store, options, settings=settings)
    echo = settings.echo
    echo(f"local: {plan.describe('local')}; a child process per cell")
    options = replace(options, threads=plan.threads, progress=False, data_root=_absolute(options.data_root),
                      cache_dir=_absolute(options.cache_dir))
    modules = registration_modules(todo)
    ctx = multiprocessing.get_context("spawn")
    before = {rc.key: store.stamp(rc.key) for rc in todo}
    pending = list(enumerate(todo, 1))
    running: dict[multiprocessing.process.BaseProcess, tuple[int, ResolvedCell, float]] = {}
    records: list[Record] = []
    start = time.perf_counter()
    try:
        while pending or running:
            while pending and len(running) < plan.concurrent:
                i, rc = pending.pop(0)
                p = ctx.Process(target=_child, name=f"pointbench-{rc.key}", args=(
                    i, len(todo), rc.cell, rc.key, str(store.root), store.suite, options, modules, 1.0 / plan.concurrent))
                p.start()
                running[p] = (i, rc, time.perf_counter())
            multiprocessing.connection.wait([p.sentinel for p in running])
            for p in [p for p in running if not p.is_alive()]:
                p.join()
                i, rc, t = running.pop(p)
                record = store.read(rc.key) if store.stamp(rc.key) != before[rc.key] else None
                if record is not None:
                    records.append(record)
                    echo(finished_line(i, len(todo), rc, record, time.perf_counter() - t, time.perf_counter() - start,
                                       len(pending) + len(running)))
                elif p.exitcode != 0:
                    echo(f"[{i}/{len(todo)}] {rc.cell.name}: its process ended with exit code {p.exitcode} before "
                         f"writing a record (killed? out of memory?); run again to resume it from its checkpoint")
    except KeyboardInterrupt:
        _stop(list(running))
        raise
    return records


def _absolute(path: Path | None) -> Path | None:
    return None if path is None else Path(path).expanduser().resolve()


def _stop(children: list[multiprocessing.process.BaseProcess]) -> None:
    """Children got the same Ctrl-C: give them time to stop, then terminate the rest."""
    deadline = time.monotonic() + STOP_WAIT_S
    for p in children:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
        if p.is_alive():
            p.terminate()
            p.join(timeout=5)
