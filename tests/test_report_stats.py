"""Bootstrap intervals over seeds x test images, and paired comparisons."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.metrics import Counts, counts_from_breakdown
from reports import stats


def counts(seeds: int, images: int, quality: float, seed: int = 0, spread: float = 0.15) -> np.ndarray:
    """(S, N, F) per-image counts; the same image sizes in every seed (they are the same images)."""
    rng = np.random.default_rng(seed)
    union = np.random.default_rng(99).integers(10, 60, images)
    out = []
    for _ in range(seeds):
        inter = np.rint(union * np.clip(rng.normal(quality, spread, images), 0, 1)).astype(int)
        targets = np.ones(images, int)
        hits = (rng.uniform(size=images) < quality).astype(int)
        fa = rng.poisson(20 * (1 - quality), images)
        out.append(np.stack([inter, union, targets, hits, fa, np.full(images, 4096)], -1))
    return np.stack(out)


def metric_of(c: np.ndarray, metric: str) -> float:
    """The records' own definition: seeds' metrics from summed Counts, averaged."""
    names = ("intersection", "union", "targets", "hits", "false_alarm_pixels", "pixels")
    per_seed = [sum(counts_from_breakdown({n: list(map(int, s[:, i])) for i, n in enumerate(names)}), Counts()).metrics()[metric]
                for s in c]
    return float(np.mean(per_seed))


@pytest.mark.parametrize("metric", ["iou", "niou", "pd", "fa"])
def test_statistic_at_the_data_is_the_records_metric(metric: str) -> None:
    c = counts(3, 40, 0.6)
    ones = np.ones((1, 40))
    assert float(np.mean(stats.seed_metrics(c, ones, metric))) == pytest.approx(metric_of(c, metric), rel=1e-9)


def test_crossed_interval_brackets_the_mean_and_is_reproducible() -> None:
    c = counts(3, 60, 0.6)
    first = stats.bootstrap_intervals(["iou", "fa"], counts=c, rng=stats.rng_for("x"))
    again = stats.bootstrap_intervals(["iou", "fa"], counts=c, rng=stats.rng_for("x"))
    assert first == again
    for metric in ("iou", "fa"):
        assert first[metric].low < metric_of(c, metric) < first[metric].high
        assert first[metric].method == "seeds x images"


def test_more_images_narrow_the_interval_and_one_seed_resamples_images() -> None:
    wide = stats.bootstrap_intervals(["iou"], counts=counts(1, 20, 0.6))["iou"]
    narrow = stats.bootstrap_intervals(["iou"], counts=counts(1, 400, 0.6))["iou"]
    assert wide.method == narrow.method == "images"
    assert narrow.half_width < wide.half_width


def test_seed_only_interval_needs_two_seeds() -> None:
    found = stats.bootstrap_intervals(["iou", "pd"], seed_values={"iou": [50.0, 52.0, 55.0], "pd": [90.0]})
    assert found["iou"].method == "seeds" and 50.0 <= found["iou"].low <= found["iou"].high <= 55.0
    assert found["pd"] is stats.NONE


def test_variants_batched_together_get_their_own_intervals() -> None:
    a, b = counts(3, 50, 0.3, seed=1), counts(3, 50, 0.8, seed=2)
    both = stats.crossed_intervals([a, b], ["iou"])
    assert both[0]["iou"].high < both[1]["iou"].low  # 0.3 vs 0.8 quality: far apart
    alone = stats.crossed_intervals([b], ["iou"])[0]["iou"]
    assert alone.low == pytest.approx(both[1]["iou"].low, abs=2.0)


def test_paired_probability_follows_the_direction_of_each_metric() -> None:
    better = counts(3, 50, 0.8, seed=3)
    worse = better.copy()
    worse[..., 0] = worse[..., 0] // 2  # half the intersection on every image
    worse[..., 4] = worse[..., 4] + 5  # more false-alarm pixels on every image
    assert stats.paired_comparison("iou", better, worse).probability == 1.0
    assert stats.paired_comparison("fa", better, worse).probability == 1.0  # fewer false alarms is better
    assert stats.paired_comparison("iou", worse, better).probability == 0.0
    same = stats.paired_comparison("iou", better, better.copy())
    assert same.probability == 0.5 and same.difference == 0.0


def test_paired_over_seed_values_only() -> None:
    result = stats.paired_comparison("iou", np.array([60.0, 62.0, 61.0]), np.array([55.0, 58.0, 57.0]))
    assert result.method == "seeds" and result.probability == 1.0 and result.difference == pytest.approx(13 / 3)
    single = stats.paired_comparison("iou", np.array([60.0]), np.array([55.0]))
    assert np.isnan(single.probability) and single.difference == 5.0
