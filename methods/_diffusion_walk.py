"""The particle walk of the annotator: heat from point sources.

Diffuse to Detect (``Diffusion_Annotation``) releases ``particles`` walkers at each
source and moves them ``steps`` times by ``y += gy dt + sqrt(2 D dt) N(0, 1)`` (and the
same for x), where ``gy, gx`` is the gradient of the crop and ``D`` the diffusivity, both
read at the walker's cell (position truncated, clipped to the crop); the heat is the
histogram of the final cells. ``particle_heat`` does exactly this for all walkers of
many targets at once. (``methods/_diffusion_pde.py`` computes their expected density.)

Normal deviates come from a table of the 65536 midpoint quantiles of N(0, 1) (rescaled
to unit variance) indexed by 16-bit slices of the generator's raw output: three times
cheaper than ``standard_normal``, and a walk of at most a few thousand walkers cannot tell
(the table cuts the tails at 4.3 sigma).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

CHUNK = 1 << 14  # walkers moved together: their arrays stay in cache


@dataclass(frozen=True)
class WalkSpec:
    """Walkers per source, steps and time step of one target class."""

    particles: int
    steps: int
    dt: float


@dataclass
class DiffusionField:
    """What the walk of one target needs: its crop's drift and diffusivity, and its sources."""

    gy: np.ndarray  # gradient along rows (the drift), float32 (h, w)
    gx: np.ndarray
    coef: np.ndarray  # diffusivity D, (h, w)
    sources: np.ndarray  # (S, 2) float (row, col) in crop coordinates


@lru_cache(maxsize=1)
def _normal_table() -> np.ndarray:
    from statistics import NormalDist  # the standard library's inverse CDF: no scipy.special/torch import

    inverse = NormalDist().inv_cdf
    table = np.array([inverse((k + 0.5) / 65536) for k in range(65536)])
    return (table / np.sqrt(np.mean(table**2))).astype(np.float32)


def normals(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` float32 standard normal deviates (16-bit quantiles) from ``rng``'s bit stream."""
    raw = rng.bit_generator.random_raw((n + 3) // 4).view(np.uint16)
    return np.take(_normal_table(), raw[:n])


def _layout(fields: Sequence[DiffusionField], dt: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Drift y, drift x, step spread of all crops, flattened one after another, and each crop's offset."""
    sizes = np.array([f.coef.size for f in fields])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    drift_y = np.concatenate([f.gy.ravel() * np.float32(dt) for f in fields]).astype(np.float32)
    drift_x = np.concatenate([f.gx.ravel() * np.float32(dt) for f in fields]).astype(np.float32)
    spread = np.concatenate([np.sqrt(2.0 * f.coef.ravel() * dt) for f in fields]).astype(np.float32)
    return drift_y, drift_x, spread, offsets


def particle_heat(fields: Sequence[DiffusionField], spec: WalkSpec, rng: np.random.Generator) -> list[np.ndarray]:
    """Histogram (float32 counts, crop shape) of the walkers' final cells, per target."""
    if not fields:
        return []
    drift_y, drift_x, spread, offsets = _layout(fields, spec.dt)
    per_target = np.array([len(f.sources) * spec.particles for f in fields])
    owner = np.repeat(np.arange(len(fields)), per_target)
    start = np.concatenate([np.repeat(f.sources, spec.particles, axis=0) for f in fields]).astype(np.float32)
    shape = np.array([f.coef.shape for f in fields], dtype=np.int64)
    counts = np.zeros(len(drift_y))
    for lo in range(0, len(owner), CHUNK):
        who = owner[lo : lo + CHUNK]
        cells = _walk(start[lo : lo + CHUNK], offsets[who], shape[who], drift_y, drift_x, spread, spec.steps, rng)
        counts += np.bincount(cells, minlength=len(counts))
    return [counts[o : o + f.coef.size].reshape(f.coef.shape).astype(np.float32) for o, f in zip(offsets, fields)]


def _walk(
    start: np.ndarray, offset: np.ndarray, shape: np.ndarray, drift_y: np.ndarray, drift_x: np.ndarray,
    spread: np.ndarray, steps: int, rng: np.random.Generator,
) -> np.ndarray:
    """Move one chunk of walkers ``steps`` times; return their final flat cells."""
    y, x = start[:, 0].copy(), start[:, 1].copy()
    last_y, last_x, width = shape[:, 0] - 1, shape[:, 1] - 1, shape[:, 1]
    n = len(y)
    for _ in range(steps):
        cell = _cell(y, x, last_y, last_x, width, offset)
        step = spread[cell]
        noise = normals(rng, 2 * n)
        y += drift_y[cell] + step * noise[:n]
        x += drift_x[cell] + step * noise[n:]
    return _cell(y, x, last_y, last_x, width, offset)


def _cell(y: np.ndarray, x: np.ndarray, last_y: np.ndarray, last_x: np.ndarray, width: np.ndarray,
          offset: np.ndarray) -> np.ndarray:
    """Flat index of each walker's cell: position truncated toward zero (``astype(int)``), clipped."""
    iy = np.clip(y.astype(np.int64), 0, last_y)
    ix = np.clip(x.astype(np.int64), 0, last_x)
    iy *= width
    iy += ix
    iy += offset
    return iy
