"""``run_cell(cell) -> record``: data + detector + method -> train -> evaluate.

A pure function of the cell (no Ray here): every random source is seeded from the cell,
and each epoch reseeds from (seed, epoch), so a cell resumed from its checkpoint ends
exactly where an uninterrupted run would. The recipe, one module per step:

  build (``benchmark.build``)        data, detector, the method's parts, optimizers, context
  resume (``benchmark.checkpoint``)  or else ``method.setup`` (initial labels)
  per epoch (``benchmark.loop``)     the method's plan and training steps, then ``end_epoch``
  evaluate (``benchmark.evaluation``) every ``eval_every`` epochs and at the last; best epoch
  record (``benchmark.schema``)      one JSON document, written atomically by the store
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from benchmark.build import Built, build, pick_device
from benchmark.cells import Cell
from benchmark.checkpoint import load_checkpoint, save_checkpoint
from benchmark.evaluation import LAST_SELECTION, BestEpoch, evaluate, label_iou
from benchmark.fingerprints import record_fingerprints
from benchmark.loop import RunState, train_epoch
from benchmark.resolve import ResolvedCell, resolve
from benchmark.schema import Record, cell_record, error_info, mark_failed, stamp
from benchmark.store import Store

log = logging.getLogger(__name__)

OnEpoch = Callable[[dict[str, Any]], None]


@dataclasses.dataclass
class RunOptions:
    """Where and how a cell runs; none of it changes what the cell is (its key).

    ``threads`` sets torch's CPU threads for the cell: a different count changes the
    order of floating-point sums, so bitwise-equal CPU results need the same count
    (every record says which, in ``provenance.threads``).
    """

    data_root: Path | None = None
    cache_dir: Path | None = None
    device: str | None = None  # default: cuda if available else cpu
    progress: bool | None = None  # default: when stderr is a terminal
    keep_checkpoint: bool = False
    threads: int | None = None  # torch CPU threads (default: torch's own choice)


def run_cell(cell: Cell, store: Store, options: RunOptions | None = None, on_epoch: OnEpoch | None = None) -> Record:
    """Train and evaluate one cell, write its record into ``store``, and return it.

    A failure is recorded (status "failed", with the error and traceback) and returned,
    never raised, so one bad cell cannot stop a grid. Configuration errors (unknown
    names) raise before anything runs.
    """
    options = options or RunOptions()
    rc = resolve(cell)
    threads_before = torch.get_num_threads()
    if options.threads:
        torch.set_num_threads(options.threads)
    try:
        return _run_and_record(rc, store, options, on_epoch)
    finally:
        torch.set_num_threads(threads_before)


def checkpoint_path(store: Store, key: str) -> Path:
    return store.work_dir(key) / "checkpoint.pt"


def find_record(root: Path, key: str) -> Record | None:
    """A finished record with ``key`` in any suite of the results folder ``root``."""
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        record = Store(root, folder.name).read(key)
        if record is not None and record.get("status") == "done":
            return record
    return None


def resume_or_setup(b: Built, path: Path) -> RunState:
    """The checkpoint's state if there is one; else the method's setup (initial labels)."""
    state = load_checkpoint(path, b)
    if state is None:
        state = RunState()
        b.rc.method.setup(b.ctx)
        log_label_quality(b, state, 0)
    return state


def train_epochs(b: Built, state: RunState, path: Path, progress: bool, on_epoch: OnEpoch | None) -> None:
    """Each remaining epoch: train, the method's update, evaluation when due, checkpoint."""
    epochs = b.profile.epochs
    with progress_bar(b.rc.cell.name, epochs, state.start_epoch, progress) as bar:
        for epoch in range(state.start_epoch, epochs):
            entry = train_epoch(b, state, epoch)
            end_epoch(b, state, epoch, entry)
            last = epoch + 1 == epochs
            if last or (epoch + 1) % b.profile.eval_every == 0:
                evaluate_epoch(b, state, epoch, entry, last)
            state.history.append(entry)
            if last or (epoch + 1) % b.profile.checkpoint_every == 0:
                save_checkpoint(path, b, state, epoch + 1)
            if on_epoch is not None:
                on_epoch(entry)
            bar(entry)


def end_epoch(b: Built, state: RunState, epoch: int, entry: dict[str, Any]) -> None:
    """The method's end-of-epoch update; label quality logged when its labels changed."""
    b.ctx.last_epoch = entry
    method_log = b.rc.method.end_epoch(epoch, b.ctx) or {}
    if method_log.pop("labels_changed", False):
        quality = log_label_quality(b, state, epoch + 1)
        if quality is not None:
            entry["label_iou"] = quality
    if method_log:
        entry["method"] = method_log


def evaluate_epoch(b: Built, state: RunState, epoch: int, entry: dict[str, Any], last: bool,
                   rule: BestEpoch = BestEpoch()) -> None:
    evaluation, seconds = evaluate(b, epoch + 1, LAST_SELECTION)
    state.eval_seconds += seconds
    entry["test"] = evaluation["subsets"]["all"]
    state.best = rule.update(evaluation, state.best)
    if last:
        state.last = evaluation


def log_label_quality(b: Built, state: RunState, epoch: int) -> float | None:
    quality = label_iou(b.ctx.labels, b.train)
    if quality is not None:
        state.label_quality.append({"epoch": epoch, "iou": quality})
    return quality


@contextmanager
def progress_bar(name: str, epochs: int, initial: int, enabled: bool) -> Iterator[OnEpoch]:
    """A tqdm bar over epochs when ``enabled`` (a terminal); a no-op callback otherwise."""
    if not enabled:
        yield lambda entry: None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=epochs, initial=initial, desc=name, unit="ep", leave=False)

    def update(entry: dict[str, Any]) -> None:
        bar.set_postfix(loss=f"{entry['loss']:.4f}", **({"IoU": f"{entry['test']['iou']:.1f}"} if "test" in entry else {}))
        bar.update(1)

    try:
        yield update
    finally:
        bar.close()


def _run_and_record(rc: ResolvedCell, store: Store, options: RunOptions, on_epoch: OnEpoch | None) -> Record:
    record = cell_record(rc, store.suite)
    started = datetime.now(timezone.utc)
    wall = time.perf_counter()
    path = checkpoint_path(store, rc.key)
    b = state = None
    progress = sys.stderr.isatty() if options.progress is None else options.progress
    try:
        b = build(rc, store.work_dir(rc.key), options.device, options.data_root, options.cache_dir)
        b.ctx.find_record = lambda key: find_record(store.root, key)
        state = resume_or_setup(b, path)
        train_epochs(b, state, path, progress, on_epoch)
        record.update(status="done", metrics={"last": state.last, "best": state.best},
                      label_quality=state.label_quality, history=state.history)
    except Exception as exc:  # recorded, not raised: the grid goes on
        log.error("cell %s failed: %s", rc.cell.name, exc)
        mark_failed(record, error_info(exc))
    if b is not None:
        describe_run(record, b, state, time.perf_counter() - wall)
    stamp(record, pick_device(options.device), started)
    store.write(record)
    if record["status"] == "done" and not options.keep_checkpoint:
        path.unlink(missing_ok=True)
        try:
            path.parent.rmdir()
        except OSError:
            pass
    return record


def describe_run(record: Record, b: Built, state: RunState | None, wall_seconds: float) -> None:
    """What the record says about the run beside its results: detector, data, timing."""
    record["method"]["parts"] = b.part_parameters()
    record["detector"] = {
        "name": b.rc.cell.detector,
        "width": b.profile.detector_width,
        "in_channels": b.channels,
        "parameters": sum(p.numel() for p in b.model.parameters()),
    }
    record["data"] = {
        "dataset": b.rc.cell.dataset,
        "train_fingerprint": b.train.fingerprint,
        "test_fingerprint": b.test.fingerprint,
        "train_images": len(b.train),
        "test_images": len(b.test),
        "validation_images": len(b.ctx.validation_indices),
        "norm": {"mean": b.norm[0], "std": b.norm[1]},
        "repairs": sorted(set(b.train.repairs + b.test.repairs)),
    }
    record["fingerprints"] = record_fingerprints(b.rc, b.train.fingerprint, b.test.fingerprint)  # staleness
    state = state or RunState()
    record["timing"] = {
        "train_seconds": state.train_seconds,
        "eval_seconds": state.eval_seconds,
        "train_images_per_second": state.trained_images / state.train_seconds if state.train_seconds else None,
        "wall_seconds_this_run": wall_seconds,
        "resumed_from_epoch": state.start_epoch,  # 0: trained from scratch; k: continued a checkpoint after epoch k
    }
