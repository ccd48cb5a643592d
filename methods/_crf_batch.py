"""Two-label dense CRFs of many small crops at once (the diffusion annotator's post-processing).

The same model and update as ``two_label_crf`` in ``methods/_crf.py`` (bilateral kernel
only), for a whole split's boxes in a few array operations per iteration instead of a
few per box:

* ``lattice_crf_batch``: the kernel on pydensecrf's permutohedral lattice, every crop a
  separate group of one lattice;
* ``exact_crf_batch``: the exact sums for grey guides (the grey image given as
  ``channels`` equal colour channels, as the public code passes RGB): crops of one size
  are stacked, their grey levels are the colour classes (padded to the most in the
  stack), and the sums run as in ``BilateralFilter``'s ``"sparse"`` path (float32).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Sequence

import numpy as np

from methods._crf import _gauss_1d, _two_label_term, bilateral_features, unary_from_prob

if TYPE_CHECKING:
    from methods._permutohedral import Permutohedral

EXACT_CHUNK = 1 << 20  # (crop, row, class, column) cells per stack
DENSE_ROWS = 24  # up to this height the row pass is a matrix product, above it a scatter


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
    filt, norm, base, weight = _two_label_term(lattice, len(fg), float(bilateral_compat))
    d = margin
    for _ in range(iterations):
        q = 1.0 / (1.0 + np.exp(-d))
        d = margin + weight * (2.0 * norm * filt((q * norm)[None])[0] - base)
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
    """Foreground logit margins (``d > 0``: foreground) of each crop, exact bilateral sums."""
    out: list[np.ndarray | None] = [None] * len(fgs)
    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, g in enumerate(greys):
        by_shape.setdefault(g.shape, []).append(i)
    for (h, w), members in by_shape.items():
        members.sort(key=lambda i: len(np.unique(greys[i])))
        start = 0
        while start < len(members):
            stop = start + 1
            while stop < len(members) and (stop + 1 - start) * h * w * len(np.unique(greys[members[stop]])) <= EXACT_CHUNK:
                stop += 1
            chunk = members[start:stop]
            stack = _GreyStack(np.stack([greys[i] for i in chunk]), bilateral_sxy, bilateral_srgb, channels)
            fg = np.stack([np.asarray(fgs[i], dtype=np.float64).reshape(-1) for i in chunk])
            for i, d in zip(chunk, stack.margins(fg, iterations, float(bilateral_compat))):
                out[i] = d.reshape(h, w)
            start = stop
    return out  # type: ignore[return-value]


@lru_cache(maxsize=16)
def _range_table(srgb: float, channels: int) -> np.ndarray:
    """r(a, b) = exp(-channels (a - b)^2 / (2 srgb^2)) by |a - b| (0..255; 256: a padded class, 0)."""
    d = np.arange(257, dtype=np.float64)
    table = np.exp(-0.5 * channels * d**2 / srgb**2)
    table[256] = 0.0
    return table.astype(np.float32)


class _GreyStack:
    """The exact bilateral kernel of B grey crops of one size, their grey levels as colour classes.

    ``K x`` = ``sum_u r(c_i, u) [ky (x)(u) kx]_i``: the values split by class into a (B, H, U, W)
    grid (one nonzero per pixel), the row and column Gaussians as matrix products, and the
    colour Gaussian as a weighted sum over the classes at each pixel.
    """

    def __init__(self, grey: np.ndarray, sxy: float, srgb: float, channels: int):
        b, h, w = grey.shape
        n = h * w
        flat = grey.reshape(b, n).astype(np.int64)
        present = np.zeros((b, 256), bool)
        present[np.arange(b)[:, None], flat] = True
        rank = np.cumsum(present, axis=1) - 1
        inverse = np.take_along_axis(rank, flat, axis=1)  # (B, N): class of each pixel
        u = int(present.sum(1).max())
        levels = np.full((b, u), 4096, np.int16)  # padded classes: far from every grey level
        crops, values = np.nonzero(present)
        levels[crops, rank[crops, values]] = values
        distance = np.abs(levels[:, None, :, None] - grey.reshape(b, h, 1, w).astype(np.int16))
        self.range_grid = _range_table(float(srgb), channels)[np.minimum(distance, 256)]  # (B, H, U, W): r(c_i, u)
        rows, cols = np.divmod(np.arange(n), w)
        self.scatter = ((np.arange(b)[:, None] * h + rows[None, :]) * u + inverse) * w + cols[None, :]  # (B, N)
        if h > DENSE_ROWS:  # tall crops: the row pass as a scatter of each pixel's column of ky
            slots = (inverse * w + cols)[:, None, :] + (np.arange(h) * u * w)[None, :, None]  # (B, H, N)
            self.row_slots = (slots + (np.arange(b) * h * u * w)[:, None, None]).reshape(-1)
            self.ky_rows = _gauss_1d(h, sxy)[:, rows].astype(np.float32)  # (H, N)
        self.ky = _gauss_1d(h, sxy).astype(np.float32)
        self.kx = _gauss_1d(w, sxy).astype(np.float32)
        self.split = np.zeros(b * h * u * w, np.float32)
        self.shape = (b, h, u, w)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """(B, N) -> (B, N): ``K x`` of each crop."""
        b, h, u, w = self.shape
        self.split.fill(0.0)
        if h > DENSE_ROWS:
            np.add.at(self.split, self.row_slots, (self.ky_rows[None] * values.astype(np.float32)[:, None, :]).reshape(-1))
            rows = self.split
        else:
            self.split[self.scatter] = values
            rows = np.matmul(self.ky, self.split.reshape(b, h, u * w))  # (B, H, U W); ky is symmetric
        blurred = (rows.reshape(-1, w) @ self.kx).reshape(b, h, u, w)  # kx is symmetric
        return np.einsum("byux,byux->byx", self.range_grid, blurred).reshape(b, h * w).astype(np.float64)

    def margins(self, fg: np.ndarray, iterations: int, weight: float) -> np.ndarray:
        margin = unary_from_prob(1.0 - fg) - unary_from_prob(fg)
        norm = 1.0 / np.sqrt(self(np.ones_like(fg)) + 1e-20)
        base = norm * self(norm)
        d = margin
        for _ in range(iterations):
            q = 1.0 / (1.0 + np.exp(-d))
            d = margin + weight * (2.0 * norm * self(q * norm) - base)
        return d
