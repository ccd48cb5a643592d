"""scikit-image's SLIC on many small grey crops at once (the diffusion annotator's superpixels).

The annotator runs ``slic(crop, n_segments=16, compactness=0.32, channel_axis=None)``
on every target's crop; one call costs about as much as the whole budget of a target.
This is the same algorithm (``skimage/segmentation/_slic.pyx`` for one channel, no mask,
no SLIC-zero) on a stack of crops of different sizes, in float32 as skimage computes
it for a float32 crop, and in the same arithmetic order, so the partitions are the
same (``tests/test_grey_slic.py`` compares them with skimage's):

* features: the crop min-max scaled, times ``1 / compactness``; centres start on
  skimage's regular grid with colour 0;
* distance ``((dy^2 + dx^2) * (1 / step^2)) + (I - c)^2`` within a window of
  ``+-2`` grid steps around each centre; centres visited in order, a pixel moves only to
  a strictly nearer one (ties keep the lower centre), a pixel no window reaches keeps
  its label; ``max_num_iter`` passes;
* centre update: float32 sums in raster order (``np.add.at``), divided by the count; a
  centre left empty becomes NaN and never wins again;
* then skimage's own connectivity enforcement, per crop.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
from skimage.segmentation._slic import _enforce_label_connectivity_cython  # skimage's own pass, as slic runs it
from skimage.util import regular_grid

from methods._imageops import shape_chunks

CHUNK_ELEMENTS = 1 << 16  # padded pixels per batch: the working arrays stay in cache


@lru_cache(maxsize=4096)
def _grid(h: int, w: int, n_segments: int) -> tuple[np.ndarray, np.ndarray, np.float32, int, int]:
    """Initial centres (y, x), spatial weight and window steps of skimage for a (h, w) crop."""
    slices = regular_grid((1, h, w), n_segments)
    yy, xx = np.mgrid[:h, :w]
    cy, cx = yy[slices[1:]].ravel(), xx[slices[1:]].ravel()
    step = np.float32(max(float(s.step) if s.step is not None else 1.0 for s in slices))
    weight = np.float32(1.0 / float(np.float32(step * step)))  # C: 1.0 / (float * float), stored as float
    window = regular_grid((1, h, w), len(cy))
    wy, wx = (int(s.step) if s.step is not None else 1 for s in window[1:])
    return cy.astype(np.float32), cx.astype(np.float32), weight, wy, wx


def scaled_features(crop: np.ndarray, compactness: float) -> np.ndarray:
    """What ``slic`` clusters for a float32 grey crop: min-max scaled, divided by compactness."""
    image = np.array(crop, dtype=np.float32)
    lo, hi = image.min(), image.max()
    image -= lo
    if hi != lo:
        image /= hi - lo
    return image * np.float32(1.0 / compactness)


def grey_slic(
    crops: Sequence[np.ndarray], n_segments: int, compactness: float, iterations: int = 10
) -> list[np.ndarray]:
    """``skimage.segmentation.slic(crop, n_segments, compactness, channel_axis=None)`` per crop."""
    out: list[np.ndarray | None] = [None] * len(crops)
    for chunk in shape_chunks([c.shape for c in crops], CHUNK_ELEMENTS):
        labels = _kmeans([scaled_features(crops[i], compactness) for i in chunk], n_segments, iterations)
        for i, lab in zip(chunk, labels):
            h, w = lab.shape
            k = len(_grid(h, w, n_segments)[0])
            size = h * w / k
            out[i] = np.asarray(
                _enforce_label_connectivity_cython(lab[None].astype(np.intp), int(0.5 * size), int(3 * size), 1)
            )[0]
    return out  # type: ignore[return-value]


def _kmeans(features: list[np.ndarray], n_segments: int, iterations: int) -> list[np.ndarray]:
    """SLIC assignment/update passes on crops padded to one (y, x, crop) stack.

    The crop axis is innermost, so every broadcast runs along an outer axis (NumPy's
    fast loops), and one centre is handled at a time over the rows and columns its
    windows can reach, so the working arrays stay in cache. An empty centre (NaN in
    skimage) is moved far off the crop: its window is empty, it never wins again.
    """
    r = len(features)
    shapes = np.array([f.shape for f in features])
    hm, wm = shapes.max(0)
    image = np.zeros((hm, wm, r), np.float32)
    for i, f in enumerate(features):
        image[: f.shape[0], : f.shape[1], i] = f
    grids = [_grid(int(h), int(w), n_segments) for h, w in shapes]
    kmax = max(len(g[0]) for g in grids)
    if kmax > 255:
        raise ValueError(f"grey_slic handles at most 255 segments per crop, not {kmax}")
    cy, cx = np.full((kmax, r), _GONE, np.float32), np.full((kmax, r), _GONE, np.float32)
    for i, g in enumerate(grids):
        cy[: len(g[0]), i], cx[: len(g[1]), i] = g[0], g[1]
    colour = np.zeros((kmax, r), np.float32)
    weight = np.array([g[2] for g in grids], np.float32)
    reach = np.array([[g[3], g[4]] for g in grids], np.float32).T * np.float32(2.0)
    labels = np.zeros((hm, wm, r), np.uint8)
    rows = np.broadcast_to(np.arange(hm, dtype=np.float64)[:, None, None], labels.shape).ravel()
    cols = np.broadcast_to(np.arange(wm, dtype=np.float64)[None, :, None], labels.shape).ravel()
    slot = np.arange(r) * kmax - 1
    unassigned = r * kmax  # one more bin: the pixels no centre holds (padding included) are counted apart
    values = image.ravel()
    for it in range(iterations):
        nearest = _assign(image, _axis_terms(cy, reach[0], shapes[:, 0], hm), _axis_terms(cx, reach[1], shapes[:, 1], wm),
                          colour, weight)
        np.copyto(labels, nearest, where=nearest > 0)
        if it == iterations - 1:
            break
        index = np.where(labels > 0, labels + slot, unassigned).ravel()
        count = np.bincount(index, minlength=unassigned + 1)[:unassigned].reshape(r, kmax).T
        sum_y = np.bincount(index, rows, unassigned + 1)[:unassigned].reshape(r, kmax).T
        sum_x = np.bincount(index, cols, unassigned + 1)[:unassigned].reshape(r, kmax).T
        sum_c = np.zeros(unassigned + 1, np.float32)
        np.add.at(sum_c, index, values)  # float32, in each crop's raster order
        n, alive = count.astype(np.float32), count > 0
        cy = np.divide(sum_y.astype(np.float32), n, out=np.full_like(n, _GONE), where=alive)
        cx = np.divide(sum_x.astype(np.float32), n, out=np.full_like(n, _GONE), where=alive)
        colour = np.divide(sum_c[:unassigned].reshape(r, kmax).T, n, out=np.zeros_like(n), where=alive)
    return [labels[:h, :w, i] for i, (h, w) in enumerate(shapes)]


_GONE = np.float32(-1e9)  # the position of an empty centre


def _assign(
    image: np.ndarray, ys: tuple[np.ndarray, np.ndarray, np.ndarray], xs: tuple[np.ndarray, np.ndarray, np.ndarray],
    colour: np.ndarray, weight: np.ndarray,
) -> np.ndarray:
    """1-based nearest centre per pixel, 0 where no window reaches.

    Centres in order; a pixel moves to a centre only if strictly nearer, so its final
    centre is the last one that improved it: a running maximum of ``k * improved``.
    """
    best = np.full(image.shape, np.inf, np.float32)
    nearest = np.zeros(image.shape, np.uint8)
    (dy2, y_start, y_stop), (dx2, x_start, x_stop) = ys, xs
    scratch = np.empty((2, image.size), np.float32)  # reused: fresh arrays of this size cost page faults
    flags = np.empty(image.size, np.uint8)
    for k in range(colour.shape[0]):
        y0, y1, x0, x1 = y_start[k], y_stop[k], x_start[k], x_stop[k]
        if y1 <= y0 or x1 <= x0:
            continue
        shape = (y1 - y0, x1 - x0, image.shape[2])
        size = shape[0] * shape[1] * shape[2]
        d, t = scratch[0, :size].reshape(shape), scratch[1, :size].reshape(shape)
        improved = flags[:size].reshape(shape)
        np.add(dy2[k, y0:y1, None, :], dx2[k, None, x0:x1, :], out=d)
        d *= weight
        np.subtract(image[y0:y1, x0:x1], colour[k], out=t)
        t *= t
        d += t
        slab = best[y0:y1, x0:x1]
        np.less(d, slab, out=improved.view(bool))
        np.minimum(slab, d, out=slab)
        improved *= np.uint8(k + 1)
        np.maximum(nearest[y0:y1, x0:x1], improved, out=nearest[y0:y1, x0:x1])
    return nearest


def _axis_terms(
    centre: np.ndarray, reach: np.ndarray, size: np.ndarray, length: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(c - t)^2 as (centre, coordinate, crop), inf outside each window; per centre, the span any window reaches."""
    lo = np.trunc(np.maximum(centre - reach, np.float32(0.0)))  # (k, r), as skimage casts to an index
    hi = np.trunc(np.minimum(centre + reach + np.float32(1.0), size.astype(np.float32)))
    t = np.arange(length, dtype=np.float32)[None, :, None]
    diff = centre[:, None, :] - t
    inside = (t >= lo[:, None, :]) & (t < hi[:, None, :])
    live = hi > lo
    start = np.where(live, lo, np.inf).min(1)
    stop = np.where(live, hi, -np.inf).max(1)
    start, stop = np.where(np.isfinite(start), start, 0).astype(int), np.where(np.isfinite(stop), stop, 0).astype(int)
    return np.where(inside, diff * diff, np.float32(np.inf)), start, stop
