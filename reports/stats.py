"""Confidence intervals and paired comparisons beyond the field's single runs.

The four metrics are ratios of sums over test images (nIoU: a mean of per-image
ratios), and the seeds of a variant all see the same test images. So a resample draws
seeds with replacement and, independently, one set of test images with replacement that
every drawn seed is scored on (a crossed bootstrap), and the statistic is the mean over
the drawn seeds of each seed's metric on the drawn images. Where records keep no
per-image counts, only seeds are resampled.

``scipy.stats.bootstrap`` does the resampling (percentile intervals: BCa's jackknife is
undefined for one seed and unstable for two or three): it is given the *indices* of
seeds and of images as two independent samples, and the statistic turns resampled
indices into resample weights. Every resample is seeded from the variant key, so a
report is the same number for number every time it is made.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats

from benchmark.metrics import METRICS, PER_IMAGE_FIELDS

N_RESAMPLES = 2000
CONFIDENCE = 0.95
_F = {name: i for i, name in enumerate(PER_IMAGE_FIELDS)}
_RATIO = {"iou": ("intersection", "union", 100.0), "pd": ("hits", "targets", 100.0),
          "fa": ("false_alarm_pixels", "pixels", 1e6)}
_EPS = np.spacing(1)
HIGHER_IS_BETTER = {m.name: m.higher_is_better for m in METRICS}


def rng_for(*parts: object) -> np.random.Generator:
    digest = hashlib.md5("|".join(map(str, parts)).encode()).hexdigest()
    return np.random.default_rng(int(digest[:12], 16))


def _weights(indices: np.ndarray, n: int, dtype=np.float64) -> np.ndarray:
    """(B, n) how often each item was drawn, from (B, n) resampled indices."""
    indices = np.asarray(indices, dtype=np.int64).reshape(-1, n)
    b = indices.shape[0]
    flat = (np.arange(b)[:, None] * n + indices).ravel()
    return np.bincount(flat, minlength=b * n).reshape(b, n).astype(dtype)


def _columns(counts: np.ndarray) -> np.ndarray:
    """(N, S * (F + 1)) float64: every count column of every seed plus the per-image
    intersection/union ratio (nIoU's summand), so one matrix product weighs them all."""
    ratio = counts[..., _F["intersection"]] / (counts[..., _F["union"]] + _EPS)
    stacked = np.concatenate([counts.astype(np.float64), ratio[..., None]], axis=-1)  # (S, N, F + 1)
    return stacked.transpose(1, 0, 2).reshape(counts.shape[1], -1)


def _metric(sums: np.ndarray, total_weight: np.ndarray, metric: str) -> np.ndarray:
    """A metric from weighted sums (..., F + 1); the last field is the summed ratio."""
    if metric == "niou":
        return 100.0 * sums[..., -1] / total_weight
    num, den, scale = _RATIO[metric]
    top, bottom = sums[..., _F[num]], sums[..., _F[den]]
    if metric == "iou":
        return scale * top / (bottom + _EPS)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(bottom > 0, scale * top / np.where(bottom > 0, bottom, 1), np.nan)


def seed_metrics(counts: np.ndarray, image_weights: np.ndarray, metric: str) -> np.ndarray:
    """(B, S) each seed's metric on each weighted image resample; counts is (S, N, F).

    float64 throughout: at unit weights it is the records' metric exactly.
    """
    sums = (image_weights @ _columns(counts)).reshape(len(image_weights), counts.shape[0], -1)
    return _metric(sums, image_weights.sum(1, keepdims=True), metric)


def _crossed_statistic(groups: np.ndarray, metrics: Sequence[str], dtype=np.float32):
    """statistic(seed indices, image indices) -> (G * len(metrics), B): for each of G
    variants (``groups``: (G, S, N, F)) and metric, the mean over the drawn seeds of each
    seed's metric on the drawn images. One resample serves every variant of a table, and
    one matrix product serves every metric.

    Intervals resample in float32 (the product, most of a report's bootstrap time, is
    about twice as fast as in float64; integer sums below 2^24 stay exact): on the bench's
    Table 1 every endpoint is within 3e-5 of the half-width of float64's, against the
    intervals' own Monte-Carlo error of ~3% of it at 2,000 resamples. Paired differences
    stay float64 (rounding would turn near-ties into ties, counted half), and so does
    ``seed_metrics``, which gives the point values."""
    g, s, n = groups.shape[:3]
    columns = _columns(groups.reshape(g * s, n, groups.shape[3])).astype(dtype)

    def statistic(seed_idx: np.ndarray, image_idx: np.ndarray | None = None, axis: int = -1) -> np.ndarray:
        if image_idx is None:  # one seed: only images are drawn
            seed_idx, image_idx = np.zeros(np.shape(seed_idx)[:-1] + (1,), dtype=np.int64), seed_idx
        batch_shape = np.shape(image_idx)[:-1]
        v = _weights(seed_idx, s, dtype)[:, None, :]  # (B, 1, S)
        w = _weights(image_idx, n, dtype)
        sums = (w @ columns).reshape(len(w), g, s, -1)
        total = w.sum(1)[:, None, None]
        out = [((v * _metric(sums, total, m)).sum(2) / s).T for m in metrics]  # each (G, B)
        return np.stack(out, axis=1).reshape((g * len(metrics),) + batch_shape)

    return statistic


@dataclass(frozen=True)
class Interval:
    low: float
    high: float
    method: str  # "seeds x images" | "images" | "seeds" | "none"

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


NONE = Interval(float("nan"), float("nan"), "none")


def _run(data: tuple, statistic, rng: np.random.Generator, n_resamples: int):
    return stats.bootstrap(data, statistic, paired=False, vectorized=True, method="percentile",
                           n_resamples=n_resamples, confidence_level=CONFIDENCE, rng=rng)


def crossed_intervals(
    groups: Sequence[np.ndarray], metrics: Sequence[str], rng: np.random.Generator | None = None,
    n_resamples: int = N_RESAMPLES,
) -> list[dict[str, Interval]]:
    """95% interval of each metric's seed mean for each variant's (S, N, F) counts.

    Variants of the same shape share one ``scipy.stats.bootstrap`` call (and so the same
    resamples: common random numbers, and a 1,000-record report stays fast).
    """
    rng = rng or np.random.default_rng(0)
    metrics = list(metrics)
    out: list[dict[str, Interval]] = [dict.fromkeys(metrics, NONE) for _ in groups]
    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, counts in enumerate(groups):
        by_shape.setdefault(counts.shape[:2], []).append(i)
    for (s, n), members in sorted(by_shape.items()):
        if n < 2:
            continue
        stacked = np.stack([groups[i] for i in members])
        data = (np.arange(s), np.arange(n)) if s >= 2 else (np.arange(n),)
        ci = _run(data, _crossed_statistic(stacked, metrics), rng, n_resamples).confidence_interval
        how = "seeds x images" if s >= 2 else "images"
        low, high = np.reshape(ci.low, (len(members), len(metrics))), np.reshape(ci.high, (len(members), len(metrics)))
        for row, i in enumerate(members):
            out[i] = {m: Interval(float(low[row, j]), float(high[row, j]), how) for j, m in enumerate(metrics)}
    return out


def seed_intervals(
    values: Sequence[Sequence[float]], rng: np.random.Generator | None = None, n_resamples: int = N_RESAMPLES,
) -> list[Interval]:
    """95% interval of the mean of each group of per-seed values (2+ finite values, else none)."""
    rng = rng or np.random.default_rng(0)
    out = [NONE] * len(values)
    by_size: dict[int, list[int]] = {}
    for i, v in enumerate(values):
        v = np.asarray(v, dtype=float)
        if len(v) >= 2 and np.isfinite(v).all():
            by_size.setdefault(len(v), []).append(i)
    for s, members in sorted(by_size.items()):
        matrix = np.asarray([values[i] for i in members], dtype=float)  # (G, S)

        def statistic(seed_idx: np.ndarray, axis: int = -1, matrix=matrix, s=s) -> np.ndarray:
            return matrix @ _weights(seed_idx, s).T / s

        ci = _run((np.arange(s),), statistic, rng, n_resamples).confidence_interval
        for row, i in enumerate(members):
            out[i] = Interval(float(np.atleast_1d(ci.low)[row]), float(np.atleast_1d(ci.high)[row]), "seeds")
    return out


def bootstrap_intervals(
    metrics: Sequence[str], counts: np.ndarray | None = None, seed_values: dict[str, Sequence[float]] | None = None,
    rng: np.random.Generator | None = None, n_resamples: int = N_RESAMPLES,
) -> dict[str, Interval]:
    """One variant's intervals: crossed from ``counts`` (S, N, F) when given, else over
    ``seed_values`` (metric -> per-seed values)."""
    if counts is not None:
        return crossed_intervals([counts], metrics, rng, n_resamples)[0]
    found = seed_intervals([list((seed_values or {}).get(m, [])) for m in metrics], rng, n_resamples)
    return dict(zip(metrics, found))


@dataclass(frozen=True)
class Paired:
    """A versus B on the same seeds (and images): P(A better), the difference and its interval."""

    metric: str
    probability: float  # P(A better than B) over resamples, ties counted half; direction-aware
    difference: float  # mean(A) - mean(B) in the metric's units
    low: float
    high: float
    seeds: int
    images: int | None  # None: seed-level only
    method: str


def _difference_statistic(a: np.ndarray, b: np.ndarray, metrics: Sequence[str]):
    """(M, B) mean(A) - mean(B) per metric on shared resamples of seeds and images."""
    both = _crossed_statistic(np.stack([a, b]), metrics, np.float64)
    m = len(metrics)

    def statistic(*indices: np.ndarray, axis: int = -1) -> np.ndarray:
        values = both(*indices)
        return values[:m] - values[m:]

    return statistic


def _seed_difference_statistic(diffs: np.ndarray):
    """(M, B) mean over resampled seeds of per-seed differences ``diffs`` (M, S)."""
    def statistic(seed_idx: np.ndarray, axis: int = -1) -> np.ndarray:
        return diffs @ _weights(seed_idx, diffs.shape[1]).T / diffs.shape[1]

    return statistic


def _seed_mean(counts: np.ndarray, metric: str) -> float:
    return float(np.mean(seed_metrics(counts, np.ones((1, counts.shape[1])), metric)))


def paired_comparisons(
    metrics: Sequence[str], a: np.ndarray | dict[str, np.ndarray], b: np.ndarray | dict[str, np.ndarray],
    rng: np.random.Generator | None = None, n_resamples: int = N_RESAMPLES,
) -> dict[str, Paired]:
    """A against B for every metric in one resampling. ``a``/``b``: (S, N, F) per-image
    counts of the same seeds (same order) and images, or metric -> (S,) per-seed values
    when the records kept no per-image counts."""
    rng = rng or np.random.default_rng(0)
    metrics = list(metrics)
    if isinstance(a, np.ndarray):
        s, n = a.shape[:2]
        images: int | None = n
        data = (np.arange(n),) if s < 2 else (np.arange(s), np.arange(n))
        how = "images" if s < 2 else "seeds x images"
        statistic = _difference_statistic(a, b, metrics)
        points = [_seed_mean(a, m) - _seed_mean(b, m) for m in metrics]
    else:
        diffs = np.asarray([np.asarray(a[m], float) - np.asarray(b[m], float) for m in metrics])
        s, images, how = diffs.shape[1], None, "seeds"
        points = [float(d.mean()) if s else float("nan") for d in diffs]
        if s < 2 or not np.isfinite(diffs).all():
            return {m: Paired(m, float("nan"), p, float("nan"), float("nan"), s, None, "none") for m, p in zip(metrics, points)}
        data, statistic = (np.arange(s),), _seed_difference_statistic(diffs)
    result = _run(data, statistic, rng, n_resamples)
    dist = np.asarray(result.bootstrap_distribution).reshape(len(metrics), -1)
    low, high = np.atleast_1d(result.confidence_interval.low), np.atleast_1d(result.confidence_interval.high)
    out = {}
    for k, m in enumerate(metrics):
        signed = dist[k] if HIGHER_IS_BETTER[m] else -dist[k]
        probability = float(np.mean(signed > 0) + 0.5 * np.mean(signed == 0))
        out[m] = Paired(m, probability, points[k], float(low[k]), float(high[k]), s, images, how)
    return out


def paired_comparison(metric: str, a: np.ndarray, b: np.ndarray, rng: np.random.Generator | None = None,
                      n_resamples: int = N_RESAMPLES) -> Paired:
    """One metric of ``paired_comparisons``; ``a``/``b`` (S,) arrays are per-seed values."""
    if a.ndim == 1:
        return paired_comparisons([metric], {metric: a}, {metric: b}, rng, n_resamples)[metric]
    return paired_comparisons([metric], a, b, rng, n_resamples)[metric]
