"""A fully connected CRF (Krähenbühl & Koltun, NIPS 2011) with exact pairwise sums.

MCLC (and the diffusion annotator) refine a probability map on a small crop with
pydensecrf, a compiled extension that no longer builds on current Pythons
(field-notes 5.4). This is our own mean-field inference for the same model, in NumPy.
On crops of tens of pixels per side the pairwise sums can be computed exactly instead
of through the permutohedral lattice.

Conventions taken from pydensecrf 1.0rc3 / densecrf 2 (``pydensecrf/utils.py``,
``densecrf/src/{densecrf,pairwise,labelcompatibility}.cpp``):

* unary ``U = -log(clip(p, 1e-5, 1))`` per label (``unary_from_softmax``);
* kernel ``k(i, j) = exp(-|f_i - f_j|^2 / 2)`` with features ``(x/sxy, y/sxy)``
  (Gaussian) and ``(x/sxy, y/sxy, c_1/srgb, ..., c_C/srgb)`` (bilateral), colours in
  0..255; the default ``NORMALIZE_SYMMETRIC``: ``K~ = D^-1/2 K D^-1/2`` with
  ``D = diag(K 1)``;
* Potts compatibility with weight ``w``: the pairwise term returns ``-w K~ Q``;
* ``Q = softmax(-U)``, then per iteration ``Q = softmax(-U - sum_k(-w_k K~_k Q))``.

Where this may differ from pydensecrf (see also ``tests/test_crf.py``):

* the lattice's sum includes each pixel's own contribution (``k(i, i) = 1``) only
  approximately, and its blur approximates the Gaussian; here the sums are exact,
  self term included. Because of the symmetric normalization the lattice's overall
  scale (its ``alpha`` constant) cancels; its shape error does not;
* pydensecrf computes in float32; this in float64.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

if TYPE_CHECKING:
    from methods._permutohedral import Permutohedral

UNARY_CLIP = 1e-5


def unary_from_prob(prob: np.ndarray, clip: float = UNARY_CLIP) -> np.ndarray:
    """Negative log-probabilities (labels first), clipped as ``unary_from_softmax``."""
    return -np.log(np.clip(np.asarray(prob, dtype=np.float64), clip, 1.0))


def _gauss_1d(n: int, scale: float) -> np.ndarray:
    """exp(-d^2 / 2) between pixel indices 0..n-1, distances in units of ``scale``."""
    i = np.arange(n, dtype=np.float64) / scale
    return np.exp(-0.5 * (i[:, None] - i[None, :]) ** 2)


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)


class GaussianFilter:
    """Exact ``x -> K x`` for the appearance-free kernel: separable over rows and columns."""

    def __init__(self, shape: tuple[int, int], sxy: float):
        h, w = shape
        self.ky, self.kx = _gauss_1d(h, sxy), _gauss_1d(w, sxy)
        self.shape = shape

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """``values``: (L, H*W) -> (L, H*W)."""
        h, w = self.shape
        grid = values.reshape(-1, h, w)
        return np.matmul(np.matmul(self.ky, grid), self.kx.T).reshape(values.shape)


class BilateralFilter:
    """Exact ``x -> K x`` for the position + colour kernel.

    Three equivalent evaluations: the dense N x N kernel, or (the default, much faster
    on image crops, which have few distinct colours: at most 256 for grey) a sum over
    colour classes ``(K x)_i = sum_u r(c_i, u) [S (x * [c = u])]_i``, where ``S`` is the
    separable spatial Gaussian and ``r`` the colour Gaussian; ``"sparse"`` evaluates the
    same sum with the row pass of ``S`` on the N nonzeros of ``x * [c = u]`` (a scatter)
    and the column pass as one matrix product. All three are exact sums; ``"sparse"`` adds
    them in float32 (five times faster on crops, relative error ~1e-7; pydensecrf's
    lattice is float32 too), the other two in float64.
    """

    def __init__(self, shape: tuple[int, int], sxy: float, srgb: float, colors: np.ndarray, method: str = "classes"):
        h, w = shape
        n = h * w
        colors = np.asarray(colors).reshape(n, -1)
        self.shape = shape
        self.ky, self.kx = _gauss_1d(h, sxy), _gauss_1d(w, sxy)
        self.method = method
        if method == "dense":
            scaled = colors.astype(np.float64) / srgb
            spatial = (self.ky[:, None, :, None] * self.kx[None, :, None, :]).reshape(n, n)
            sq = ((scaled[:, None, :] - scaled[None, :, :]) ** 2).sum(-1)
            self.kernel = spatial * np.exp(-0.5 * sq)
        elif method in ("classes", "sparse"):
            unique, self.inverse = _colour_classes(colors)
            scaled = unique.astype(np.float64) / srgb
            sq = ((scaled[:, None, :] - scaled[None, :, :]) ** 2).sum(-1)
            self.classes = len(unique)
            if method == "classes":
                self.range_rows = np.exp(-0.5 * sq)[self.inverse]  # (N, U): r(c_i, u)
            else:  # the row pass scatters into (row out, class, column); r(c_i, u) laid out alike
                u = self.classes
                rows, cols = np.divmod(np.arange(n), w)
                self.slots = ((self.inverse * w + cols)[None, :] + (np.arange(h) * u * w)[:, None]).reshape(-1)
                self.ky_rows = self.ky[:, rows].astype(np.float32)  # (H, N): ky[y_out, y_j]
                self.kx32 = self.kx.astype(np.float32)
                ranges = np.exp(-0.5 * sq)[:, self.inverse].reshape(u, h, w)
                self.range_grid = np.ascontiguousarray(ranges.transpose(1, 0, 2), dtype=np.float32)  # (H, U, W)
        else:
            raise ValueError(f"unknown bilateral method {method!r} (dense, classes, sparse)")

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """``values``: (L, H*W) -> (L, H*W)."""
        if self.method == "dense":
            return values @ self.kernel.T
        if self.method == "sparse":
            return np.stack([self._sparse(v) for v in values])
        h, w = self.shape
        labels, n = values.shape
        split = np.zeros((labels, self.classes, n))  # values restricted to each colour class
        split[:, self.inverse, np.arange(n)] = values
        blurred = np.matmul(np.matmul(self.ky, split.reshape(-1, h, w)), self.kx.T)
        return np.einsum("nu,lun->ln", self.range_rows, blurred.reshape(labels, self.classes, n))


    def _sparse(self, values: np.ndarray) -> np.ndarray:
        h, w = self.shape
        u = self.classes
        rows = np.zeros(h * u * w, np.float32)
        np.add.at(rows, self.slots, (self.ky_rows * values.astype(np.float32)).reshape(-1))
        blurred = (rows.reshape(h * u, w) @ self.kx32).reshape(h, u, w)  # (row, class, column); kx is symmetric
        return np.einsum("yux,yux->yx", self.range_grid, blurred).reshape(-1).astype(np.float64)


def _colour_classes(colors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct colours (U, C) and each pixel's class; 8-bit colours packed into one int."""
    if colors.dtype == np.uint8 and colors.shape[1] <= 7:
        code = (colors.astype(np.int64) << (8 * np.arange(colors.shape[1]))).sum(1)
        _, first, inverse = np.unique(code, return_index=True, return_inverse=True)
        return colors[first], inverse.reshape(-1)
    unique, inverse = np.unique(colors, axis=0, return_inverse=True)
    return unique, inverse.reshape(-1)


def _symmetric_norm(filt: GaussianFilter | BilateralFilter, n: int) -> np.ndarray:
    """``D^-1/2`` of NORMALIZE_SYMMETRIC, ``D = K 1`` (with densecrf's 1e-20 guard)."""
    return 1.0 / np.sqrt(filt(np.ones((1, n)))[0] + 1e-20)


def dense_crf(
    prob: np.ndarray,
    image: np.ndarray | None = None,
    iterations: int = 1,
    gaussian_sxy: float = 3.0,
    gaussian_compat: float = 3.0,
    bilateral_sxy: float = 32.0,
    bilateral_srgb: float = 13.0,
    bilateral_compat: float = 10.0,
    bilateral_method: str = "classes",
) -> np.ndarray:
    """Mean-field marginals ``Q`` (L, H, W) of a dense CRF over ``prob`` (L, H, W).

    ``image`` (H, W) or (H, W, C), values 0..255, guides the bilateral kernel; without
    it (or with ``bilateral_compat=0``) only the Gaussian smoothness kernel acts. The
    defaults are MCLC's (``CRF_lib/DenseCRF.py``: Gaussian sxy 3 compat 3, bilateral
    sxy 32 srgb 13 compat 10, one iteration).
    """
    prob = np.asarray(prob, dtype=np.float64)
    labels, h, w = prob.shape
    n = h * w
    unary = unary_from_prob(prob).reshape(labels, n)
    kernels = _kernels((h, w), image, gaussian_sxy, gaussian_compat, bilateral_sxy, bilateral_srgb, bilateral_compat,
                       bilateral_method)
    terms = [(filt, _symmetric_norm(filt, n), weight) for filt, weight in kernels]
    q = _softmax(-unary)
    for _ in range(iterations):
        logits = -unary
        for filt, norm, weight in terms:
            logits = logits + weight * norm * filt(q * norm)
        q = _softmax(logits)
    return q.reshape(labels, h, w)


def bilateral_features(shape: tuple[int, int], sxy: float, srgb: float, colors: np.ndarray) -> np.ndarray:
    """pydensecrf's bilateral features (N, 2 + C): (column, row) / sxy, colour / srgb, float32."""
    h, w = shape
    rows, cols = np.divmod(np.arange(h * w), w)
    colors = np.asarray(colors, dtype=np.float32).reshape(h * w, -1)
    return np.concatenate([np.stack([cols / np.float32(sxy), rows / np.float32(sxy)], 1), colors / np.float32(srgb)], 1)


def lattice_bilateral(shape: tuple[int, int], sxy: float, srgb: float, colors: np.ndarray) -> "Permutohedral":
    """pydensecrf's bilateral kernel on its permutohedral lattice."""
    from methods._permutohedral import Permutohedral

    return Permutohedral(bilateral_features(shape, sxy, srgb, colors))


def two_label_crf(
    fg: np.ndarray,
    image: np.ndarray | None = None,
    iterations: int = 1,
    gaussian_sxy: float = 3.0,
    gaussian_compat: float = 0.0,
    bilateral_sxy: float = 32.0,
    bilateral_srgb: float = 13.0,
    bilateral_compat: float = 10.0,
    bilateral_method: str = "sparse",
) -> np.ndarray:
    """``dense_crf`` on ``[1 - fg, fg]``, returned as the foreground logit margin (H, W).

    The same model and update; with two labels the softmax depends only on the logit
    difference ``d``, and ``K(n q_bg) = K n - K(n q_fg)``, so each iteration needs one
    filtering per kernel instead of two: ``d = dU + sum_k w_k n (2 K(n q_fg) - K n)``,
    ``q_fg = sigmoid(d)``. ``d > 0`` is ``dense_crf``'s argmax choosing the foreground
    (ties go to the background there too). Bilateral sums by the exact ``"sparse"`` path, or
    ``"lattice"``: pydensecrf's permutohedral approximation (``methods/_permutohedral.py``).
    """
    fg = np.asarray(fg, dtype=np.float64)
    h, w = fg.shape
    n = h * w
    margin = (unary_from_prob(1.0 - fg) - unary_from_prob(fg)).reshape(n)  # U_bg - U_fg
    kernels = _kernels((h, w), image, gaussian_sxy, gaussian_compat, bilateral_sxy, bilateral_srgb, bilateral_compat,
                       bilateral_method)
    return two_label_margins(margin, [_two_label_term(filt, n, weight) for filt, weight in kernels], iterations).reshape(h, w)


def _kernels(
    shape: tuple[int, int], image: np.ndarray | None, gaussian_sxy: float, gaussian_compat: float, bilateral_sxy: float,
    bilateral_srgb: float, bilateral_compat: float, bilateral_method: str,
) -> list[tuple[Any, float]]:
    """The CRF's kernels with their Potts weights: the Gaussian one (``gaussian_compat``) and,
    with a guide ``image`` of the same size, the bilateral one (``bilateral_compat``)."""
    kernels: list[tuple[Any, float]] = []
    if gaussian_compat:
        kernels.append((GaussianFilter(shape, gaussian_sxy), float(gaussian_compat)))
    if image is not None and bilateral_compat:
        image = np.asarray(image)
        if image.shape[:2] != shape:
            raise ValueError(f"image {image.shape[:2]} and probabilities {shape} differ in size")
        if bilateral_method == "lattice":
            kernels.append((lattice_bilateral(shape, bilateral_sxy, bilateral_srgb, image), float(bilateral_compat)))
        else:
            kernels.append((BilateralFilter(shape, bilateral_sxy, bilateral_srgb, image, bilateral_method), float(bilateral_compat)))
    return kernels


Term = tuple[Callable[[np.ndarray], np.ndarray], np.ndarray, np.ndarray, float]


def _two_label_term(filt: Any, n: int | tuple[int, int], weight: float) -> Term:
    """A kernel with its ``n = D^-1/2`` and the constant ``n K n`` of the background side.

    ``n``: the pixel count of one crop (the kernel maps (1, N) -> (1, N), the terms are (N,)),
    or ``(B, N)`` for a kernel that filters B crops of N pixels row by row (terms (B, N))."""
    if isinstance(n, tuple):
        norm = 1.0 / np.sqrt(filt(np.ones(n)) + 1e-20)
        return filt, norm, norm * filt(norm), weight
    norm = _symmetric_norm(filt, n)
    return filt, norm, norm * filt(norm[None])[0], weight


def two_label_margins(margin: np.ndarray, terms: Sequence[Term], iterations: int) -> np.ndarray:
    """The two-label mean field from the unary margin ``U_bg - U_fg``: each iteration
    ``d = margin + sum_k w_k (2 n K(n sigmoid(d)) - n K n)`` (``two_label_crf``'s update),
    for one crop or for many stacked along the last axis (each kernel keeps them apart),
    or, with a (B, N) margin, for B crops whose kernels filter row by row."""
    d = margin
    for _ in range(iterations):
        q = 1.0 / (1.0 + np.exp(-d))
        d = margin.copy()
        for filt, norm, base, weight in terms:
            filtered = filt(q * norm) if margin.ndim == 2 else filt((q * norm)[None])[0]
            d += weight * (2.0 * norm * filtered - base)
    return d
