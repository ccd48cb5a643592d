"""Tiny real records for the report tests: smoke-profile cells trained on the synthetic
dataset, plus what the engine is to store beside its aggregates (per-image counts at the
last and best epoch, the last-epoch threshold sweep, prediction and label PNGs),
computed by the engine-side functions on the model's own predictions.

Until the engine calls those functions itself (the engine refactor owns
benchmark/engine.py), ``run_with_evidence`` wraps ``_Run.evaluate`` to capture the test
predictions of every evaluated epoch and adds the fields to the written record.
"""

from __future__ import annotations

from pathlib import Path
import pytest

from benchmark import engine
from benchmark.cells import Cell, parse_spec
from benchmark.evidence import predictions_dir, save_cell_pngs, threshold_sweep
from benchmark.metrics import per_image_breakdown
from benchmark.store import Store

TINY = (("epochs", 3), ("max_train_images", 8), ("max_test_images", 6), ("checkpoint_every", 1))
PNG_IMAGES = 2


def tiny_cell(spec: str, labels: str, seed: int) -> Cell:
    method, options = parse_spec(spec)
    return Cell("DNANet", method, "synthetic", labels, seed, profile="smoke", method_options=tuple(sorted(options.items())),
                profile_overrides=TINY)


def run_with_evidence(cell: Cell, store: Store, cache: Path) -> dict:
    """``run_cell`` with the evidence fields added to its record (and the record rewritten)."""
    captured: dict[int, dict] = {}
    original = engine._Run.evaluate

    def evaluate(self, epoch: int, selection: str):
        result = original(self, epoch, selection)
        probs = self.predict([s.image for s in self.test.samples])
        masks = [s.mask for s in self.test.samples]
        subsets = self.test.subsets if len(set(self.test.subsets)) > 1 else None
        captured[epoch] = {"run": self, "probs": probs, "masks": masks,
                           "per_image": per_image_breakdown(probs, masks, subsets)}
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine._Run, "evaluate", evaluate)
        record = engine.run_cell(cell, store, engine.RunOptions(cache_dir=cache, progress=False, threads=1))
    assert record["status"] == "done", record.get("error")
    for selection in ("last", "best"):
        record["metrics"][selection]["per_image"] = captured[record["metrics"][selection]["epoch"]]["per_image"]
    last = captured[record["metrics"]["last"]["epoch"]]
    record["sweep"] = {"epoch": record["metrics"]["last"]["epoch"], **threshold_sweep(last["probs"], last["masks"])}
    run = last["run"]
    record["predictions"] = save_cell_pngs(predictions_dir(store.dir, record["key"]), run.test.samples, last["probs"],
                                           run.train.samples, run.ctx.labels, run.cell.labels,
                                           record["metrics"]["last"]["epoch"], count=PNG_IMAGES)
    store.write(record)
    return record


def label_job_records(store: Store, cache: Path) -> list[dict]:
    """``kind = "labels"`` records of naive points on the synthetic training split (2 seeds)."""
    from benchmark.dispatch import LabelJob, run_label_jobs

    jobs = [LabelJob("point", "synthetic", labels, seed) for labels in ("centroid", "coarse") for seed in (0, 1)]
    return run_label_jobs(jobs, store, engine.RunOptions(cache_dir=cache, progress=False), echo=lambda _: None)
