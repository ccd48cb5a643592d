"""Per-region candidate pixels: the step that LESPS and PAL label evolution share.

Both methods grow each labelled region with the detector's own prediction, but only
inside a window around the region and only where the prediction is high relative to
the window's peak; the bar rises with the region's size, so growth stops by itself
(field-notes 3.1 and 3.2; LESPS ``Net.update_gt`` @9292bba5, PAL
``update_gt_update_degen_corr`` @e89262fc). For one region ``R`` of ``label > 0.5``:

- centre ``c`` = the truncated mean of its pixel coordinates;
- window = the 33x33 square around ``c``, core = the 3x3 square (both clipped);
- ``M`` = peak probability in the window,
  ``T = M*tb + k*(M - M*tb) * |R| / (0.15% of the image)``;
- candidates = window pixels with probability ``> T`` (strictly);
- false-alarm elimination: 8-connected candidate components that do not touch the
  core are dropped. LESPS drops them only when there is more than one component; PAL
  drops them always (``drop_lone``).

What each method then does with the candidates (sequential averaging for LESPS, one
combined mask with decay for PAL) lives in its own module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import ndimage

WINDOW = 33  # neighbourhood side (pixels)
CORE = 3  # core side: a kept candidate component must touch it
AREA_FRACTION = 0.0015  # region area (fraction of the image) at which T has risen by k*(M - M*tb)
EIGHT = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class Candidates:
    """Candidate pixels of one region: a boolean mask over a window of the image."""

    rows: slice
    cols: slice
    mask: np.ndarray  # bool, the window's shape

    def full(self, shape: tuple[int, int]) -> np.ndarray:
        """The candidates as a whole-image boolean mask (for tests and unions)."""
        out = np.zeros(shape, dtype=bool)
        out[self.rows, self.cols] = self.mask
        return out


def label_regions(label: np.ndarray) -> list[np.ndarray]:
    """Pixel coordinates (n, 2) of each 8-connected region of ``label > 0.5``.

    Regions come in raster order of their first pixel, as skimage's ``regionprops`` and
    OpenCV's ``connectedComponents`` number them (LESPS's sequential update depends on it).
    """
    labelled, n = ndimage.label(label > 0.5, structure=EIGHT)
    if n == 0:
        return []
    order = np.argsort(labelled.ravel(), kind="stable")
    counts = np.bincount(labelled.ravel(), minlength=n + 1)
    flat = np.split(order[counts[0] :], np.cumsum(counts[1:])[:-1])
    width = label.shape[1]
    return [np.stack(np.divmod(f, width), axis=1) for f in flat]


def threshold(peak: float, area: int, shape: tuple[int, int], tb: float, k: float) -> float:
    """The evolution threshold: ``tb*M`` for a point, rising to ``M`` at 0.3% of the image
    when ``tb = k = 0.5`` (so a region stops growing there)."""
    start = peak * tb
    return start + k * (peak - start) * area / (shape[0] * shape[1] * AREA_FRACTION)


def _square(center: int, side: int, size: int) -> slice:
    half = side // 2
    return slice(max(center - half, 0), min(center + half + 1, size))


def _within(inner: slice, outer: slice) -> slice:
    return slice(inner.start - outer.start, inner.stop - outer.start)


def region_candidates(
    prob: np.ndarray, coords: np.ndarray, tb: float, k: float, drop_lone: bool
) -> Candidates:
    """Candidate pixels of the region ``coords`` under the probability map ``prob``."""
    h, w = prob.shape
    cy, cx = (int(v) for v in coords.mean(axis=0))  # truncation, as both codes do
    rows, cols = _square(cy, WINDOW, h), _square(cx, WINDOW, w)
    window = prob[rows, cols]
    t = threshold(float(window.max()), len(coords), (h, w), tb, k)
    mask = window > t
    core = np.zeros_like(mask)
    core[_within(_square(cy, CORE, h), rows), _within(_square(cx, CORE, w), cols)] = True
    return Candidates(rows, cols, _eliminate_false_alarms(mask, core, drop_lone))


def _eliminate_false_alarms(mask: np.ndarray, core: np.ndarray, drop_lone: bool) -> np.ndarray:
    """Keep the 8-connected components of ``mask`` that touch ``core``."""
    components, n = ndimage.label(mask, structure=EIGHT)
    if n == 0 or (n == 1 and not drop_lone):
        return mask
    touching = np.unique(components[core & mask])
    return np.isin(components, touching[touching > 0])


def binary_growth(old: Sequence[np.ndarray], new: Sequence[np.ndarray]) -> dict[str, int]:
    """How an update moved the labels as a 0.5 threshold sees them (PAL trains on them
    binarized; label IoU counts them so): pixels that crossed 0.5 either way, labels with
    any such pixel, and the pixels above 0.5 afterwards. A stall reads as zeros here even
    while soft values change (PAL's decay changes every label a little)."""
    flips = [int(np.count_nonzero((a > 0.5) != (b > 0.5))) for a, b in zip(old, new)]
    return {
        "flipped_pixels": sum(flips),
        "flipped_labels": sum(f > 0 for f in flips),
        "label_pixels": int(sum(np.count_nonzero(b > 0.5) for b in new)),
    }
