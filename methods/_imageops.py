"""Small image operations of the diffusion annotator, computed as its public code's libraries do.

Diffuse to Detect (``utils/diffusion_annotation.py``) calls OpenCV (CLAHE, Otsu, a 3x3
Gaussian blur) and scikit-image rank filters. OpenCV is not a dependency of this
project, and the rank filters are slow on many small crops, so these are our own
NumPy versions of the same arithmetic (checked against both libraries; see
``tests/test_imageops.py``). Conventions followed:

* CLAHE (OpenCV ``clahe.cpp``): tiles of ``ceil``-padded size (the image is extended
  at the bottom/right by BORDER_REFLECT_101 unless both sides divide), 256-bin tile
  histograms clipped at ``max(int(clip * tile_area / 256), 1)`` with the excess spread
  evenly and the residual on every ``256 // residual``-th bin, LUT
  ``round(cumsum * 255 / tile_area)``, bilinear interpolation between the 4 nearest
  tile LUTs in float32 with the tile centres at ``(i + 0.5) * tile``. Only the pixels
  one asks for are mapped, and only the tiles they need are counted.
* Otsu (OpenCV ``getThreshVal_Otsu_8u``): the level t maximizing the between-class
  variance of ``<= t`` against ``> t``; the first maximum wins.
* rank entropy / maximum (scikit-image ``filters.rank``): a square footprint centred on
  the pixel, pixels outside the image not counted; entropy in bits.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import ndimage

FLT_EPSILON = float(np.finfo(np.float32).eps)


class Clahe:
    """OpenCV's CLAHE of one uint8 image, evaluated lazily on crops."""

    def __init__(self, image: np.ndarray, clip: float = 1.0, tiles: tuple[int, int] = (4, 4)):
        self.image = np.asarray(image, dtype=np.uint8)
        h, w = self.image.shape
        self.tiles_y, self.tiles_x = tiles
        if h % self.tiles_y == 0 and w % self.tiles_x == 0:
            self.padding = (0, 0)
        else:  # OpenCV pads both sides, by a whole tile count where one side divides
            self.padding = (self.tiles_y - h % self.tiles_y, self.tiles_x - w % self.tiles_x)
        self.tile_h, self.tile_w = (h + self.padding[0]) // self.tiles_y, (w + self.padding[1]) // self.tiles_x
        area = self.tile_h * self.tile_w
        self.clip_limit = max(int(clip * area / 256), 1) if clip > 0 else 0
        self.lut_scale = np.float32(255.0) / np.float32(area)
        self._luts = np.zeros((self.tiles_y * self.tiles_x, 256), dtype=np.float32)
        self._done = np.zeros(self.tiles_y * self.tiles_x, dtype=bool)
        self._padded: np.ndarray | None = None

    def _source(self) -> np.ndarray:
        if self._padded is None:
            ph, pw = self.padding
            self._padded = _pad_reflect101(self.image, ph, pw) if ph or pw else self.image
        return self._padded

    def _histograms(self, tiles: np.ndarray) -> np.ndarray:
        """(len(tiles), 256) histograms of these tiles (flat indices) of the padded image."""
        source = self._source()
        blocks = source.reshape(self.tiles_y, self.tile_h, self.tiles_x, self.tile_w).transpose(0, 2, 1, 3)
        ty, tx = np.divmod(tiles, self.tiles_x)
        values = blocks[ty, tx].reshape(len(tiles), -1).astype(np.int64)
        hist = np.bincount((values + (np.arange(len(tiles)) * 256)[:, None]).ravel(), minlength=256 * len(tiles))
        return hist.reshape(len(tiles), 256)

    def _luts_of(self, tiles: np.ndarray) -> None:
        """Clipped-histogram LUTs of these tiles (flat indices), all at once."""
        self._luts[tiles] = _clipped_luts(self._histograms(tiles), np.array([self.clip_limit]), np.array([self.lut_scale]))
        self._done[tiles] = True

    def tiles_of(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """The tiles (flat indices) whose LUTs ``crop(y0, y1, x0, x1)`` reads."""
        if y1 <= y0 or x1 <= x0:
            return np.zeros(0, np.int64)
        ty1, ty2, _ = _tile_weights(y0, y1, self.tile_h, self.tiles_y)
        tx1, tx2, _ = _tile_weights(x0, x1, self.tile_w, self.tiles_x)
        # the tiles of consecutive pixels step by at most one: the ones needed are a block
        return (np.arange(ty1[0], ty2[-1] + 1)[:, None] * self.tiles_x + np.arange(tx1[0], tx2[-1] + 1)[None, :]).ravel()

    def crop(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """CLAHE output (uint8) of ``image[y0:y1, x0:x1]``."""
        if y1 <= y0 or x1 <= x0:
            return np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), np.uint8)
        ty1, ty2, ya = _tile_weights(y0, y1, self.tile_h, self.tiles_y)
        tx1, tx2, xa = _tile_weights(x0, x1, self.tile_w, self.tiles_x)
        needed = self.tiles_of(y0, y1, x0, x1)
        missing = needed[~self._done[needed]]
        if len(missing):
            self._luts_of(missing)
        src = self.image[y0:y1, x0:x1]
        row1, row2 = (ty1 * self.tiles_x)[:, None], (ty2 * self.tiles_x)[:, None]
        l11, l12 = self._luts[row1 + tx1[None, :], src], self._luts[row1 + tx2[None, :], src]
        l21, l22 = self._luts[row2 + tx1[None, :], src], self._luts[row2 + tx2[None, :], src]
        xa1, ya_ = xa[None, :], ya[:, None]
        one = np.float32(1.0)
        res = (l11 * (one - xa1) + l12 * xa1) * (one - ya_) + (l21 * (one - xa1) + l22 * xa1) * ya_
        return np.clip(np.rint(res), 0, 255).astype(np.uint8)


def _clipped_luts(hist: np.ndarray, clip_limit: np.ndarray, lut_scale: np.ndarray) -> np.ndarray:
    """OpenCV's LUTs (float32, 0..255) from tile histograms (T, 256), each row with its image's
    clip limit and scale (arrays of one value or of T): the same integer and float32 steps row by
    row, so LUTs of many images at once equal each image's own."""
    limit = clip_limit.reshape(-1, 1).astype(np.int64)
    clipped = np.maximum(hist - limit, 0).sum(1, keepdims=True)
    residual = clipped % 256
    clipping = limit > 0  # a clip limit of 0: no clipping
    hist = np.where(clipping, np.minimum(hist, limit) + clipped // 256, hist)
    step = np.maximum(256 // np.maximum(residual, 1), 1)
    k = np.arange(256)[None, :]
    hist += ((k % step == 0) & (k < step * residual) & clipping).astype(hist.dtype)  # every step-th bin, residual times
    lut = np.cumsum(hist, axis=1).astype(np.float32) * lut_scale.reshape(-1, 1).astype(np.float32)
    return np.clip(np.rint(lut), 0, 255)


def clahe_crops(clahes: Sequence[Clahe], crops: Sequence[Sequence[tuple[int, int, int, int]]]) -> list[list[np.ndarray]]:
    """``clahe.crop(*box)`` for every box of every image; the LUTs of all the tiles they need are
    clipped and accumulated in one pass over all images (per image, that pass cost more than
    counting the histograms)."""
    todo = []
    for clahe, boxes in zip(clahes, crops, strict=True):
        tiles = np.unique(np.concatenate([clahe.tiles_of(*box) for box in boxes])) if boxes else np.zeros(0, np.int64)
        tiles = tiles[~clahe._done[tiles]]
        if len(tiles):
            todo.append((clahe, tiles))
    if todo:
        luts = _clipped_luts(np.concatenate([c._histograms(t) for c, t in todo]),
                             np.concatenate([np.full(len(t), c.clip_limit) for c, t in todo]),
                             np.concatenate([np.full(len(t), c.lut_scale, np.float32) for c, t in todo]))
        start = 0
        for clahe, tiles in todo:
            clahe._luts[tiles] = luts[start : start + len(tiles)]
            clahe._done[tiles] = True
            start += len(tiles)
    return [[clahe.crop(*box) for box in boxes] for clahe, boxes in zip(clahes, crops)]


def _pad_reflect101(image: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """``np.pad(image, ((0, ph), (0, pw)), mode="reflect")`` (BORDER_REFLECT_101 at the bottom and
    right) by slices: ``np.pad``'s own overhead cost more than the copy."""
    h, w = image.shape
    if ph >= h or pw >= w:  # reflected more than once: np.pad's rule
        return np.pad(image, ((0, ph), (0, pw)), mode="reflect")
    out = np.empty((h + ph, w + pw), image.dtype)
    out[:h, :w] = image
    out[:h, w:] = image[:, w - 2 : w - 2 - pw : -1] if w - 2 - pw >= 0 else image[:, w - 2 :: -1][:, :pw]
    out[h:] = out[h - 2 : h - 2 - ph : -1] if h - 2 - ph >= 0 else out[h - 2 :: -1][:ph]
    return out


@lru_cache(maxsize=4096)
def _tile_weights_cached(lo: int, hi: int, tile: int, tiles: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pos = np.arange(lo, hi, dtype=np.float32) * (np.float32(1.0) / np.float32(tile)) - np.float32(0.5)
    first = np.floor(pos).astype(np.int64)
    frac = (pos - first.astype(np.float32)).astype(np.float32)
    return np.maximum(first, 0), np.minimum(first + 1, tiles - 1), frac


def _tile_weights(lo: int, hi: int, tile: int, tiles: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel index: lower and upper tile, weight of the upper (OpenCV's float32 rule)."""
    return _tile_weights_cached(int(lo), int(hi), int(tile), int(tiles))


def otsu_level(hist: np.ndarray) -> int:
    """OpenCV's Otsu threshold of a 256-bin histogram: foreground is ``value > level``."""
    hist = np.asarray(hist, dtype=np.float64)
    n = hist.sum()
    if n == 0:
        return 0
    p = hist / n
    levels = np.arange(256, dtype=np.float64)
    mu = float((levels * p).sum())
    q1 = np.cumsum(p)
    q2 = 1.0 - q1
    with np.errstate(invalid="ignore", divide="ignore"):
        mu1 = np.cumsum(levels * p) / q1
        mu2 = (mu - q1 * mu1) / q2
        sigma = q1 * q2 * (mu1 - mu2) ** 2
    valid = (np.minimum(q1, q2) >= FLT_EPSILON) & (np.maximum(q1, q2) <= 1.0 - FLT_EPSILON)
    sigma = np.where(valid, sigma, 0.0)
    best = int(np.argmax(sigma))
    return best if sigma[best] > 0 else 0


def otsu_threshold(image: np.ndarray, bins: int = 256) -> float:
    """``skimage.filters.threshold_otsu`` of a float image (foreground: ``image > threshold``)."""
    flat = image.reshape(-1)
    if np.all(flat == flat[0]):
        return flat[0]
    counts, edges = np.histogram(flat, bins=bins)
    centres = (edges[:-1] + edges[1:]) / 2.0
    counts = counts.astype(np.float32)
    weight1, weight2 = np.cumsum(counts), np.cumsum(counts[::-1])[::-1]
    mean1 = np.cumsum(counts * centres) / weight1
    mean2 = (np.cumsum((counts * centres)[::-1]) / weight2[::-1])[::-1]
    return centres[int(np.argmax(weight1[:-1] * weight2[1:] * (mean1[:-1] - mean2[1:]) ** 2))]


def gradient2(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.gradient(image)`` of a 2-D float array with both sides >= 2 (central differences / 2
    inside, one-sided at the edges), the same arithmetic without its per-call overhead, which
    cost more than the differences on a target's crop."""
    out = []
    for t in (image, image.T):
        g = np.empty_like(t)
        g[1:-1] = (t[2:] - t[:-2]) / 2.0
        g[0] = t[1] - t[0]
        g[-1] = t[-1] - t[-2]
        out.append(g)
    return out[0], out[1].T


def blur3(field: np.ndarray) -> np.ndarray:
    """``cv2.GaussianBlur(field, (3, 3), 0)`` for float32: kernel (1/4, 1/2, 1/4), BORDER_REFLECT_101."""
    f = np.asarray(field, dtype=np.float32)
    quarter, half = np.float32(0.25), np.float32(0.5)
    rows = _reflect101(f, 1)
    f = (rows[:, :-2] + rows[:, 2:]) * quarter + rows[:, 1:-1] * half
    cols = _reflect101(f, 0)
    return (cols[:-2] + cols[2:]) * quarter + cols[1:-1] * half


def _reflect101(a: np.ndarray, axis: int) -> np.ndarray:
    """``a`` with one cell more on each side along ``axis`` (0 or 1 of a 2-D array), BORDER_REFLECT_101
    (a single cell is its own neighbour). Slices, not ``np.pad``: this runs once per target."""
    t = a if axis == 1 else a.T
    h, w = t.shape
    out = np.empty((h, w + 2), a.dtype)
    out[:, 1:-1] = t
    out[:, 0] = t[:, 1 if w > 1 else 0]
    out[:, -1] = t[:, -2 if w > 1 else 0]
    return out if axis == 1 else out.T


@lru_cache(maxsize=8)
def sorting_network(n: int) -> tuple[tuple[int, int], ...]:
    """Batcher's odd-even merge sort comparators for ``n`` inputs (padded to a power of 2;
    comparators that touch the padding, which holds +inf, are dropped)."""
    size = 1
    while size < n:
        size *= 2
    pairs = []
    p = 1
    while p < size:
        k = p
        while k >= 1:
            for j in range(k % p, size - k, 2 * k):
                for i in range(min(k, size - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return tuple((a, b) for a, b in pairs if b < n)


@lru_cache(maxsize=8)
def _plogp(n: int) -> np.ndarray:
    j = np.arange(n + 1, dtype=np.float64)
    return np.where(j > 0, j * np.log2(np.maximum(j, 1)), 0.0)


_OUTSIDE = np.iinfo(np.int16).max  # sorts after every pixel value
ENTROPY_CHUNK = 1 << 15  # pixels per sorting pass: the window rows stay in cache


def rank_entropy(images: Sequence[np.ndarray], size: int = 5) -> list[np.ndarray]:
    """``skimage.filters.rank.entropy(image, np.ones((size, size)))`` (bits) of uint8 images.

    All windows of all images are sorted together by a sorting network (a fixed
    sequence of element-wise min/max over whole arrays); then ``H = log2 n -
    sum_v c_v log2 c_v / n`` from the run lengths of equal values.
    """
    r = size // 2
    columns = []
    for image in images:
        h, w = image.shape
        padded = np.full((h + 2 * r, w + 2 * r), _OUTSIDE, dtype=np.int16)
        padded[r : r + h, r : r + w] = image
        columns.append(sliding_window_view(padded, (size, size)).reshape(h * w, size * size))
    windows = np.concatenate(columns)
    entropy = np.concatenate([_window_entropy(windows[i : i + ENTROPY_CHUNK]) for i in range(0, len(windows), ENTROPY_CHUNK)])
    out, start = [], 0
    for image in images:
        out.append(entropy[start : start + image.size].reshape(image.shape))
        start += image.size
    return out


def _window_entropy(windows: np.ndarray) -> np.ndarray:
    """Entropy (bits) of each row of values, ``_OUTSIDE`` marking absent pixels."""
    size = windows.shape[1]
    rows = list(np.ascontiguousarray(windows.T))  # one row per window position: whole-array min/max
    spare = np.empty_like(rows[0])
    for a, b in sorting_network(size):  # the minimum into the spare row, which then takes a's place
        np.minimum(rows[a], rows[b], out=spare)
        np.maximum(rows[a], rows[b], out=rows[b])
        rows[a], spare = spare, rows[a]
    plogp = _plogp(size)
    run = np.ones(len(rows[0]), dtype=np.int16)
    total = np.zeros(len(rows[0]))
    for k in range(1, size):
        same = rows[k] == rows[k - 1]
        total += plogp[run] * ~same  # a run ends before position k
        run *= same
        run += 1
    total += plogp[run]
    inside = (windows != _OUTSIDE).sum(1)  # the order does not matter for the count
    total -= plogp[size - inside]  # the run of outside pixels, sorted last
    return np.log2(inside) - total / inside


def rank_maximum(image: np.ndarray, size: int = 7) -> np.ndarray:
    """``skimage.filters.rank.maximum`` with a square footprint: outside pixels never win."""
    return ndimage.maximum_filter(image, size=size, mode="constant", cval=0)


MAXIMA_CHUNK = 1 << 18  # padded pixels filtered in one call


def shape_chunks(shapes: Sequence[tuple[int, int]], limit: int) -> list[list[int]]:
    """Indices of 2-D arrays grouped to be padded to one stack: sorted by shape, each group as long
    as its padded size (count x largest height x largest width) stays within ``limit``."""
    order = sorted(range(len(shapes)), key=lambda i: tuple(shapes[i]))
    chunks: list[list[int]] = []
    hm = wm = 0
    for i in order:
        h, w = shapes[i]
        if chunks and (len(chunks[-1]) + 1) * max(hm, h) * max(wm, w) <= limit:
            chunks[-1].append(i)
            hm, wm = max(hm, h), max(wm, w)
        else:
            chunks.append([i])
            hm, wm = h, w
    return chunks


def rank_maxima(images: Sequence[np.ndarray], size: int = 7) -> list[np.ndarray]:
    """``rank_maximum`` of many uint8 images, a few filter calls for all: images of similar shape
    are stacked on zeros (the filter's own border value, and no pixel is below it), filtered
    along their two axes only, and cut back out."""
    out: list[np.ndarray | None] = [None] * len(images)
    for chunk in shape_chunks([im.shape for im in images], MAXIMA_CHUNK):
        hm, wm = (max(images[i].shape[a] for i in chunk) for a in (0, 1))
        stack = np.zeros((len(chunk), hm, wm), np.uint8)
        for k, i in enumerate(chunk):
            stack[k, : images[i].shape[0], : images[i].shape[1]] = images[i]
        filtered = ndimage.maximum_filter(stack, size=(1, size, size), mode="constant", cval=0)
        for k, i in enumerate(chunk):
            out[i] = filtered[k, : images[i].shape[0], : images[i].shape[1]]
    return out  # type: ignore[return-value]
