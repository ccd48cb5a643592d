"""``pointbench bench report``: the whole report over synthetic records (made here, not
trained) on one core, timed by stage.

The records follow the engine's schema with everything a report reads: metrics at the
last and best epoch per subset, per-image counts at both (the metrics are their sums, as
in real records), a 20-epoch history with label IoU for the label-evolving schemes, the
last-epoch threshold sweep, and for one detector the qualitative PNGs. Test sets have
the real sizes (SIRST3 1079 = 214 + 664 + 201 images), so the bootstrap does real work.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from benchmark.cells import config_key
from benchmark.evidence import SWEEP_THRESHOLDS, save_prediction_pngs
from benchmark.metrics import Counts

TEST_IMAGES = {"SIRST": 214, "NUDT-SIRST": 664, "IRSTD-1K": 201}
SCHEMES = {"full": 0.80, "point": 0.10, "lesps": 0.55, "pal": 0.66, "mclc": 0.64, "com": 0.45, "diffusion": 0.70,
           "gsacp": 0.67, "learnable_distance": 0.65}
PRIVILEGED = {"full", "mclc"}
EVOLVING = {"lesps", "pal", "gsacp", "learnable_distance", "diffusion"}  # schemes whose labels change in training
ABLATION = ["point", "diffusion", "diffusion[prior=diffusion]", "diffusion[prior=superpixel]", "diffusion[bilevel=off]",
            "diffusion[balance=off]", "diffusion[online_labels=off]", "diffusion[aggregation=off]", "gsacp",
            "gsacp[teacher=none]", "gsacp[contrastive=off]", "gsacp[support=fixed]", "gsacp[gate=off]"]
DETECTORS = ["MLCLNet", "ALCLNet", "DNANet", "ISNet", "UIUNet", "GGLNet", "MSDANet"]
SEEDS = range(5)
EPOCHS = 20


def grid() -> Iterator[tuple[str, str, str, str, str, int]]:
    """(suite, detector, scheme, dataset, labels, seed): Table 1, the ablation, the label
    suite, then Table 2 (1,080 in all; the first 1,000 leave Table 2 with missing cells)."""
    for d in DETECTORS:
        for s in SCHEMES:
            for seed in SEEDS:
                yield "table1", d, s, "SIRST3", "full" if s == "full" else "centroid", seed
    for s in ABLATION:
        for seed in SEEDS:
            yield "ablation", "DNANet", s, "SIRST3", "centroid", seed
    for s in ["point", "mclc", "com", "diffusion"]:
        for dataset in ["SIRST3", *TEST_IMAGES]:
            for labels in ("centroid", "coarse"):
                for seed in SEEDS:
                    yield "pseudolabels", "", s, dataset, labels, seed
    for d in ["ALCLNet", "DNANet", "UIUNet", "MSDANet"]:
        for s in SCHEMES:
            for dataset in TEST_IMAGES:
                for seed in SEEDS:
                    yield "table2", d, s, dataset, "full" if s == "full" else "centroid", seed


def _quality(detector: str, spec: str, seed: int) -> float:
    base = SCHEMES.get(spec.split("[")[0], 0.5) - (0.03 if "[" in spec else 0.0)
    jitter = np.random.default_rng(int(config_key([detector, spec, seed])[:8], 16)).normal(0, 0.02)
    return float(np.clip(base + 0.01 * DETECTORS.index(detector) + jitter, 0.02, 0.95))


def _image_columns(rng: np.random.Generator, n: int, quality: float) -> dict[str, np.ndarray]:
    union = rng.integers(8, 80, n)
    intersection = np.rint(union * np.clip(rng.normal(quality, 0.12, n), 0, 1)).astype(int)
    targets = rng.integers(1, 3, n)
    hits = np.minimum(targets, rng.binomial(targets, min(0.99, 0.4 + quality * 0.6)))
    fa = rng.poisson(max(0.5, 30 * (1 - quality)), n)
    return {"intersection": intersection, "union": union, "targets": targets, "hits": hits,
            "false_alarm_pixels": fa, "pixels": np.full(n, 256 * 256)}


def _summed(columns: dict[str, np.ndarray], keep: np.ndarray) -> dict[str, float]:
    """The metrics of the kept images, by the harness's own ``Counts`` (sums, not a copy of its formulas)."""
    sums = {k: int(v[keep].sum()) for k, v in columns.items()}
    niou = sum((columns["intersection"][keep] / (columns["union"][keep] + np.spacing(1))).tolist())  # Counts' order
    return Counts(sums["intersection"], sums["union"], niou, int(keep.sum()), sums["targets"], sums["hits"],
                  sums["false_alarm_pixels"], sums["pixels"]).metrics()


def _evaluation(rng: np.random.Generator, dataset: str, quality: float, epoch: int, selection: str) -> dict:
    parts = list(TEST_IMAGES) if dataset == "SIRST3" else [dataset]
    subsets = np.array([p for p in parts for _ in range(TEST_IMAGES[p])])
    columns = _image_columns(rng, len(subsets), quality)
    by_subset = {"all": _summed(columns, np.ones(len(subsets), bool))}
    if len(parts) > 1:
        by_subset.update({p: _summed(columns, subsets == p) for p in parts})
    per_image = {k: v.tolist() for k, v in columns.items()}
    if len(parts) > 1:
        per_image["subset"] = subsets.tolist()
    return {"epoch": epoch, "selection": selection, "subsets": by_subset, "per_image": per_image}


LOSS_PARTS = {"diffusion": ("segmentation", "rebalance"), "gsacp": ("target", "contrastive")}


def _history(rng: np.random.Generator, quality: float, evolving: bool, method: str) -> list[dict]:
    out = []
    for epoch in range(1, EPOCHS + 1):
        entry: dict[str, Any] = {"epoch": epoch, "loss": float(1.0 / epoch + rng.uniform(0, 0.05)), "lr": 5e-4,
                                 "seconds": 1.0, "train_images": 1676}
        if method in LOSS_PARTS:  # only schemes whose loss has named parts log them
            first, second = LOSS_PARTS[method]
            entry["loss_parts"] = {first: float(0.8 / epoch + rng.uniform(0, 0.02)), second: float(0.2 / epoch)}
        if epoch % 5 == 0:
            iou = 100 * quality * (1 - np.exp(-epoch / 6))
            entry["test"] = {"iou": iou, "niou": iou * 1.02, "pd": 60 + 35 * quality, "fa": 30 * (1 - quality)}
        if evolving and epoch % 4 == 0:
            entry["label_iou"] = 100 * quality * min(1.0, 0.3 + epoch / EPOCHS)
        out.append(entry)
    return out


def _sweep(quality: float) -> dict[str, list[float]]:
    t = np.asarray(SWEEP_THRESHOLDS)
    return {"threshold": t.tolist(), "iou": (100 * quality * (1 - (t - 0.5) ** 2)).tolist(),
            "niou": (100 * quality * (1 - (t - 0.5) ** 2)).tolist(), "pd": (100 * (1 - (1 - quality) * t)).tolist(),
            "fa": (60 * (1 - quality) * (1 - t) ** 2).tolist()}


def training_record(suite: str, detector: str, spec: str, dataset: str, labels: str, seed: int) -> dict:
    from benchmark.cells import parse_spec

    method, options = parse_spec(spec)
    cell = {"detector": detector, "method": method, "method_options": options, "dataset": dataset, "labels": labels,
            "seed": seed, "profile": "paper", "profile_overrides": {}}
    config = {"protocol_version": 2, "cell": cell, "profile": {"name": "paper", "epochs": EPOCHS}}
    key = config_key(config)
    rng = np.random.default_rng(int(key[:8], 16))
    quality = _quality(detector, spec, seed)
    evolving = method in EVOLVING
    return {
        "schema_version": 1, "key": key, "name": f"{detector}/{spec}/{dataset}/{labels}/s{seed}", "suite": suite,
        "status": "done", "cell": cell, "config": config,
        "method": {"name": method, "options": options, "privileged": method in PRIVILEGED and not options, "spec": spec},
        "metrics": {"last": _evaluation(rng, dataset, quality, EPOCHS, "last epoch"),
                    "best": _evaluation(rng, dataset, quality + 0.01, 15, "best test IoU")},
        "label_quality": [{"epoch": 0, "iou": 30.0}] + ([{"epoch": 8, "iou": 50.0}] if evolving else []),
        "history": _history(rng, quality, evolving, method), "sweep": _sweep(quality),
        "data": {"test_fingerprint": f"bench-{dataset}",
                 "test_images": sum(TEST_IMAGES.values()) if dataset == "SIRST3" else TEST_IMAGES[dataset]},
        "provenance": {"finished_at": "2026-01-01T00:00:00+00:00"},
    }


def label_record(suite: str, spec: str, dataset: str, labels: str, seed: int) -> dict:
    job = {"kind": "labels", "method": spec, "options": {}, "labels_version": 1, "dataset": dataset, "labels": labels,
           "seed": seed, "split": "train"}
    quality = _quality("DNANet", spec, seed)
    return {"schema_version": 1, "kind": "labels", "key": config_key(job), "name": f"{spec}/{dataset}/{labels}/s{seed}",
            "suite": suite, "status": "done", "job": job,
            "method": {"name": spec, "spec": spec, "privileged": spec == "mclc", "options": {}},
            "quality": {"iou": 100 * quality, "niou": 100 * quality}, "seconds_per_target": 0.01 + 0.04 * quality,
            "targets": 1000, "images": 800, "provenance": {"finished_at": "2026-01-01T00:00:00+00:00"}}


def synthetic_records(n: int = 1000) -> list[dict]:
    out = []
    for suite, detector, spec, dataset, labels, seed in grid():
        if len(out) >= n:
            break
        out.append(label_record(suite, spec, dataset, labels, seed) if suite == "pseudolabels"
                   else training_record(suite, detector, spec, dataset, labels, seed))
    return out


def write_pngs(records: list[dict], root: Path, detector: str = "DNANet", suite: str = "table1") -> None:
    """Qualitative PNGs for one detector's records of one suite (as the engine would save)."""
    scene = np.random.default_rng(0)
    images = [np.clip(scene.normal(100, 20, (96, 96)), 0, 255).astype(np.uint8) for _ in range(3)]
    masks = [np.zeros((96, 96), np.uint8) for _ in range(3)]
    for i, m in enumerate(masks):
        m[40 + i:46 + i, 50:55] = 255
    points = [np.array([[42 + i, 52]]) for i in range(3)]
    for r in records:
        if r.get("suite") == suite and r.get("cell", {}).get("detector") == detector and r["cell"]["seed"] == 0:
            q = _quality(detector, r["method"]["spec"], 0)
            maps = [np.clip(m / 255.0 * q + scene.uniform(0, 0.2, m.shape), 0, 1) for m in masks]
            folder = root / suite / f"{r['key']}.pngs"
            names = [f"img{i}" for i in range(3)]
            save_prediction_pngs(folder, "test", names, images, maps, masks, points, EPOCHS)
            save_prediction_pngs(folder, "train", names, images, maps, masks, points, EPOCHS)


def pin_one_core() -> str:
    """Pin this process to the CPU it runs on (no torch import)."""
    if not hasattr(os, "sched_setaffinity"):
        return "not pinned"
    from benchmark.bench.common import _current_cpu

    cpu = _current_cpu(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return f"pinned to CPU {cpu}"


def bench_report(n: int = 1000, pdf: bool = False, out: Path | None = None) -> dict[str, Any]:
    """Seconds (wall and CPU) per stage of ``write_report`` over ``n`` synthetic records."""
    from reports.build import write_report

    pinned = pin_one_core()
    start_cpu, start = time.process_time(), time.perf_counter()
    records = synthetic_records(n)
    made = time.perf_counter() - start
    with tempfile.TemporaryDirectory(prefix="pointbench-bench-report-") as tmp:
        root = Path(tmp) / "results"
        write_pngs(records, root)
        t0, c0 = time.perf_counter(), time.process_time()
        report = write_report(records, out or Path(tmp) / "report", results_root=root, pdf=pdf)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"records": len(records), "cpu": pinned, "make_records_seconds": made, "report_seconds": seconds,
            "report_cpu_seconds": cpu, "stages_seconds": report.seconds, "stages_cpu_seconds": report.cpu_seconds, "tables": len(report.tables), "figures": len(report.figures),
            "files": len(report.files) + 2 * len(report.figures), "pdf": report.pdf_message or "skipped (--pdf to include)",
            "total_cpu_seconds": time.process_time() - start_cpu}
