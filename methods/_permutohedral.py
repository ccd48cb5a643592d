"""The permutohedral lattice of densecrf (Adams et al. 2010), as pydensecrf filters with it.

pydensecrf evaluates the dense CRF's Gaussian sums on this lattice, which approximates
them (a wider, slightly anisotropic blur; see ``methods/_crf.py``). Where a method's
public code ran pydensecrf, this reproduces its numbers to float rounding, and it is far
cheaper than the exact sums on crops with many colours. Followed from densecrf 2
(``permutohedral.cpp``, the SSE build pydensecrf 1.0rc3 compiles on x86): features
elevated onto the hyperplane with ``E`` scaled by ``sqrt(2/3) (d + 1)``, the nearest
remainder-0 point by rounding half to even, ranks by strict comparison (ties counted for
the later coordinate), barycentric weights in float32, splat, one ``[1/2, 1, 1/2]``
blur pass along each of the ``d + 1`` lattice axes (a missing neighbour counts 0), slice
scaled by ``1 / (1 + 2^-d)``. Sums are float64 here (float32 there).
"""

from __future__ import annotations

import numpy as np


class Permutohedral:
    """``x -> K x`` for the Gaussian kernel ``exp(-|f_i - f_j|^2 / 2)`` of features ``f`` (N, d).

    ``groups`` (N,) splits the points into independent problems (e.g. the boxes of a whole
    split) that share one lattice but no vertex: one call filters them all.
    """

    def __init__(self, features: np.ndarray, groups: np.ndarray | None = None):
        f = np.asarray(features, dtype=np.float32)
        n, d = f.shape
        self.d = d
        groups = np.zeros(n, np.int64) if groups is None else np.asarray(groups, dtype=np.int64)
        elevated = _elevate(f)
        rem0, rank = _enclosing_simplex(elevated)
        self.weights = _barycentric(elevated, rem0, rank)[:, : d + 1]
        keys = _vertex_keys(rem0, rank)  # (N, d + 1, d)
        keys = np.concatenate([keys, np.broadcast_to(groups[:, None, None], (n, d + 1, 1))], axis=2).reshape(-1, d + 1)
        self._codec = _codec(keys, d)
        self._lattice, inverse = np.unique(_pack(keys, self._codec), return_inverse=True)
        self.offsets = inverse.reshape(n, d + 1) + 1  # slot 0 holds the value of a missing vertex (0)
        self.neighbours = self._neighbours()
        self.alpha = 1.0 / (1.0 + 2.0 ** (-d))

    def _neighbours(self) -> np.ndarray:
        """(d + 1, 2, M + 1) slots of each vertex's two neighbours along each lattice axis."""
        d = self.d
        keys = _unpack(self._lattice, self._codec)  # (M, d + 1): d coordinates and the group
        step = np.full((d + 1, 2, 1, d + 1), 1, np.int64) * np.array([-1, 1])[None, :, None, None]
        step[..., d] = 0  # the group never changes
        for axis in range(d):
            step[axis, :, 0, axis] = (d, -d)
        candidates = keys[None, None] + step  # (d + 1, 2, M, d + 1)
        found = self._find(candidates.reshape(-1, d + 1)).reshape(d + 1, 2, -1)
        return np.concatenate([np.zeros((d + 1, 2, 1), np.int64), found], axis=2)  # slot 0 stays 0

    def _find(self, keys: np.ndarray) -> np.ndarray:
        """Slot of each key (0 where the lattice has no such vertex); keys within the codec's margins."""
        packed = _pack(keys, self._codec)
        where = np.minimum(np.searchsorted(self._lattice, packed), len(self._lattice) - 1)
        return np.where(self._lattice[where] == packed, where + 1, 0)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """``values`` (L, N) -> (L, N)."""
        return np.stack([self._filter(v) for v in np.atleast_2d(values)])

    def _filter(self, v: np.ndarray) -> np.ndarray:
        slots = len(self._lattice) + 1
        lattice = np.bincount(self.offsets.ravel(), (self.weights * v[:, None]).ravel(), slots)
        for down, up in self.neighbours:
            lattice = lattice + 0.5 * (lattice[down] + lattice[up])
            lattice[0] = 0.0
        return (self.weights * lattice[self.offsets]).sum(1) * self.alpha


def _elevate(f: np.ndarray) -> np.ndarray:
    """``E f`` (N, d + 1): the features lifted onto the plane ``sum = 0``, float32 as densecrf."""
    n, d = f.shape
    inv_std = np.float32(np.sqrt(2.0 / 3.0) * (d + 1))
    scale = np.array([1.0 / np.sqrt((i + 2) * (i + 1)) * float(inv_std) for i in range(d)], dtype=np.float32)
    elevated = np.empty((n, d + 1), np.float32)
    sm = np.zeros(n, np.float32)
    for j in range(d, 0, -1):
        cf = f[:, j - 1] * scale[j - 1]
        elevated[:, j] = sm - np.float32(j) * cf
        sm = sm + cf
    elevated[:, 0] = sm
    return elevated


def _enclosing_simplex(elevated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The remainder-0 lattice point of each feature and the rank of each coordinate."""
    n, d1 = elevated.shape
    down_factor, up_factor = np.float32(1.0 / d1), np.float32(d1)
    v = np.rint(down_factor * elevated)  # SSE rounding: to nearest, ties to even
    rem0 = v * up_factor
    total = np.zeros(n, np.float32)
    for i in range(d1):
        total = total + v[:, i]
    rank = np.zeros((n, d1), np.float32)
    rest = elevated - rem0
    for i in range(d1 - 1):
        for j in range(i + 1, d1):
            smaller = (rest[:, i] < rest[:, j]).astype(np.float32)
            rank[:, i] += smaller
            rank[:, j] += np.float32(1.0) - smaller
    rank += total[:, None]
    shift = np.where(rank < 0, up_factor, np.float32(0.0)) - np.where(rank >= up_factor, up_factor, np.float32(0.0))
    return rem0 + shift, rank + shift


def _barycentric(elevated: np.ndarray, rem0: np.ndarray, rank: np.ndarray) -> np.ndarray:
    n, d1 = elevated.shape
    d = d1 - 1
    weights = np.zeros((n, d + 2), np.float32)
    rows = np.arange(n)
    for i in range(d1):
        v = (elevated[:, i] - rem0[:, i]) * np.float32(1.0 / d1)
        p = d - rank[:, i].astype(np.int64)
        weights[rows, p] += v
        weights[rows, p + 1] -= v
    weights[:, 0] += np.float32(1.0) + weights[:, d + 1]
    return weights


def _vertex_keys(rem0: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """(N, d + 1, d) integer keys of the simplex's vertices (first d coordinates)."""
    n, d1 = rem0.shape
    d = d1 - 1
    r, k = np.meshgrid(np.arange(d1), np.arange(d1), indexing="ij")
    canonical = np.where(k <= d - r, r, r - d1)  # canonical[remainder, rank]
    ranks = rank[:, :d].astype(np.int64)
    return rem0[:, None, :d].astype(np.int64) + canonical[:, ranks].transpose(1, 0, 2)


def _codec(keys: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bit fields that pack a key row into one int64, with room for the +-d of the neighbours."""
    low = keys.min(0) - d - 1
    span = keys.max(0) + d + 2 - low
    bits = np.ceil(np.log2(np.maximum(span, 2))).astype(np.int64)
    if bits.sum() > 63:
        raise ValueError("lattice keys too spread to pack into 64 bits; filter fewer groups at once")
    return low, np.concatenate([[0], np.cumsum(bits)[:-1]]), span


def _pack(keys: np.ndarray, codec: tuple[np.ndarray, ...]) -> np.ndarray:
    """Keys (K, d + 1) within the codec's range (the lattice's own keys and their neighbours) as int64."""
    low, shifts, _ = codec
    packed = (keys[:, 0] - low[0]) << shifts[0]
    for k in range(1, keys.shape[1]):
        packed |= (keys[:, k] - low[k]) << shifts[k]
    return packed


def _unpack(packed: np.ndarray, codec: tuple[np.ndarray, ...]) -> np.ndarray:
    low, shifts, span = codec
    bits = np.ceil(np.log2(np.maximum(span, 2))).astype(np.int64)
    return ((packed[:, None] >> shifts) & ((1 << bits) - 1)) + low
