"""The flip ambiguity of floored-centroid labels (benchmark.bench.peaks_ambiguity): the
count of label pixels a target takes over the flips is what our own transforms produce,
the focal plateau for that count is LESPS's loss minimized, and the probe splits its
on-target peaks by that count."""

from __future__ import annotations

import itertools

import numpy as np

from benchmark.bench.peaks import summarize
from benchmark.bench.peaks_ambiguity import basic_noflip, flip_candidates, plateau
from benchmark.data import points as pointlib
from benchmark.data import transforms
from benchmark.data.split import Sample
from benchmark.profiles import get_profile


def _mask(rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros((32, 32), np.uint8)
    mask[rows, cols] = 255
    return mask


def _rule_pixels_over_flips(mask: np.ndarray) -> set[tuple[int, int]]:
    """Where the floored-centroid rule puts the label in each flipped frame, carried back
    to the original frame: the training label (flipped with the image) is one of them."""
    out = set()
    for flips in itertools.product([False, True], repeat=3):
        seen = transforms.apply_flips([mask], flips)[0]
        rule = pointlib.point_map(pointlib.centroid_points(seen), seen.shape)
        out |= {tuple(p) for p in np.argwhere(transforms.undo_flips(rule, flips) > 0)}
    return out


def test_flip_candidates_count_the_pixels_the_floor_rule_takes_over_our_flips() -> None:
    for rows, cols, k in [(slice(10, 13), slice(20, 23), 1), (slice(10, 12), slice(20, 23), 2), (slice(10, 12), slice(20, 22), 4)]:
        mask = _mask(rows, cols)
        label = pointlib.centroid_points(mask)
        assert flip_candidates(mask, label) == [k]
        assert len(_rule_pixels_over_flips(mask)) == k
    assert flip_candidates(_mask(slice(10, 12), slice(20, 22)), np.array([[0, 0]])) == [0]  # off every target


def test_plateau_is_the_focal_optimum_for_k_equally_likely_pixels() -> None:
    assert plateau(1) > 0.999
    assert abs(plateau(2) - 0.5) < 1e-3
    assert abs(plateau(4) - 0.399) < 2e-3  # below the 0.5 threshold: a 2x2 ambiguity never fires


def test_noflip_control_keeps_the_crop_unflipped() -> None:
    rng = np.random.default_rng(0)
    image = np.arange(64 * 64, dtype=np.uint8).reshape(64, 64)
    label = np.zeros((64, 64), np.float32)
    out = basic_noflip(image, label, label, (0.0, 1.0), get_profile("quick"), rng)
    top, left = out.geometry.top, out.geometry.left
    assert out.geometry.flips == (False, False, False)
    assert np.array_equal(out.image, image[top : top + 64, left : left + 64].astype(np.float32))


def test_summary_splits_on_target_peaks_by_candidate_count() -> None:
    mask = _mask(slice(4, 7), slice(4, 7)) | _mask(slice(20, 22), slice(20, 22))  # k = 1 at (5, 5), k = 4 at (20, 20)
    pts = pointlib.centroid_points(mask)
    prob = np.zeros((32, 32), np.float32)
    prob[5, 5], prob[20, 20] = 0.9, 0.4
    s = summarize([prob], [Sample("s", "test", np.zeros((32, 32), np.uint8), mask, pts, pts)])
    assert s["k1_n"] == 1 and s["k1_above"] == 1.0 and s["k1_median"] == np.float32(0.9)
    assert s["k4_n"] == 1 and s["k4_above"] == 0.0 and s["k4_median"] == np.float32(0.4)
    assert "k2_n" not in s
