"""The metrics against hand-made traps (field-notes 1.3) and a field-style reference loop."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import measure

from benchmark.metrics import components, evaluate, evaluate_by_subset, image_counts, pd_fa_curve


def blank(h: int = 40, w: int = 40) -> np.ndarray:
    return np.zeros((h, w), dtype=np.uint8)


def square(arr: np.ndarray, r: int, c: int, size: int, value: float = 255) -> np.ndarray:
    arr[r : r + size, c : c + size] = value
    return arr


def reference_pd_fa(pred: np.ndarray, gt: np.ndarray) -> tuple[int, int, int]:
    """The field's loop (BasicIRSTD after the 2024 fix), written plainly: hits, targets, fa pixels."""
    pred_regions = list(measure.regionprops(measure.label(pred, connectivity=2)))
    gt_regions = measure.regionprops(measure.label(gt, connectivity=2))
    hits, matched_area = 0, 0
    for g in gt_regions:
        for m, p in enumerate(pred_regions):
            if np.linalg.norm(np.array(g.centroid) - np.array(p.centroid)) < 3:
                hits += 1
                matched_area += p.area
                del pred_regions[m]
                break
    total_area = sum(r.area for r in measure.regionprops(measure.label(pred, connectivity=2)))
    return hits, len(gt_regions), total_area - matched_area


def test_perfect_prediction() -> None:
    gt = square(blank(), 10, 10, 3)
    result = evaluate([gt / 255.0], [gt])
    assert result["iou"] == pytest.approx(100.0)
    assert result["niou"] == pytest.approx(100.0)
    assert result["pd"] == 100.0 and result["fa"] == 0.0


def test_same_area_false_alarm_counts_but_legacy_drops_it() -> None:
    gt = square(blank(), 5, 5, 2)
    prob = square(square(blank(), 5, 5, 2), 30, 30, 2) / 255.0  # match + false alarm, both 4 px
    correct = evaluate([prob], [gt])
    legacy = evaluate([prob], [gt], legacy_fa=True)
    assert correct["fa"] == pytest.approx(4 / 1600 * 1e6)
    assert legacy["fa"] == 0.0  # the pre-2024 area-list bug
    # a false alarm of a different area is counted by both
    prob2 = square(square(blank(), 5, 5, 2), 30, 30, 3) / 255.0
    assert evaluate([prob2], [gt], legacy_fa=True)["fa"] == pytest.approx(9 / 1600 * 1e6)


def test_two_predictions_within_three_pixels_first_in_label_order_wins() -> None:
    gt = blank()
    gt[10, 10] = 255
    prob = blank().astype(float)
    prob[9, 11] = 1.0  # first in raster order, distance sqrt(2)
    prob[11, 9] = 1.0  # also within 3 px; not 8-connected to the first
    c = image_counts(prob > 0.5, gt > 127)
    assert (c.hits, c.targets, c.false_alarm_pixels) == (1, 1, 1)


def test_greedy_is_first_fit_not_nearest() -> None:
    gt = blank()
    gt[10, 12] = 255  # target A (label 1)
    gt[10, 16] = 255  # target B (label 2)
    prob = blank().astype(float)
    prob[10, 14] = 1.0  # prediction P1: 2 px from A and from B
    prob[10, 18] = 1.0  # prediction P2: 6 px from A, 2 px from B
    c = image_counts(prob > 0.5, gt > 127)
    assert (c.hits, c.targets, c.false_alarm_pixels) == (2, 2, 0)
    prob[10, 18] = 0.0  # one prediction near two targets: only the first target gets it
    c = image_counts(prob > 0.5, gt > 127)
    assert (c.hits, c.targets, c.false_alarm_pixels) == (1, 2, 0)


def test_match_distance_is_strictly_below_three() -> None:
    gt = blank()
    gt[10, 10] = 255
    prob = blank().astype(float)
    prob[10, 13] = 1.0  # exactly 3 px away
    c = image_counts(prob > 0.5, gt > 127)
    assert c.hits == 0 and c.false_alarm_pixels == 1


def test_soft_ground_truth_pixels_are_background() -> None:
    gt = blank()
    gt[10, 10] = gt[10, 14] = 255
    gt[10, 11:14] = 127  # a grey bridge (IRSTD-1K style): not target at > 127
    c = image_counts(np.zeros_like(gt, bool), gt > 127)
    assert c.targets == 2
    gt[10, 12] = 128
    assert image_counts(np.zeros_like(gt, bool), gt > 127).targets == 3  # 128 is target; its 127 neighbours are not
    r = evaluate([gt / 255.0], [gt])  # probability 127/255 < 0.5 on the grey pixels
    assert r["iou"] == pytest.approx(100.0)


def test_empty_image_scores_zero_niou_and_counts_pixels() -> None:
    empty = blank()
    gt = square(blank(), 10, 10, 3)
    r = evaluate([empty / 255.0, gt / 255.0], [empty, gt])
    assert r["niou"] == pytest.approx(50.0)  # both-empty image scores 0 (PAL/D2D)
    assert r["iou"] == pytest.approx(100.0)
    assert r["images"] == 2 and r["targets"] == 1


def test_fa_denominator_is_all_pixels_of_original_sizes() -> None:
    gt_a, gt_b = blank(20, 30), blank(10, 10)
    prob_a = blank(20, 30).astype(float)
    prob_a[0, 0] = 1.0
    r = evaluate([prob_a, np.zeros((10, 10))], [gt_a, gt_b])
    assert r["fa"] == pytest.approx(1 / (600 + 100) * 1e6)


def test_size_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="differ in size"):
        evaluate([np.zeros((10, 10))], [np.zeros((10, 12), np.uint8)])


def test_iou_is_dataset_level_not_mean() -> None:
    gt1, gt2 = square(blank(), 0, 0, 2), square(blank(), 0, 0, 10)
    p1, p2 = np.zeros((40, 40)), square(blank(), 0, 0, 10) / 255.0
    r = evaluate([p1, p2], [gt1, gt2])
    assert r["iou"] == pytest.approx(100 * 100 / 104)
    assert r["niou"] == pytest.approx(50.0)


@pytest.mark.parametrize("seed", range(6))
def test_components_and_matching_agree_with_field_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    h, w = rng.integers(30, 90, 2)
    gt = (rng.random((h, w)) < 0.03).astype(np.uint8) * 255
    gt = np.maximum(gt, np.roll(gt, 1, axis=1))  # some 2-pixel targets
    pred = (rng.random((h, w)) < 0.04) | ((gt > 0) & (rng.random((h, w)) < 0.8))
    centroids, areas = components(pred)
    regions = measure.regionprops(measure.label(pred, connectivity=2))
    assert np.allclose(centroids, [r.centroid for r in regions])
    assert areas.tolist() == [r.area for r in regions]
    c = image_counts(pred, gt > 127)
    assert (c.hits, c.targets, c.false_alarm_pixels) == reference_pd_fa(pred, gt > 127)


def test_subsets_pool_to_all_and_curve_matches_point_evaluation() -> None:
    rng = np.random.default_rng(0)
    masks = [square(blank(), *rng.integers(0, 35, 2), 3) for _ in range(6)]
    probs = [np.clip(m / 255.0 + rng.normal(0, 0.3, m.shape), 0, 1) for m in masks]
    subsets = ["A", "A", "B", "B", "B", "C"]
    by = evaluate_by_subset(probs, masks, subsets)
    assert set(by) == {"all", "A", "B", "C"}
    assert by["all"]["targets"] == sum(by[s]["targets"] for s in "ABC")
    assert by["all"] == evaluate(probs, masks)
    curve = pd_fa_curve(probs, masks, thresholds=[0.3, 0.5, 0.7])
    point = evaluate(probs, masks)
    assert curve[1]["pd"] == point["pd"] and curve[1]["fa"] == point["fa"]
    assert curve[0]["fa"] >= curve[2]["fa"]  # more noise passes a lower threshold here
