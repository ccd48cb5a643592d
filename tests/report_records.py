"""Tiny real records for the report tests: smoke-profile cells trained on the synthetic
dataset by the engine, with what it stores beside the aggregates (per-image counts at the
last and best epoch, the last-epoch threshold sweep, prediction and label PNGs)."""

from __future__ import annotations

from pathlib import Path

from benchmark import engine
from benchmark.cells import Cell, parse_spec
from benchmark.store import Store

TINY = (("epochs", 3), ("max_train_images", 8), ("max_test_images", 6), ("checkpoint_every", 1))
PNG_IMAGES = 2


def tiny_cell(spec: str, labels: str, seed: int) -> Cell:
    method, options = parse_spec(spec)
    return Cell("DNANet", method, "synthetic", labels, seed, profile="smoke", method_options=tuple(sorted(options.items())),
                profile_overrides=TINY)


def run_with_evidence(cell: Cell, store: Store, cache: Path) -> dict:
    """``run_cell`` saving ``PNG_IMAGES`` fixed images of each split; the record must be done."""
    options = engine.RunOptions(cache_dir=cache, progress=False, threads=1, save_images=PNG_IMAGES)
    record = engine.run_cell(cell, store, options)
    assert record["status"] == "done", record.get("error")
    return record


def label_job_records(store: Store, cache: Path) -> list[dict]:
    """``kind = "labels"`` records of naive points on the synthetic training split (2 seeds)."""
    from benchmark.label_jobs import LabelJob, run_label_jobs

    jobs = [LabelJob("point", "synthetic", labels, seed) for labels in ("centroid", "coarse") for seed in (0, 1)]
    return run_label_jobs(jobs, store, engine.RunOptions(cache_dir=cache, progress=False), echo=lambda _: None)
