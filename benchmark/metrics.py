"""IoU, nIoU, Pd and Fa exactly as the field computes them (field-notes.md 1.1-1.4).

- prediction: probability > threshold (0.5); ground truth: uint8 > 127 (bool used as is,
  float > 0.5), both at the original image size;
- IoU: dataset-level sum(I) / sum(U); nIoU: mean over images of I/U, an image whose
  prediction and ground truth are both empty scoring 0, as in PAL and D2D;
- Pd: 8-connected components; for each ground-truth component in label order, the first
  remaining predicted component in label order whose centroid is strictly closer than
  3 px is a hit and leaves the pool (greedy first fit, not nearest);
- Fa: pixels of unmatched predicted components over all evaluated pixels, reported
  x1e6. ``legacy_fa=True`` reproduces the pre-2024 area-list bug (an unmatched component
  whose area equals any matched area is dropped) for comparison with the LESPS paper.

Reported values are in the papers' units: IoU, nIoU and Pd in percent, Fa in 1e-6.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterable, Sequence

import numpy as np
from scipy import ndimage

EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)
MATCH_DISTANCE = 3.0
_EPS = np.spacing(1)


@dataclass(frozen=True)
class MetricSpec:
    """How a metric is shown and ranked."""

    name: str
    label: str
    unit: str
    higher_is_better: bool


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("iou", "IoU", "%", True),
    MetricSpec("niou", "nIoU", "%", True),
    MetricSpec("pd", "Pd", "%", True),
    MetricSpec("fa", "Fa", "1e-6", False),
)
METRIC_NAMES = tuple(m.name for m in METRICS)


@dataclass
class Counts:
    """Sums that metrics are ratios of; counts of several images or subsets add up."""

    intersection: int = 0
    union: int = 0
    niou_sum: float = 0.0
    images: int = 0
    targets: int = 0
    hits: int = 0
    false_alarm_pixels: int = 0
    pixels: int = 0

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))

    def metrics(self) -> dict[str, float]:
        """The four numbers in table units, plus the counts behind them."""
        return {
            "iou": 100.0 * self.intersection / (self.union + _EPS),
            "niou": 100.0 * self.niou_sum / self.images if self.images else float("nan"),
            "pd": 100.0 * self.hits / self.targets if self.targets else float("nan"),
            "fa": 1e6 * self.false_alarm_pixels / self.pixels if self.pixels else float("nan"),
            "images": self.images,
            "targets": self.targets,
            "hits": self.hits,
        }


def binarize_mask(mask: np.ndarray) -> np.ndarray:
    """Ground truth as bool: uint8/int > 127, float > 0.5, bool unchanged."""
    mask = np.asarray(mask)
    if mask.dtype == bool:
        return mask
    if np.issubdtype(mask.dtype, np.floating):
        return mask > 0.5
    return mask > 127


def binarize_prediction(prob: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    prob = np.asarray(prob)
    return prob if prob.dtype == bool else prob > threshold


def _content_axis(occupied: np.ndarray) -> np.ndarray:
    """Indices along one axis worth keeping: every occupied line plus the line after it.

    Dropping the other empty lines keeps 8-connectivity (one empty line still separates
    two components), raster label order (the index map is monotonic) and, through the
    index map, the original coordinates; labelling the small image is then cheap.
    """
    lines = np.flatnonzero(occupied)
    if len(lines) == 0:
        return lines
    return np.union1d(lines, np.minimum(lines + 1, len(occupied) - 1))


def components(
    binary: np.ndarray, rows: np.ndarray | None = None, cols: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """8-connected components in raster label order: centroids (n, 2) as row/col, and areas.

    ``rows``/``cols`` map the (compressed) array's indices back to original coordinates.
    """
    labels, n = ndimage.label(binary, structure=EIGHT_CONNECTED)
    if n == 0:
        return np.zeros((0, 2)), np.zeros(0, dtype=np.int64)
    r, c = np.nonzero(labels)
    ids = labels[r, c]
    if rows is not None and cols is not None:
        r, c = rows[r], cols[c]
    areas = np.bincount(ids, minlength=n + 1)[1:]
    sums = np.stack([np.bincount(ids, weights=r, minlength=n + 1), np.bincount(ids, weights=c, minlength=n + 1)], 1)
    return sums[1:] / areas[:, None], areas


def greedy_match(gt_centroids: np.ndarray, pred_centroids: np.ndarray) -> list[int]:
    """For each GT component in order, the first free prediction closer than 3 px (-1 if none)."""
    if len(gt_centroids) == 0 or len(pred_centroids) == 0:
        return [-1] * len(gt_centroids)
    diff = gt_centroids[:, None, :] - pred_centroids[None, :, :]
    close = np.sqrt((diff**2).sum(-1)) < MATCH_DISTANCE
    free = np.ones(len(pred_centroids), dtype=bool)
    matches = []
    for row in close:
        candidates = np.flatnonzero(row & free)
        if len(candidates):
            free[candidates[0]] = False
            matches.append(int(candidates[0]))
        else:
            matches.append(-1)
    return matches


def image_counts(pred: np.ndarray, gt: np.ndarray, legacy_fa: bool = False) -> Counts:
    """Counts of one image from a binary prediction and a binary ground truth."""
    if pred.shape != gt.shape:
        raise ValueError(f"prediction {pred.shape} and mask {gt.shape} differ in size; crop padding first")
    either = pred | gt
    rows = _content_axis(either.any(axis=1))
    cols = _content_axis(either.any(axis=0))
    window = np.ix_(rows, cols)
    pred_c, gt_c = pred[window], gt[window]
    inter = int(np.count_nonzero(pred_c & gt_c))
    union = int(np.count_nonzero(either[window]))
    gt_centroids, _ = components(gt_c, rows, cols)
    pred_centroids, pred_areas = components(pred_c, rows, cols)
    matches = greedy_match(gt_centroids, pred_centroids)
    matched = [m for m in matches if m >= 0]
    if legacy_fa:
        matched_areas = set(pred_areas[matched].tolist())
        false_alarm = int(sum(a for a in pred_areas.tolist() if a not in matched_areas))
    else:
        false_alarm = int(pred_areas.sum() - pred_areas[matched].sum())
    return Counts(
        intersection=inter,
        union=union,
        niou_sum=inter / (union + _EPS),
        images=1,
        targets=len(gt_centroids),
        hits=len(matched),
        false_alarm_pixels=false_alarm,
        pixels=int(pred.size),
    )


def accumulate(
    probs: Iterable[np.ndarray], masks: Iterable[np.ndarray], threshold: float = 0.5, legacy_fa: bool = False
) -> list[Counts]:
    """Per-image counts for paired probability maps and masks."""
    return [
        image_counts(binarize_prediction(p, threshold), binarize_mask(m), legacy_fa=legacy_fa)
        for p, m in zip(probs, masks, strict=True)
    ]


def evaluate(
    probs: Sequence[np.ndarray], masks: Sequence[np.ndarray], threshold: float = 0.5, legacy_fa: bool = False
) -> dict[str, float]:
    """IoU, nIoU, Pd (%) and Fa (x1e-6) over lists of probability maps and masks of any sizes."""
    return sum(accumulate(probs, masks, threshold, legacy_fa), Counts()).metrics()


def evaluate_by_subset(
    probs: Sequence[np.ndarray],
    masks: Sequence[np.ndarray],
    subsets: Sequence[str],
    threshold: float = 0.5,
    legacy_fa: bool = False,
) -> dict[str, dict[str, float]]:
    """Metrics pooled over all images (key ``"all"``) and per subset (SIRST3's parts)."""
    return metrics_by_subset(accumulate(probs, masks, threshold, legacy_fa), subsets)


def metrics_by_subset(per_image: Sequence[Counts], subsets: Sequence[str]) -> dict[str, dict[str, float]]:
    """``evaluate_by_subset`` from per-image counts already made (no second pass over the maps)."""
    result = {"all": sum(per_image, Counts()).metrics()}
    for subset in sorted(set(subsets)):
        result[subset] = sum((c for c, s in zip(per_image, subsets, strict=True) if s == subset), Counts()).metrics()
    return result


# per-image counts, kept in records so reports can bootstrap over test images ----------
PER_IMAGE_FIELDS = ("intersection", "union", "targets", "hits", "false_alarm_pixels", "pixels")


def breakdown(per_image: Sequence[Counts], subsets: Sequence[str] | None = None) -> dict[str, list]:
    """Per-image counts as columns of integers (compact JSON): every metric of any subset
    of the images is a ratio of their sums (nIoU: the mean of intersection/union)."""
    out: dict[str, list] = {name: [int(getattr(c, name)) for c in per_image] for name in PER_IMAGE_FIELDS}
    if subsets is not None:
        out["subset"] = [str(s) for s in subsets]
    return out


def per_image_breakdown(
    probs: Sequence[np.ndarray], masks: Sequence[np.ndarray], subsets: Sequence[str] | None = None,
    threshold: float = 0.5, legacy_fa: bool = False,
) -> dict[str, list]:
    """``breakdown`` of paired probability maps and masks, at the table's threshold."""
    return breakdown(accumulate(probs, masks, threshold, legacy_fa), subsets)


def counts_from_breakdown(columns: dict[str, list]) -> list[Counts]:
    """The inverse of ``breakdown``: summing these reproduces the record's metrics exactly."""
    rows = zip(*(columns[name] for name in PER_IMAGE_FIELDS), strict=True)
    return [Counts(i, u, i / (u + _EPS), 1, t, h, f, p) for i, u, t, h, f, p in rows]


def pd_fa_curve(
    probs: Sequence[np.ndarray], masks: Sequence[np.ndarray], thresholds: Sequence[float] = tuple(np.linspace(0.05, 0.95, 19))
) -> list[dict[str, float]]:
    """Metrics at each probability threshold, for Pd-Fa (ROC-like) curves."""
    gts = [binarize_mask(m) for m in masks]
    curve = []
    for t in thresholds:
        counts = sum((image_counts(np.asarray(p) > t, g) for p, g in zip(probs, gts, strict=True)), Counts())
        curve.append({"threshold": float(t), **counts.metrics()})
    return curve
