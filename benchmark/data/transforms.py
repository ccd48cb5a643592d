"""Normalization and training augmentation (BasicIRSTD's pipeline, field-notes 3.0).

Random crop of ``crop`` pixels (zero-padded after normalization when the image is
smaller), drawn with probability ``pos_prob`` so that it contains a randomly chosen
labelled pixel; then vertical flip, horizontal flip and transpose, each with p = 0.5.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from benchmark.data.split import Sample


def norm_stats(samples: Sequence[Sample]) -> tuple[float, float]:
    """Mean of per-image means and mean of per-image stds (grey 0..255), as LESPS computes."""
    means = [float(s.image.mean()) for s in samples]
    stds = [float(s.image.std()) for s in samples]
    return float(np.mean(means)), float(np.mean(stds))


def normalize(image: np.ndarray, mean: float, std: float) -> np.ndarray:
    return (image.astype(np.float32) - mean) / std


def random_crop(
    arrays: Sequence[np.ndarray], positive: np.ndarray, crop: int, pos_prob: float, rng: np.random.Generator
) -> list[np.ndarray]:
    """Crop every array with one window; ``positive`` (bool) marks pixels a crop may target."""
    return random_crop_at(arrays, positive, crop, pos_prob, rng)[0]


def random_crop_at(
    arrays: Sequence[np.ndarray], positive: np.ndarray, crop: int, pos_prob: float, rng: np.random.Generator
) -> tuple[list[np.ndarray], tuple[int, int]]:
    """``random_crop`` plus the window's top-left corner in image coordinates (images
    smaller than the crop are padded at the bottom and right, so the corner holds)."""
    h, w = arrays[0].shape[-2:]
    ph, pw = max(h, crop), max(w, crop)
    if (ph, pw) != (h, w):
        arrays = [np.pad(a, [(0, 0)] * (a.ndim - 2) + [(0, ph - h), (0, pw - w)]) for a in arrays]
        positive = np.pad(positive, [(0, ph - h), (0, pw - w)])
    coords = None
    if pos_prob > 0 and rng.random() < pos_prob:
        rows, cols = np.nonzero(positive)
        if len(rows):
            k = rng.integers(len(rows))
            coords = rows[k], cols[k]
    if coords is None:
        top, left = rng.integers(0, ph - crop + 1), rng.integers(0, pw - crop + 1)
    else:
        r, c = coords
        top = rng.integers(max(0, r - crop + 1), min(r, ph - crop) + 1)
        left = rng.integers(max(0, c - crop + 1), min(c, pw - crop) + 1)
    return [a[..., top : top + crop, left : left + crop] for a in arrays], (int(top), int(left))


Flips = tuple[bool, bool, bool]  # vertical flip, horizontal flip, transpose, applied in that order


def random_flips(arrays: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Vertical flip, horizontal flip, transpose (p = 0.5 each), the same for every array."""
    return apply_flips(arrays, draw_flips(rng))


def draw_flips(rng: np.random.Generator) -> Flips:
    vflip, hflip, transpose = rng.random(3) < 0.5
    return bool(vflip), bool(hflip), bool(transpose)


def apply_flips(arrays: Sequence[np.ndarray], flips: Flips) -> list[np.ndarray]:
    vflip, hflip, transpose = flips
    out = []
    for a in arrays:
        if vflip:
            a = a[..., ::-1, :]
        if hflip:
            a = a[..., :, ::-1]
        if transpose:
            a = np.swapaxes(a, -1, -2)
        out.append(np.ascontiguousarray(a))
    return out


def undo_flips(array: np.ndarray, flips: Flips) -> np.ndarray:
    """The inverse of ``apply_flips``: transpose, then horizontal, then vertical flip."""
    vflip, hflip, transpose = flips
    if transpose:
        array = np.swapaxes(array, -1, -2)
    if hflip:
        array = array[..., :, ::-1]
    if vflip:
        array = array[..., ::-1, :]
    return array
