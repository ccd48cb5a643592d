"""The dense CRF of methods/_crf.py against a direct pixel-pair reference."""

from __future__ import annotations

import numpy as np
import pytest

from methods._crf import BilateralFilter, dense_crf, unary_from_prob


def reference_crf(prob, image, iterations, g_sxy, g_w, b_sxy, b_srgb, b_w):
    """Mean field written out pixel pair by pixel pair (pydensecrf's update order)."""
    labels, h, w = prob.shape
    n = h * w
    pos = [(i % w, i // w) for i in range(n)]  # pydensecrf: feature 0 is the column
    col = np.asarray(image, dtype=np.float64).reshape(n, -1)
    kernels = []
    for weight, bilateral in ((g_w, False), (b_w, True)):
        k = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                sxy = b_sxy if bilateral else g_sxy
                d2 = ((pos[i][0] - pos[j][0]) ** 2 + (pos[i][1] - pos[j][1]) ** 2) / sxy**2
                if bilateral:
                    d2 += sum((col[i, c] - col[j, c]) ** 2 for c in range(col.shape[1])) / b_srgb**2
                k[i, j] = np.exp(-0.5 * d2)
        norm = k.sum(1)
        for i in range(n):
            for j in range(n):
                k[i, j] /= np.sqrt(norm[i] * norm[j])
        kernels.append((weight, k))
    unary = -np.log(np.clip(prob.reshape(labels, n), 1e-5, 1.0))

    def softmax(x):
        e = np.exp(x - x.max(0))
        return e / e.sum(0)

    q = softmax(-unary)
    for _ in range(iterations):
        logits = -unary.copy()
        for weight, k in kernels:
            for i in range(n):
                for label in range(labels):
                    logits[label, i] += weight * sum(k[i, j] * q[label, j] for j in range(n))
        q = softmax(logits)
    return q.reshape(labels, h, w)


@pytest.mark.parametrize("method", ["classes", "dense"])
def test_matches_pixel_pair_reference(method: str) -> None:
    rng = np.random.default_rng(3)
    h, w = 4, 5
    image = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    image[1, 1] = image[2, 3]  # a repeated colour: the class path must merge it
    p = rng.random((h, w))
    prob = np.stack([1 - p, p])
    prob[:, 0, 0] = (1.0, 0.0)  # exercises the 1e-5 clip
    settings = dict(g_sxy=1.5, g_w=3.0, b_sxy=4.0, b_srgb=40.0, b_w=5.0)
    want = reference_crf(prob, image, 3, **settings)
    got = dense_crf(
        prob, image, iterations=3, gaussian_sxy=1.5, gaussian_compat=3.0, bilateral_sxy=4.0,
        bilateral_srgb=40.0, bilateral_compat=5.0, bilateral_method=method,
    )
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_class_sum_equals_dense_kernel_on_float_and_grey_guides() -> None:
    rng = np.random.default_rng(0)
    values = rng.random((3, 11 * 9))
    grey = np.repeat(rng.integers(0, 256, (11, 9, 1)).astype(np.uint8), 3, axis=2)
    floats = rng.normal(size=(11, 9, 2))  # non-8-bit colours take the generic unique path
    for guide in (grey, floats):
        dense = BilateralFilter((11, 9), 7.0, 13.0, guide, method="dense")(values)
        classes = BilateralFilter((11, 9), 7.0, 13.0, guide, method="classes")(values)
        np.testing.assert_allclose(classes, dense, rtol=1e-12, atol=1e-12)


def test_without_pairwise_terms_it_is_the_unary_argmax() -> None:
    rng = np.random.default_rng(1)
    p = rng.random((7, 6))
    prob = np.stack([1 - p, p])
    image = rng.integers(0, 256, (7, 6, 3)).astype(np.uint8)
    q = dense_crf(prob, image, iterations=5, gaussian_compat=0, bilateral_compat=0)
    np.testing.assert_allclose(q, np.exp(-unary_from_prob(prob)) / np.exp(-unary_from_prob(prob)).sum(0))
    assert np.array_equal(q.argmax(0), prob.argmax(0))


def test_bilateral_term_cleans_isolated_flips_and_keeps_the_edge() -> None:
    rng = np.random.default_rng(7)
    h, w = 24, 24
    truth = np.zeros((h, w), bool)
    truth[6:16, 8:18] = True  # a bright blob on a dark, noisy background
    image = np.where(truth, 190.0, 60.0) + rng.normal(0, 4, (h, w))
    image = np.repeat(np.clip(image, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    p = np.where(truth, 0.8, 0.2)
    flips = rng.random((h, w)) < 0.08
    p[flips] = 1.0 - p[flips]  # isolated confident mistakes
    prob = np.stack([1 - p, p])
    before = int((prob.argmax(0).astype(bool) != truth).sum())
    q = dense_crf(
        prob, image, iterations=5, gaussian_sxy=3, gaussian_compat=3, bilateral_sxy=20, bilateral_srgb=13, bilateral_compat=10
    )
    after = int((q.argmax(0).astype(bool) != truth).sum())
    assert before == int(flips.sum()) > 20
    assert after == 0
    # the smoothness kernel alone, just as strong, blurs across the blob's edge
    blurred = dense_crf(prob, None, iterations=5, gaussian_sxy=20, gaussian_compat=10)
    assert int((blurred.argmax(0).astype(bool) != truth).sum()) > after


def test_one_iteration_with_mclc_defaults_is_finite_on_a_flat_crop() -> None:
    prob = np.stack([np.zeros((5, 5)), np.ones((5, 5))])
    q = dense_crf(prob, np.full((5, 5, 3), 17, np.uint8))
    assert np.isfinite(q).all() and np.allclose(q.sum(0), 1) and (q.argmax(0) == 1).all()
