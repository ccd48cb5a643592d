"""Point labels: read from the point PNGs, or derived from masks as the field does
(LESPS ``centroid_anno.m`` / ``coarse_anno.m``, field-notes 2.2).

A point label is an ``(n, 2)`` int array of (row, col) pixels, one per target, in raster
order of the label image.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from benchmark.metrics import EIGHT_CONNECTED

COARSE_SIGMA = 0.25


def points_from_label_image(label: np.ndarray) -> np.ndarray:
    """Pixels > 127 of a point PNG (one 255 pixel per target), as (row, col) rows."""
    rows, cols = np.nonzero(label > 127)
    return np.stack([rows, cols], axis=1).astype(np.int32)


def rescale_points(points: np.ndarray, from_shape: tuple[int, int], to_shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour rescale of point coordinates between image sizes.

    The documented repair for a point PNG whose size differs from its image (SIRST
    Misc_111's coarse label is 592x400 for a 325x220 image; data/SOURCES.md).
    """
    scale = np.array(to_shape, dtype=np.float64) / np.array(from_shape, dtype=np.float64)
    scaled = np.floor(points * scale).astype(np.int32)
    return np.minimum(scaled, np.array(to_shape, dtype=np.int32) - 1)


def _target_labels(mask: np.ndarray) -> tuple[np.ndarray, int]:
    # MATLAB bwlabel (8-connected) on mask > 0: soft grey pixels count as target here,
    # which reproduces every released masks_centroid file exactly (field-notes 2.2).
    return ndimage.label(mask > 0, structure=EIGHT_CONNECTED)


def centroid_points(mask: np.ndarray) -> np.ndarray:
    """One point per 8-connected target: the floored centroid, as the field's script."""
    labels, n = _target_labels(mask)
    if n == 0:
        return np.zeros((0, 2), dtype=np.int32)
    centroids = np.array(ndimage.center_of_mass(np.ones_like(labels), labels, range(1, n + 1)))
    points = np.floor(centroids).astype(np.int32)
    return _unique_raster_order(points)


def coarse_points(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One point per target drawn around the centroid, resampled until it lies on a target.

    Offsets are Normal(0, 0.25) times half the bounding-box size, as in ``coarse_anno.m``;
    the generator must be seeded by the caller (the original is unseeded).
    """
    labels, n = _target_labels(mask)
    if n == 0:
        return np.zeros((0, 2), dtype=np.int32)
    on_target = mask > 0
    h, w = mask.shape
    centroids = ndimage.center_of_mass(np.ones_like(labels), labels, range(1, n + 1))
    boxes = ndimage.find_objects(labels)
    points = []
    for (cy, cx), box in zip(centroids, boxes):
        bh, bw = box[0].stop - box[0].start, box[1].stop - box[1].start
        while True:
            gy, gx = rng.normal(0.0, COARSE_SIGMA, size=2)
            y = int(np.clip(np.floor(cy + bh / 2 * gy), 0, h - 1))
            x = int(np.clip(np.floor(cx + bw / 2 * gx), 0, w - 1))
            if on_target[y, x]:
                points.append((y, x))
                break
    return _unique_raster_order(np.array(points, dtype=np.int32))


def _unique_raster_order(points: np.ndarray) -> np.ndarray:
    """As read back from a PNG: colliding points merge, order is raster order."""
    return np.unique(points, axis=0).astype(np.int32).reshape(-1, 2)


def point_map(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A float32 map with 1 at each point, 0 elsewhere."""
    out = np.zeros(shape, dtype=np.float32)
    if len(points):
        out[points[:, 0], points[:, 1]] = 1.0
    return out
