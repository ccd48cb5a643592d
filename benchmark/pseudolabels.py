"""Initial (offline) pseudo-labels of a method for a split: made once, cached by content.

The key covers the method (name, options, labels version), the split's fingerprint, the
label type and the seed, so the seven detectors of a table share one set of MCLC labels,
and any change to the data or the method makes new ones. Labels are stored as uint8
(value x 255) in one compressed ``.npz`` with a JSON sidecar (timing, counts).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from benchmark.data.loader import default_cache_dir
from benchmark.data.split import Sample
from benchmark.seeding import seed_hash


@dataclass
class LabelSet:
    labels: list[np.ndarray]
    seconds: float  # wall time to make them (when they were made)
    cpu_seconds: float  # process CPU time: what a loaded machine does not inflate
    targets: int  # number of point targets they were made from
    key: str
    from_cache: bool

    @property
    def seconds_per_target(self) -> float:
        return self.seconds / self.targets if self.targets else float("nan")

    @property
    def cpu_seconds_per_target(self) -> float:
        return self.cpu_seconds / self.targets if self.targets else float("nan")


def labels_key(method: Any, dataset: str, fingerprint: str, label_type: str, seed: int) -> str:
    identity = {
        "method": method.name,
        "options": method.options,
        "version": method.labels_version,
        "dataset": dataset,
        "fingerprint": fingerprint,
        "labels": label_type,
        "seed": seed,
    }
    return hashlib.md5(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:16]


def labels_rng(method: Any, dataset: str, label_type: str, seed: int) -> np.random.Generator:
    return np.random.default_rng(seed_hash("labels", method.spec, dataset, label_type, seed))


def visible_samples(method: Any, samples: Sequence[Sample]) -> list[Sample]:
    """What the method may see: masks only if it is privileged."""
    return list(samples) if method.privileged else [dataclasses.replace(s, mask=None) for s in samples]


def make_initial_labels(
    method: Any, samples: Sequence[Sample], dataset: str, label_type: str, seed: int, progress: bool = False
) -> tuple[list[np.ndarray], float, float]:
    """Labels, wall seconds and CPU seconds (this process) to make them."""
    rng = labels_rng(method, dataset, label_type, seed)
    start, cpu_start = time.perf_counter(), time.process_time()
    labels = method.initial_labels(visible_samples(method, samples), label_type, rng, progress=progress)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    return [np.asarray(l, dtype=np.float32) for l in labels], seconds, cpu_seconds


def cached_initial_labels(
    method: Any,
    samples: Sequence[Sample],
    dataset: str,
    fingerprint: str,
    label_type: str,
    seed: int,
    cache_dir: Path | None = None,
    force: bool = False,
    progress: bool = False,
) -> LabelSet:
    key = labels_key(method, dataset, fingerprint, label_type, seed)
    folder = Path(cache_dir or default_cache_dir()) / "labels" / method.name / dataset
    data_path, meta_path = folder / f"{key}.npz", folder / f"{key}.json"
    targets = sum(len(s.points(label_type)) for s in samples) if label_type != "full" else 0
    if not force and data_path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        with np.load(data_path) as z:
            labels = [z[f"l{i}"].astype(np.float32) / 255.0 for i in range(len(samples))]
        return LabelSet(labels, meta["seconds"], meta.get("cpu_seconds", float("nan")), meta["targets"], key, True)
    labels, seconds, cpu_seconds = make_initial_labels(method, samples, dataset, label_type, seed, progress)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npz")
    os.close(fd)
    np.savez_compressed(tmp, **{f"l{i}": np.round(l * 255).astype(np.uint8) for i, l in enumerate(labels)})
    os.replace(tmp, data_path)
    meta = {"method": method.spec, "dataset": dataset, "labels": label_type, "seed": seed, "seconds": seconds,
            "cpu_seconds": cpu_seconds, "targets": targets}
    meta_path.write_text(json.dumps(meta, indent=1))
    # what the cache gives back (uint8-quantized), so a cached and a fresh run train on the same labels
    labels = [np.round(l * 255).astype(np.uint8).astype(np.float32) / 255.0 for l in labels]
    return LabelSet(labels, seconds, cpu_seconds, targets, key, False)


def label_quality(labels: Sequence[np.ndarray], samples: Sequence[Sample]) -> dict[str, float]:
    """Dataset-level IoU (%) of labels (> 0.5) against masks (> 127), plus per-image mean."""
    inter = union = 0
    per_image = []
    for label, sample in zip(labels, samples, strict=True):
        a, b = label > 0.5, sample.mask > 127  # type: ignore[operator]
        i, u = int(np.count_nonzero(a & b)), int(np.count_nonzero(a | b))
        inter, union = inter + i, union + u
        per_image.append(i / u if u else 0.0)
    return {"iou": 100.0 * inter / union if union else 0.0, "niou": 100.0 * float(np.mean(per_image))}
