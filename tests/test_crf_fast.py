"""The two-label CRF paths of methods/_crf.py and the permutohedral lattice.

The lattice was checked against pydensecrf 1.0rc3 (built outside the project): the
marginals of 5 iterations with the diffusion annotator's settings agree to 1e-4 and the
argmax everywhere. Here: the exact two-label path equals ``dense_crf``, and the lattice
reproduces pydensecrf's numbers (kept below) and treats groups as separate problems.
"""

from __future__ import annotations

import numpy as np
import pytest

from methods._crf import BilateralFilter, bilateral_features, dense_crf, two_label_crf
from methods._crf_batch import crop_lattice, exact_crf_batch, lattice_crf_batch
from methods._permutohedral import Permutohedral

SETTINGS = dict(bilateral_sxy=8.0, bilateral_srgb=10.0, bilateral_compat=110.0)


def _crop(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    grey = np.clip(rng.normal(90, 8, (h, w)), 0, 255)
    grey[h // 3 : h // 2 + 2, w // 3 : w // 2 + 2] += 80
    guide = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    fg = (grey > 140).astype(np.float64)
    fg[0, 0] = 1.0  # a stray foreground pixel for the CRF to remove
    return fg, guide


@pytest.mark.parametrize("shape", [(5, 7), (19, 23)])
def test_two_label_path_equals_dense_crf(shape: tuple[int, int]) -> None:
    fg, guide = _crop(np.random.default_rng(0), *shape)
    q = dense_crf(np.stack([1 - fg, fg]), guide, iterations=5, gaussian_compat=0, **SETTINGS)
    for method, tolerance in (("classes", 1e-10), ("sparse", 1e-4)):  # sparse: float32 sums
        d = two_label_crf(fg, guide, 5, bilateral_method=method, **SETTINGS)
        np.testing.assert_allclose(1 / (1 + np.exp(-d)), q[1], atol=tolerance)
        np.testing.assert_array_equal(d > 0, q.argmax(0) == 1)


def test_sparse_bilateral_sums_equal_the_class_sums() -> None:
    _, guide = _crop(np.random.default_rng(1), 13, 11)
    x = np.random.default_rng(2).random((2, 13 * 11))
    a = BilateralFilter((13, 11), 8, 10, guide, "classes")(x)
    np.testing.assert_allclose(BilateralFilter((13, 11), 8, 10, guide, "sparse")(x), a, rtol=1e-6)  # float32 sums


# pydensecrf 1.0rc3 (DenseCRF2D, unary_from_softmax, addPairwiseBilateral(sxy=3, srgb=20, compat=2), 2 iterations)
GOLDEN_GREY = [[90, 97, 83, 67, 78, 65], [91, 123, 167, 164, 102, 98], [92, 66, 179, 197, 56, 78], [42, 57, 43, 84, 58, 96],
               [93, 85, 27, 76, 88, 92]]
GOLDEN_P = [[0.5, 0.37, 0.26, 0.35, 0.6, 0.35], [0.43, 0.25, 0.67, 0.33, 0.38, 0.69], [0.5, 0.67, 0.57, 0.62, 0.3, 0.52],
            [0.5, 0.69, 0.43, 0.55, 0.28, 0.44], [0.41, 0.33, 0.66, 0.44, 0.74, 0.54]]
GOLDEN_Q1 = [[0.420583, 0.30946, 0.214153, 0.27463, 0.553519, 0.241938], [0.353976, 0.071349, 0.711455, 0.349169, 0.35069, 0.682891],
             [0.425662, 0.636879, 0.663852, 0.793312, 0.19785, 0.508371], [0.478618, 0.655847, 0.386281, 0.519359, 0.182451, 0.445168],
             [0.351997, 0.294613, 0.757984, 0.417228, 0.737258, 0.551863]]


def test_lattice_reproduces_pydensecrf_where_the_exact_sums_do_not() -> None:
    guide = np.repeat(np.array(GOLDEN_GREY, np.uint8)[..., None], 3, axis=2)
    p, want = np.array(GOLDEN_P), np.array(GOLDEN_Q1)
    settings = dict(bilateral_sxy=3.0, bilateral_srgb=20.0, bilateral_compat=2.0)
    lattice = 1 / (1 + np.exp(-two_label_crf(p, guide, 2, bilateral_method="lattice", **settings)))
    exact = 1 / (1 + np.exp(-two_label_crf(p, guide, 2, **settings)))
    np.testing.assert_allclose(lattice, want, atol=2e-5)  # float32 there, float64 here
    assert np.abs(exact - want).max() > 0.01  # the lattice is an approximation; the test tells them apart


def test_lattice_approximates_the_exact_kernel() -> None:
    _, guide = _crop(np.random.default_rng(3), 16, 18)
    lattice = Permutohedral(bilateral_features((16, 18), 8, 10, guide))
    exact = BilateralFilter((16, 18), 8, 10, guide, "classes")
    ones = np.ones((1, 16 * 18))
    assert np.corrcoef(lattice(ones)[0], exact(ones)[0])[0, 1] > 0.9
    assert (lattice(np.random.default_rng(4).random((1, 16 * 18)))[0] > 0).all()


def test_lattice_groups_are_independent_problems() -> None:
    rng = np.random.default_rng(5)
    crops = [_crop(rng, h, w) for h, w in ((9, 12), (20, 17), (4, 6))]
    fgs, guides = [c[0] for c in crops], [c[1] for c in crops]
    together = lattice_crf_batch(fgs, guides, 5, **SETTINGS)
    for fg, guide, d in zip(fgs, guides, together):
        alone = two_label_crf(fg, guide, 5, bilateral_method="lattice", **SETTINGS)
        np.testing.assert_allclose(d, alone, rtol=1e-9, atol=1e-9)
    reused = lattice_crf_batch(fgs, guides, 5, lattice=crop_lattice(guides, 8.0, 10.0), **SETTINGS)
    assert all(np.array_equal(a, b) for a, b in zip(together, reused))


def test_exact_batch_equals_box_by_box() -> None:
    rng = np.random.default_rng(7)
    crops = [_crop(rng, h, w) for h, w in ((9, 12), (9, 12), (20, 17), (4, 6), (9, 12), (30, 9))]  # a stack of three; a tall one
    fgs, greys = [c[0] for c in crops], [c[1][..., 0] for c in crops]
    for fg, c, d in zip(fgs, crops, exact_crf_batch(fgs, greys, 5, channels=3, **SETTINGS)):
        np.testing.assert_allclose(d, two_label_crf(fg, c[1], 5, **SETTINGS), atol=1e-3)


def test_exact_batch_of_one_pixel_count_is_bitwise_box_by_box(monkeypatch: pytest.MonkeyPatch) -> None:
    """Boxes with the same pixel count share one (B, N, N) stack (here split in two by a small
    limit); each box's margins are exactly those it gets alone, whatever its neighbours."""
    from methods import _crf_batch

    rng = np.random.default_rng(11)
    crops = [_crop(rng, h, w) for h, w in ((9, 12), (12, 9), (9, 12), (6, 18), (9, 12), (7, 7))]  # five of 108 pixels
    fgs, greys = [c[0] for c in crops], [c[1][..., 0] for c in crops]
    monkeypatch.setattr(_crf_batch, "DENSE_BATCH_ELEMENTS", 3 * 108 * 108)
    together = exact_crf_batch(fgs, greys, 5, channels=3, **SETTINGS)
    for fg, grey, d in zip(fgs, greys, together):
        np.testing.assert_array_equal(d, exact_crf_batch([fg], [grey], 5, channels=3, **SETTINGS)[0])
    assert not np.array_equal(together[0], together[2])  # different guides: different problems


def test_crf_removes_the_stray_pixel_and_keeps_the_blob() -> None:
    fg, guide = _crop(np.random.default_rng(6), 21, 21)
    for d in (two_label_crf(fg, guide, 5, **SETTINGS), lattice_crf_batch([fg], [guide], 5, **SETTINGS)[0]):
        mask = d > 0
        assert not mask[0, 0] and mask[8:11, 8:11].all()


def test_exact_batch_factorized_path_on_a_large_crop_equals_box_by_box() -> None:
    from methods._crf_batch import DENSE_PIXELS

    rng = np.random.default_rng(9)
    fg, guide = _crop(rng, 37, 33)  # above DENSE_PIXELS: the factorized colour Gaussian
    guide = np.clip(guide.astype(np.int64) + rng.integers(-40, 40, guide.shape[:2])[..., None], 0, 255).astype(np.uint8)
    assert fg.size > DENSE_PIXELS
    d = exact_crf_batch([fg], [guide[..., 0]], 5, channels=3, **SETTINGS)[0]
    want = two_label_crf(fg, guide, 5, bilateral_method="classes", **SETTINGS)
    np.testing.assert_allclose(d, want, atol=2e-3)
    np.testing.assert_array_equal(d > 0, want > 0)


def test_range_factor_reproduces_the_colour_gaussian_to_its_tolerance() -> None:
    from methods._crf_batch import range_factor

    levels = np.array([0, 3, 4, 17, 40, 41, 90, 200, 255])
    r = np.exp(-0.5 * 3 * (levels[:, None] - levels[None, :]) ** 2 / 10.0**2)
    for tolerance in (1e-3, 1e-7):
        factor = range_factor(levels, 10.0, 3, tolerance).astype(np.float64)
        assert np.abs(factor @ factor.T - r).max() <= tolerance + 1e-6  # + float32 storage of the factor
    span = np.arange(120)  # a contiguous span: the factor's rank is far below the level count
    assert range_factor(span, 10.0, 3, 1e-3).shape[1] < range_factor(span, 10.0, 3, 1e-7).shape[1] < len(span) // 2
