"""PAL's training augmentation (``train_model.py`` @e89262fc), in numpy.

PAL crops first (uniform 256 window, zero-padded grey values), then applies the
albumentations (1.x) policy ``SomeOf(list, n=3, p=0.5)``: with probability 0.5, draw 3
transforms *with replacement*, weighted by their ``p``, and apply each one (forced).
The list and weights: vertical flip .5, horizontal flip .5, transpose .5, rotate by a
multiple of 90 degrees .5, brightness +-0.3 .2, contrast +-0.3 .2, rotate +-45 degrees .3,
shift +-10% .5, scale 0.8-1.2 .5, Gaussian noise (variance 10-50) .2, no-op .5, no-op .5.
Geometric warps are OpenCV's: about the centre (w/2 - 0.5, h/2 - 0.5), reflect-101
borders, bilinear for the image, nearest for masks. The image stays in grey levels
(0-255) until normalization, which comes after.

Against albumentations, knowingly: the noise is one channel (the engine replicates grey
into 3 channels afterwards; albumentations draws it per channel), and brightness or
contrast after noise clips to 0-255 (albumentations clips a float image to 0-1 there).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from scipy import ndimage

Arrays = list[np.ndarray]

GATE = 0.5  # probability that the SomeOf block runs at all
DRAWS = 3


def _vflip(image: np.ndarray, masks: Arrays, rng: np.random.Generator) -> tuple[np.ndarray, Arrays]:
    return image[::-1], [m[::-1] for m in masks]


def _hflip(image: np.ndarray, masks: Arrays, rng: np.random.Generator) -> tuple[np.ndarray, Arrays]:
    return image[:, ::-1], [m[:, ::-1] for m in masks]


def _transpose(image: np.ndarray, masks: Arrays, rng: np.random.Generator) -> tuple[np.ndarray, Arrays]:
    return image.T, [m.T for m in masks]


def _rot90(image: np.ndarray, masks: Arrays, rng: np.random.Generator) -> tuple[np.ndarray, Arrays]:
    k = int(rng.integers(0, 4))
    return np.rot90(image, k), [np.rot90(m, k) for m in masks]


def _lut(image: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """albumentations' uint8 brightness/contrast: ``clip(v*alpha + beta*255)`` then truncation."""
    out = np.clip(image * alpha + beta * 255.0, 0, 255)
    return np.floor(out) if _integral(image) else out


def _brightness(image: np.ndarray, masks: Arrays, rng: np.random.Generator) -> tuple[np.ndarray, Arrays]:
    return _lut(image, 1.0, float(rng.uniform(-0.3, 0.3))), masks


def _contrast(image: np.ndarray, masks: Arrays, rng: np.random.Generator) -> tuple[np.ndarray, Arrays]:
    return _lut(image, 1.0 + float(rng.uniform(-0.3, 0.3)), 0.0), masks


def _noise(image: np.ndarray, masks: Arrays, rng: np.random.Generator) -> tuple[np.ndarray, Arrays]:
    sigma = float(rng.uniform(10.0, 50.0)) ** 0.5
    return image + rng.normal(0.0, sigma, image.shape).astype(np.float32), masks


def _integral(image: np.ndarray) -> bool:
    """Still uint8-valued (no noise drawn yet): warps and LUTs then round as OpenCV does
    on uint8; after the (continuous) noise no pixel is integral any more."""
    return bool(np.all(image == np.round(image)))


def rotation_matrix(shape: tuple[int, int], angle: float, scale: float, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """OpenCV ``getRotationMatrix2D`` about (w/2 - 0.5, h/2 - 0.5), plus a shift of
    (dx*w, dy*h): a 2x3 map from source (x, y) to destination (x, y)."""
    h, w = shape
    cx, cy = w / 2 - 0.5, h / 2 - 0.5
    a, b = scale * np.cos(np.deg2rad(angle)), scale * np.sin(np.deg2rad(angle))
    return np.array([[a, b, (1 - a) * cx - b * cy + dx * w], [-b, a, b * cx + (1 - a) * cy + dy * h]])


def warp(array: np.ndarray, matrix: np.ndarray, order: int) -> np.ndarray:
    """OpenCV ``warpAffine`` (forward 2x3 ``matrix`` in x/y) with reflect-101 borders."""
    inverse = np.linalg.inv(np.vstack([matrix, [0.0, 0.0, 1.0]]))[:2]
    swap = np.array([[0, 1], [1, 0]])
    linear = swap @ inverse[:, :2] @ swap  # in (row, col)
    offset = swap @ inverse[:, 2]
    out = ndimage.affine_transform(array.astype(np.float64), linear, offset, order=order, mode="mirror")
    return out.astype(array.dtype)


def _warp_all(image: np.ndarray, masks: Arrays, matrix: np.ndarray) -> tuple[np.ndarray, Arrays]:
    warped = warp(image, matrix, order=1)
    if _integral(image):
        warped = np.clip(np.round(warped), 0, 255).astype(image.dtype)
    return warped, [warp(m, matrix, order=0) for m in masks]


def _rotate(image: np.ndarray, masks: Arrays, rng: np.random.Generator) -> tuple[np.ndarray, Arrays]:
    return _warp_all(image, masks, rotation_matrix(image.shape, float(rng.uniform(-45, 45)), 1.0))


def _shift(image: np.ndarray, masks: Arrays, rng: np.random.Generator) -> tuple[np.ndarray, Arrays]:
    dx, dy = (float(v) for v in rng.uniform(-0.1, 0.1, 2))
    return _warp_all(image, masks, rotation_matrix(image.shape, 0.0, 1.0, dx, dy))


def _scale(image: np.ndarray, masks: Arrays, rng: np.random.Generator) -> tuple[np.ndarray, Arrays]:
    return _warp_all(image, masks, rotation_matrix(image.shape, 0.0, float(rng.uniform(0.8, 1.2))))


def _noop(image: np.ndarray, masks: Arrays, rng: np.random.Generator) -> tuple[np.ndarray, Arrays]:
    return image, masks


Transform = Callable[[np.ndarray, Arrays, np.random.Generator], tuple[np.ndarray, Arrays]]
POLICY: tuple[tuple[Transform, float], ...] = (
    (_vflip, 0.5),
    (_hflip, 0.5),
    (_transpose, 0.5),
    (_rot90, 0.5),
    (_brightness, 0.2),
    (_contrast, 0.2),
    (_rotate, 0.3),
    (_shift, 0.5),
    (_scale, 0.5),
    (_noise, 0.2),
    (_noop, 0.5),
    (_noop, 0.5),
)


def augment(image: np.ndarray, masks: Sequence[np.ndarray], rng: np.random.Generator) -> tuple[np.ndarray, Arrays]:
    """Apply PAL's policy to a grey crop (float32, 0-255) and its masks (same window).

    Returns contiguous float32 arrays; square crops keep their shape under every transform.
    """
    image, out = image.astype(np.float32), list(masks)
    if rng.random() < GATE:
        weights = np.array([p for _, p in POLICY])
        for i in rng.choice(len(POLICY), size=DRAWS, replace=True, p=weights / weights.sum()):
            image, out = POLICY[i][0](image, out, rng)
    return np.ascontiguousarray(image, dtype=np.float32), [np.ascontiguousarray(m, dtype=np.float32) for m in out]
