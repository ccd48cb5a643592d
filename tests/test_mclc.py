"""MCLC: size prior, batched SLIC against skimage, privileges, determinism, label quality."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from skimage.color import rgb2lab
from skimage.segmentation import slic

from benchmark.cells import parse_spec
from benchmark.data.loader import load_split
from benchmark.data.points import centroid_points
from benchmark.errors import ConfigError
from benchmark.pseudolabels import label_quality, visible_samples
from benchmark.registry import METHODS
from methods import mclc
from methods.mclc import (
    MCLC, batched_slic, blob_area, enforce_connectivity, estimate_size_class, gt_priors, lab_features, salt_patterns, size_class,
)


def test_size_classes_at_the_published_boundaries() -> None:
    assert [size_class(a) for a in (1, 9, 10, 81, 82, 400)] == ["point", "point", "spot", "spot", "extended", "extended"]


def _mask_with(*squares: tuple[int, int, int, int], shape=(120, 120)) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    for y, x, hh, ww in squares:
        mask[y : y + hh, x : x + ww] = 255
    return mask


def test_gt_prior_classes_and_box_sides() -> None:
    # a 3x3 point (area 9), a 7x7 spot (49), a 9x11 extended target (99); odd sizes: integer centroids
    mask = _mask_with((20, 20, 3, 3), (20, 70, 7, 7), (80, 50, 9, 11))
    points = centroid_points(mask)
    rng = np.random.default_rng(0)
    sides: dict[str, list[tuple[int, int, int, int]]] = {"point": [], "spot": [], "extended": []}
    for _ in range(40):
        for prior in gt_priors(mask, points, rng):
            cy, cx = prior.seed  # centroid labels: the seed is the (integer) centroid
            y0, y1, x0, x1 = prior.box
            sides[prior.size_class].append((cy - y0, y1 - cy, cx - x0, x1 - cx))
    assert {tuple(p.seed) for p in gt_priors(mask, points, rng)} == {tuple(p) for p in points}
    point, spot, ext = (np.array(sides[k]) for k in ("point", "spot", "extended"))
    assert len(point) == len(spot) == len(ext) == 40
    assert set(point[:, :3].ravel()) == {3, 4, 5} and set(point[:, 3]) == {3}  # right side fixed at 3
    assert set(spot.ravel()) == {10, 11}
    assert ext.min() >= 15 and ext.max() <= 25 and len(set(ext.ravel())) > 5


def test_gt_prior_box_is_clipped_short_of_the_last_row_and_column() -> None:
    mask = _mask_with((114, 115, 5, 5), shape=(120, 120))  # spot touching the bottom-right corner
    (prior,) = gt_priors(mask, centroid_points(mask), np.random.default_rng(0))
    assert prior.size_class == "spot" and prior.box[1] == 119 and prior.box[3] == 119


def test_gt_prior_seed_is_the_coarse_point_on_the_component() -> None:
    mask = _mask_with((10, 10, 9, 9), (60, 60, 3, 3))
    coarse = np.array([[12, 15], [61, 61]])  # off-centroid, but on each target
    seeds = sorted(tuple(p.seed) for p in gt_priors(mask, coarse, np.random.default_rng(0)))
    assert seeds == [(12, 15), (61, 61)]


def _blob(sigma: float, amplitude: float = 120.0, size: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - size // 2
    img = 60 + amplitude * np.exp(-(yy**2 + xx**2) / (2 * sigma**2)) + rng.normal(0, 2, (size, size))
    return np.clip(img, 0, 255).astype(np.uint8)


def test_size_estimate_from_the_image_alone() -> None:
    centre = (32, 32)
    assert estimate_size_class(_blob(0.6), centre) == "point"
    assert estimate_size_class(_blob(2.5), centre) == "spot"
    assert estimate_size_class(_blob(9.0), centre) == "extended"
    assert 20 < blob_area(_blob(2.5), centre) < 40  # half maximum at radius 1.18 sigma: about 27 px
    flat = np.full((64, 64), 80, np.uint8)
    assert blob_area(flat, centre) is None and estimate_size_class(flat, centre) == "spot"
    ridge = _blob(2.5)
    ridge[30:35, :] = 200  # the target sits on clutter as bright as itself: no size to read
    assert blob_area(ridge, centre) is None and estimate_size_class(ridge, centre) == "spot"


def test_salt_patterns_have_independent_channels_at_the_given_rate() -> None:
    codes = salt_patterns(np.random.default_rng(0), (400_000,), 0.05)
    bits = (codes[:, None] >> np.array([2, 1, 0])) & 1
    np.testing.assert_allclose(bits.mean(0), 0.05, atol=0.002)
    np.testing.assert_allclose((bits[:, 0] & bits[:, 1]).mean(), 0.0025, atol=0.0004)
    np.testing.assert_allclose((bits.sum(1) == 3).mean(), 0.05**3, atol=0.0001)


def _noisy_rgb(crop: np.ndarray, code: np.ndarray) -> np.ndarray:
    """The salted float RGB image skimage's random_noise would hand to slic."""
    rgb = np.repeat(crop[..., None], 3, axis=2).astype(np.float64) / 255.0
    rgb[((code[..., None] >> np.array([2, 1, 0])) & 1).astype(bool)] = 1.0
    return rgb


def _canonical(labels: np.ndarray) -> np.ndarray:
    """Labels renumbered by first appearance: equal partitions compare equal."""
    _, first, inverse = np.unique(labels.ravel(), return_index=True, return_inverse=True)
    return np.argsort(np.argsort(first))[inverse].reshape(labels.shape)


def test_lab_features_equal_skimage_scaling_and_lab() -> None:
    rng = np.random.default_rng(2)
    crop = rng.integers(20, 200, (9, 13)).astype(np.uint8)
    code = salt_patterns(rng, (6, 9, 13), 0.2)
    code[0] = 7  # one repeat fully salted: a different scaling
    got = lab_features(crop, code)
    for r in range(6):
        rgb = _noisy_rgb(crop, code[r])
        lo, hi = rgb.min(), rgb.max()
        want = rgb2lab((rgb - lo) / (hi - lo) if hi > lo else rgb - lo)
        np.testing.assert_array_equal(got[r], want)


def test_batched_slic_reproduces_skimage_partitions() -> None:
    rng = np.random.default_rng(5)
    same = total = 0
    for h, w in ((7, 8), (21, 21), (13, 30), (36, 41)):
        yy, xx = np.mgrid[:h, :w]
        crop = 80 + 100 * np.exp(-((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / 8.0) + rng.normal(0, 10, (h, w))
        crop = np.clip(crop, 0, 255).astype(np.uint8)
        code = salt_patterns(rng, (12, h, w), 0.05)
        ours = enforce_connectivity(batched_slic(lab_features(crop, code), 9, 20), 9)
        for r in range(12):
            theirs = slic(_noisy_rgb(crop, code[r]), n_segments=9, compactness=20)
            same += np.array_equal(_canonical(theirs), _canonical(ours[r]))
            total += 1
    assert same >= total - 1  # float32 distances: a near-tie may rarely go the other way


@pytest.fixture(scope="module")
def synthetic(shared_cache: Path):
    split = load_split("synthetic", "train", cache_dir=shared_cache)
    return [s for s in split.samples if len(s.centroid)][:24]


def test_prior_option_sets_privileged_and_the_record() -> None:
    assert MCLC.privileged is True  # the class's default (prior=gt), as 'pointbench list' shows it
    published, points_only = MCLC(), METHODS.get("mclc")(**parse_spec("mclc[prior=points]")[1])
    assert published.privileged is True and published.describe()["privileged"] is True
    assert points_only.privileged is False and points_only.describe()["privileged"] is False
    assert "gt" not in points_only.spec and "prior=points" in points_only.spec
    with pytest.raises(ConfigError):
        MCLC(prior="oracle")


def test_visible_samples_follow_the_privilege(synthetic) -> None:
    assert all(s.mask is not None for s in visible_samples(MCLC(), synthetic[:3]))
    assert all(s.mask is None for s in visible_samples(MCLC(prior="points"), synthetic[:3]))


def test_prior_points_never_reads_masks(synthetic) -> None:
    blind = [dataclasses.replace(s, mask=None) for s in synthetic[:6]]
    labels = MCLC(prior="points", repeats=8).initial_labels(blind, "coarse", np.random.default_rng(0))
    assert len(labels) == 6 and all(l.shape == s.shape and l.dtype == np.float32 for l, s in zip(labels, blind))
    assert all(set(np.unique(l)) <= {0.0, 1.0} for l in labels) and sum(l.sum() for l in labels) > 0
    with pytest.raises(ConfigError, match="prior=points"):
        MCLC().initial_labels(blind, "centroid", np.random.default_rng(0))


def test_seeded_rng_makes_identical_labels(synthetic) -> None:
    method = MCLC(repeats=10)
    a = method.initial_labels(synthetic[:6], "centroid", np.random.default_rng(11))
    b = method.initial_labels(synthetic[:6], "centroid", np.random.default_rng(11))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    c = method.initial_labels(synthetic[:6], "centroid", np.random.default_rng(12))
    assert any(not np.array_equal(x, y) for x, y in zip(a, c))  # the noise does come from the rng


def test_mclc_labels_beat_naive_points_on_synthetic_images(synthetic) -> None:
    rng = np.random.default_rng(0)
    naive = label_quality(METHODS.get("point")().initial_labels(synthetic, "centroid", rng), synthetic)["iou"]
    published = label_quality(MCLC().initial_labels(synthetic, "centroid", rng), synthetic)["iou"]
    blind = MCLC(prior="points").initial_labels(visible_samples(MCLC(prior="points"), synthetic), "centroid", rng)
    points_only = label_quality(blind, synthetic)["iou"]
    thresholded = label_quality(MCLC(crf=False).initial_labels(synthetic, "centroid", rng), synthetic)["iou"]
    assert naive < 15
    assert published > 50 and points_only > 40 and thresholded > 40
    assert min(published, points_only) > 3 * naive


def test_empty_image_and_overlapping_boxes() -> None:
    image = np.full((40, 40), 50, np.uint8)
    assert not mclc.mclc_image(image, [], np.random.default_rng(0)).any()
    image[18:21, 15:18] = 200
    image[18:21, 22:25] = 200  # two close targets: their spot boxes overlap
    mask = np.where(image > 100, 255, 0).astype(np.uint8)
    priors = gt_priors(mask, centroid_points(mask), np.random.default_rng(0))
    out = mclc.mclc_image(image, priors, np.random.default_rng(0), repeats=20)
    assert len(priors) == 2 and out[19, 16] == 1 and out[19, 23] == 1 and out.sum() < 60
