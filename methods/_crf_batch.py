"""Two-label dense CRFs of many small crops at once (the diffusion annotator's post-processing).

The same model and update as ``two_label_crf`` in ``methods/_crf.py`` (bilateral kernel
only, ``two_label_margins``), for a whole split's boxes:

* ``lattice_crf_batch``: the kernel on pydensecrf's permutohedral lattice, every crop a
  separate group of one lattice, so an iteration is a few array operations for all;
* ``exact_crf_batch``: the exact sums for grey guides (the grey image given as
  ``channels`` equal colour channels, as the public code passes RGB), in float32. Up to
  ``DENSE_PIXELS`` pixels the kernel is built as an N x N matrix (its colour factor
  gathered row by row from the crop's grey levels), so the seven filterings of a run (the
  normalization, its constant and five iterations) are matrix-vector products, batched
  over the crops of one pixel count (the mean field's elementwise steps then run once per
  batch, not once per crop). Above, crop by crop, the colour Gaussian over the crop's grey span is
  factorized once (pivoted Cholesky, ``r(a, b) = sum_k L_ak L_bk`` to
  ``RANGE_TOLERANCE``, float32's resolution) and each factor is blurred by the
  separable spatial Gaussian: ``K x = sum_k L_ck * S (L_ck * x)``, ``k`` up to the
  factor's rank (about a third of the grey span) instead of one pass per grey level.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from methods._crf import _gauss_1d, _two_label_term, bilateral_features, two_label_margins, unary_from_prob

if TYPE_CHECKING:
    from methods._permutohedral import Permutohedral

DENSE_BATCH_ELEMENTS = 1 << 20  # kernel entries of the crops that go through the mean field together (4 MB)
DENSE_PIXELS = 1024  # crops up to this size: the kernel as a matrix (4 MB); larger: the factorized sums
RANGE_TOLERANCE = 1e-7  # largest entry left out of the colour Gaussian's factorization (its diagonal is 1): float32's resolution
SPAN_STEP = 8  # factorizations are kept per grey span, rounded up to this


def lattice_crf_batch(
    fgs: Sequence[np.ndarray], images: Sequence[np.ndarray], iterations: int = 1,
    bilateral_sxy: float = 32.0, bilateral_srgb: float = 13.0, bilateral_compat: float = 10.0,
    lattice: "Permutohedral | None" = None,
) -> list[np.ndarray]:
    """``two_label_crf(..., bilateral_method="lattice")`` of many crops at once (bilateral kernel only).

    The crops are independent groups of one lattice, so each mean-field iteration is a
    handful of array operations for all of them. Pass ``lattice`` (``crop_lattice``) to
    reuse the one of the same guide images.
    """
    if not fgs:
        return []
    if lattice is None:
        lattice = crop_lattice(images, bilateral_sxy, bilateral_srgb)
    fg = np.concatenate([np.asarray(f, dtype=np.float64).ravel() for f in fgs])
    margin = unary_from_prob(1.0 - fg) - unary_from_prob(fg)
    d = two_label_margins(margin, [_two_label_term(lattice, len(fg), float(bilateral_compat))], iterations)
    sizes = np.cumsum([f.size for f in fgs])[:-1]
    return [part.reshape(f.shape) for part, f in zip(np.split(d, sizes), fgs)]


def crop_lattice(images: Sequence[np.ndarray], sxy: float, srgb: float) -> "Permutohedral":
    """One lattice for the bilateral kernels of many guide crops (each its own group)."""
    from methods._permutohedral import Permutohedral

    features = np.concatenate([bilateral_features(im.shape[:2], sxy, srgb, im) for im in images])
    groups = np.repeat(np.arange(len(images)), [im.shape[0] * im.shape[1] for im in images])
    return Permutohedral(features, groups)


def exact_crf_batch(
    fgs: Sequence[np.ndarray], greys: Sequence[np.ndarray], iterations: int = 1,
    bilateral_sxy: float = 32.0, bilateral_srgb: float = 13.0, bilateral_compat: float = 10.0, channels: int = 3,
) -> list[np.ndarray]:
    """Foreground logit margins (``d > 0``: foreground) of each crop, exact bilateral sums.

    Crops up to ``DENSE_PIXELS`` with the same pixel count go through the mean field together
    (``_DenseBatch``: one batched product per filtering, bitwise the crop-by-crop ``matrix @ v``);
    larger ones one by one through the factorized kernel."""
    out: list[np.ndarray | None] = [None] * len(fgs)
    sxy, srgb, compat = float(bilateral_sxy), float(bilateral_srgb), float(bilateral_compat)
    groups: dict[int, list[int]] = {}
    for k, grey in enumerate(greys):
        grey = np.asarray(grey)
        if grey.size <= DENSE_PIXELS:
            groups.setdefault(grey.size, []).append(k)
            continue
        fg = np.asarray(fgs[k], dtype=np.float64).reshape(1, -1)
        out[k] = _mean_field(fg, _FactorKernel(grey, sxy, srgb, channels), compat, iterations).reshape(grey.shape)
    for n, members in groups.items():
        step = max(1, DENSE_BATCH_ELEMENTS // (n * n))
        for start in range(0, len(members), step):
            chunk = members[start : start + step]
            fg = np.stack([np.asarray(fgs[k], dtype=np.float64).reshape(-1) for k in chunk])
            kernel = _DenseBatch([np.asarray(greys[k]) for k in chunk], sxy, srgb, channels)
            for k, d in zip(chunk, _mean_field(fg, kernel, compat, iterations)):
                out[k] = d.reshape(np.shape(greys[k]))
    return out  # type: ignore[return-value]


def _mean_field(fg: np.ndarray, kernel: Callable[[np.ndarray], np.ndarray], compat: float, iterations: int) -> np.ndarray:
    """``two_label_margins`` of (B, N) crops (B may be 1) under a kernel that filters row by row."""
    margin = unary_from_prob(1.0 - fg) - unary_from_prob(fg)
    return two_label_margins(margin, [_two_label_term(kernel, fg.shape, compat)], iterations)


@lru_cache(maxsize=16)
def _range_table(srgb: float, channels: int) -> np.ndarray:
    """r(d) = exp(-channels d^2 / (2 srgb^2)) for grey differences d = -255..255 (index d + 255)."""
    d = np.arange(-255, 256, dtype=np.float64)
    return np.exp(-0.5 * channels * d**2 / srgb**2).astype(np.float32)


@lru_cache(maxsize=64)
def _spatial(h: int, w: int, sxy: float) -> np.ndarray:
    """The spatial Gaussian between the pixels of an (h, w) crop, (N, N) float32."""
    ky, kx = _gauss_1d(h, sxy), _gauss_1d(w, sxy)
    return (ky[:, None, :, None] * kx[None, :, None, :]).reshape(h * w, h * w).astype(np.float32)


def _grey_levels(grey: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct grey levels of a uint8-valued crop (ascending) and each pixel's index among them."""
    flat = grey.reshape(-1).astype(np.intp)
    present = np.zeros(256, bool)
    present[flat] = True
    rank = np.cumsum(present) - 1
    return np.flatnonzero(present), rank[flat]


class _DenseBatch:
    """``K = S * R`` of crops of one pixel count, (B, N, N) float32: the spatial Gaussian times
    the colour one (gathered row by row from each crop's grey levels), built once per crop."""

    def __init__(self, greys: Sequence[np.ndarray], sxy: float, srgb: float, channels: int):
        n = greys[0].size
        table = _range_table(srgb, channels)
        self.matrix = np.empty((len(greys), n, n), np.float32)
        for b, grey in enumerate(greys):
            levels, inverse = _grey_levels(grey)
            rows = np.take(table, (levels + 255)[:, None] - grey.reshape(-1).astype(np.intp)[None, :])  # (U, N): r(level, c_j)
            np.take(rows, inverse, axis=0, out=self.matrix[b], mode="clip")  # in range; "raise" would buffer ``out``
            self.matrix[b] *= _spatial(*grey.shape, sxy)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """(B, N) float64 -> (B, N): one matrix-vector product per crop (BLAS gemv, as ``matrix @ v``)."""
        return np.matmul(self.matrix, values.astype(np.float32)[..., None])[..., 0].astype(np.float64)


class _FactorKernel:
    """``K x = sum_k f_k * (ky (f_k * x) kx)`` with ``f_k = L[c, k]``, ``r = L L^T`` on the crop's levels."""

    def __init__(self, grey: np.ndarray, sxy: float, srgb: float, channels: int):
        h, w = grey.shape
        flat = grey.reshape(-1).astype(np.intp)
        low = int(flat.min())
        factor = _span_factor(-(-(int(flat.max()) - low + 1) // SPAN_STEP) * SPAN_STEP, srgb, channels)
        self.features = np.ascontiguousarray(factor[flat - low].reshape(h, w, -1))  # (H, W, R)
        self.ky = _gauss_1d(h, sxy).astype(np.float32)
        self.kx = _gauss_1d(w, sxy).astype(np.float32)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        h, w, r = self.features.shape
        split = self.features * values[0].astype(np.float32).reshape(h, w, 1)
        rows = (self.ky @ split.reshape(h, w * r)).reshape(h, w, r)  # ky is symmetric
        blurred = np.matmul(self.kx, rows)  # along the columns, row by row; kx is symmetric
        return np.einsum("ijk,ijk->ij", blurred, self.features).reshape(1, -1).astype(np.float64)  # no product array


@lru_cache(maxsize=64)
def _span_factor(span: int, srgb: float, channels: int) -> np.ndarray:
    """``range_factor`` of the levels ``0 .. span - 1``: the colour Gaussian depends on grey
    differences only, so it serves every crop whose levels lie in ``low .. low + span - 1``."""
    return range_factor(np.arange(span), srgb, channels)


def range_factor(levels: np.ndarray, srgb: float, channels: int, tolerance: float = RANGE_TOLERANCE) -> np.ndarray:
    """``L`` (U, R) float32 with ``|r(a, b) - sum_k L_ak L_bk| <= tolerance`` on the given grey levels
    (pivoted Cholesky of the colour Gaussian: the residual is positive semi-definite, so its
    largest entry is on its diagonal, which the pivot rule drives below ``tolerance``)."""
    table = _range_table(srgb, channels).astype(np.float64)
    levels = np.asarray(levels, dtype=np.intp)
    n = len(levels)
    residual = np.ones(n)
    factor = np.zeros((n, n))
    rank = 0
    while rank < n:
        p = int(np.argmax(residual))
        if residual[p] <= tolerance:
            break
        column = table[levels - levels[p] + 255] - factor[:, :rank] @ factor[p, :rank]
        column /= np.sqrt(residual[p])
        residual -= column**2
        residual[p] = 0.0
        factor[:, rank] = column
        rank += 1
    return factor[:, : max(rank, 1)].astype(np.float32)
