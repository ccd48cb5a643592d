"""``pointbench bench metrics``: evaluate the whole SIRST3 test set on one core.

Predictions are made from the ground truth with perturbations (grown and shrunk
targets, missed targets, false-alarm blobs), so every code path is exercised. The same
work is timed with the field's reference loop (per-image regionprops and nested
matching loops, as BasicIRSTD's ``metrics.py`` does it) for comparison.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from benchmark.bench.common import best_of, one_core
from benchmark.data.loader import load_split
from benchmark.metrics import evaluate


def perturbed_predictions(masks: list[np.ndarray], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    probs = []
    for mask in masks:
        gt = mask > 127
        labels, n = ndimage.label(gt, structure=np.ones((3, 3)))
        pred = np.zeros_like(gt)
        for k in range(1, n + 1):
            if rng.random() < 0.1:
                continue  # a missed target
            target = labels == k
            change = rng.integers(-1, 2)
            if change > 0:
                target = ndimage.binary_dilation(target)
            elif change < 0 and target.sum() > 4:
                target = ndimage.binary_erosion(target)
            pred |= target
        h, w = gt.shape
        for _ in range(rng.integers(0, 4)):  # false alarms of various sizes
            r, c, s = rng.integers(0, h - 4), rng.integers(0, w - 4), rng.integers(1, 4)
            pred[r : r + s, c : c + s] = True
        prob = np.where(pred, rng.uniform(0.55, 1.0, gt.shape), rng.uniform(0.0, 0.45, gt.shape)).astype(np.float32)
        probs.append(prob)
    return probs


def field_reference_evaluate(probs: list[np.ndarray], masks: list[np.ndarray]) -> dict[str, float]:
    """The field's loop, for timing: same numbers, the straightforward way."""
    from skimage import measure

    inter = union = targets = hits = fa = pixels = 0
    for prob, mask in zip(probs, masks):
        pred, gt = prob > 0.5, mask > 127
        inter += int((pred & gt).sum())
        union += int((pred | gt).sum())
        image_regions = list(measure.regionprops(measure.label(pred, connectivity=2)))
        label_regions = measure.regionprops(measure.label(gt, connectivity=2))
        areas = [r.area for r in image_regions]
        matched = []
        for lr in label_regions:
            for m, ir in enumerate(image_regions):
                if np.linalg.norm(np.array(lr.centroid) - np.array(ir.centroid)) < 3:
                    matched.append(ir.area)
                    del image_regions[m]
                    break
        targets += len(label_regions)
        hits += len(matched)
        fa += sum(areas) - sum(matched)
        pixels += pred.size
    return {"iou": 100 * inter / union, "pd": 100 * hits / targets, "fa": 1e6 * fa / pixels}


def bench_metrics(data_root: Path | None, cache_dir: Path | None, repeats: int = 3) -> dict[str, Any]:
    split = load_split("SIRST3", "test", data_root, cache_dir)
    masks = [s.mask for s in split.samples]
    probs = perturbed_predictions(masks)
    with one_core() as pinned:
        ours = evaluate(probs, masks)
        seconds = best_of(lambda: evaluate(probs, masks), repeats)
        reference = field_reference_evaluate(probs, masks)
        reference_seconds = best_of(lambda: field_reference_evaluate(probs, masks), 1)
    agree = all(abs(ours[k] - reference[k]) < 1e-9 for k in ("iou", "pd", "fa"))
    return {
        "images": len(masks),
        "pixels": int(sum(m.size for m in masks)),
        "targets": ours["targets"],
        "seconds": seconds,
        "images_per_second": len(masks) / seconds,
        "field_loop_seconds": reference_seconds,
        "speedup": reference_seconds / seconds,
        "same_numbers_as_field_loop": agree,
        "metrics": {k: ours[k] for k in ("iou", "niou", "pd", "fa")},
        "cpu": pinned,
    }
