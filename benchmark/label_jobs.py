"""Label-quality jobs (``kind = "labels"`` suites and ``pointbench labels``): a method's
initial pseudo-labels for a dataset split, scored against its masks, timed on one core.
No training; one record per job, made by the same builder as the cells' records.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmark.cells import config_key, parse_spec
from benchmark.errors import ConfigError
from benchmark.executor import Echo, _stderr, summary_line
from benchmark.liveness import Heartbeat
from benchmark.schema import Record, error_info, label_record, mark_failed, stamp
from benchmark.store import Store

if TYPE_CHECKING:  # the engine imports torch: listings and status do without it
    from benchmark.engine import RunOptions


@dataclass(frozen=True)
class LabelJob:
    """One method's initial pseudo-labels for a dataset's training split: no training."""

    method: str  # spec, e.g. "mclc" or "diffusion[prior=superpixel]"
    dataset: str
    labels: str
    seed: int
    split: str = "train"

    @property
    def name(self) -> str:
        return f"{self.method}/{self.dataset}/{self.split}/{self.labels}/s{self.seed}"

    def resolved(self) -> tuple[Any, dict[str, Any], str]:
        """(method instance, identity, key); the key changes with the method's labels version."""
        from benchmark.registry import DATASETS, METHODS

        name, opts = parse_spec(self.method)
        method = METHODS.get(name)(**opts)
        identity = {
            "kind": "labels", "method": method.name, "options": method.options, "labels_version": method.labels_version,
            "dataset": DATASETS.resolve_name(self.dataset), "labels": self.labels, "seed": self.seed, "split": self.split,
        }
        return method, identity, config_key(identity)


def label_jobs(suite: Any) -> list[LabelJob]:
    """The label-quality grid of a ``kind = "labels"`` suite (detectors are not an axis)."""
    from benchmark.registry import METHODS

    jobs: list[LabelJob] = []
    for spec in suite.methods:
        accepted = METHODS.get(parse_spec(spec)[0]).label_types
        for dataset in suite.datasets:
            for labels in suite.labels:
                if labels not in accepted:
                    continue
                for seed in suite.seeds:
                    job = LabelJob(spec, dataset, labels, int(seed))
                    if job not in jobs:
                        jobs.append(job)
    return jobs


@dataclass
class LabelScore:
    """A job's labels (made now or read from the cache) and their quality."""

    made: Any  # benchmark.pseudolabels.LabelSet
    quality: dict[str, float]
    images: int
    fingerprint: str
    cpu: str  # how the run was pinned

    def record_fields(self) -> dict[str, Any]:
        m = self.made
        cpu_seconds = m.cpu_seconds if math.isfinite(m.cpu_seconds) else None  # labels cached before CPU time was kept
        return {"quality": self.quality, "images": self.images, "targets": m.targets, "seconds": m.seconds,
                "seconds_per_target": m.seconds_per_target, "cpu_seconds": cpu_seconds,
                "cpu_seconds_per_target": None if cpu_seconds is None or not m.targets else m.cpu_seconds_per_target,
                "from_cache": m.from_cache, "labels_key": m.key, "cpu": self.cpu, "fingerprint": self.fingerprint}


def check_label_type(method: Any, labels: str) -> None:
    if labels not in method.label_types:
        raise ConfigError(f"method {method.name!r} takes labels {'/'.join(method.label_types)}, not {labels!r}")


def score_labels(job: LabelJob, method: Any, dataset: str, data_root: Path | None, cache_dir: Path | None,
                 force: bool = False, progress: bool = False) -> LabelScore:
    """The one path of ``pointbench labels`` and the ``pseudolabels`` suite: load the split,
    make (or read) the method's labels pinned to one core, score them against the masks."""
    from benchmark.bench.common import one_core
    from benchmark.data.loader import load_split
    from benchmark.pseudolabels import cached_initial_labels, label_quality

    check_label_type(method, job.labels)
    split = load_split(dataset, job.split, data_root, cache_dir)
    if any(s.mask is None for s in split.samples):
        raise ConfigError(f"{dataset} {job.split} has images without masks; label quality needs them")
    with one_core() as pinned:
        made = cached_initial_labels(method, split.samples, dataset, split.fingerprint, job.labels, job.seed,
                                     Path(cache_dir) if cache_dir else None, force=force, progress=progress)
    return LabelScore(made, label_quality(made.labels, split.samples), len(split), split.fingerprint, pinned)


def _score_line(record: Record) -> str:
    """IoU, CPU seconds per target (what a loaded machine does not inflate) and wall seconds."""
    cpu = record.get("cpu_seconds_per_target")
    cpu_part = "" if cpu is None else f"{cpu:.4f} CPU s/target, "
    return f"IoU {record['quality']['iou']:.2f}  {cpu_part}{record['seconds_per_target']:.4f} wall s/target"  # type: ignore[typeddict-item]


def run_label_jobs(jobs: list[LabelJob], store: Store, options: RunOptions, echo: Echo = _stderr) -> list[Record]:
    """Make (or read from the content-keyed cache) each job's labels on one core; one record each."""
    records = []
    start = time.perf_counter()
    for i, job in enumerate(jobs, 1):
        method, identity, key = job.resolved()
        record = label_record(key, job.name, store.suite, identity, method)
        try:
            with Heartbeat(store, key, "labels"):
                score = score_labels(job, method, identity["dataset"], options.data_root, options.cache_dir)
            record.update(status="done", **score.record_fields())  # type: ignore[typeddict-item]
        except Exception as exc:  # recorded; the other jobs go on
            mark_failed(record, error_info(exc))
        store.write(stamp(record, "cpu"))
        records.append(record)
        line = _score_line(record) if record["status"] == "done" else summary_line(record)
        echo(f"[{i}/{len(jobs)}] {job.name}: {line}  (elapsed {time.perf_counter() - start:.0f} s)")
    return records
