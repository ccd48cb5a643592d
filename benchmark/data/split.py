"""In-memory form of one split of one dataset, as the engine and methods use it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Sample:
    """One image with its labels. ``mask`` keeps the raw 0..255 values (soft pixels too)."""

    name: str
    subset: str
    image: np.ndarray  # uint8 (H, W) grey
    mask: np.ndarray | None  # uint8 (H, W), None where the dataset ships points only
    centroid: np.ndarray  # int32 (n, 2) row/col
    coarse: np.ndarray  # int32 (n, 2) row/col

    @property
    def shape(self) -> tuple[int, int]:
        return self.image.shape  # type: ignore[return-value]

    def points(self, label_type: str) -> np.ndarray:
        if label_type == "centroid":
            return self.centroid
        if label_type == "coarse":
            return self.coarse
        raise ValueError(f"label type {label_type!r} has no points (use 'centroid' or 'coarse')")


@dataclass
class Split:
    """A list of samples plus what identifies them (for records and caches)."""

    dataset: str
    split: str
    samples: list[Sample]
    fingerprint: str
    repairs: list[str] = field(default_factory=list)  # documented fixes applied while reading

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def subsets(self) -> list[str]:
        return [s.subset for s in self.samples]

    def head(self, n: int | None) -> "Split":
        """The first ``n`` samples (all if None): the reduced profiles' subsets."""
        if n is None or n >= len(self.samples):
            return self
        return Split(self.dataset, self.split, self.samples[:n], head_fingerprint(self.fingerprint, len(self), n), self.repairs)


def head_fingerprint(fingerprint: str, count: int, n: int | None) -> str:
    """The fingerprint of the first ``n`` of ``count`` samples (records and staleness agree on it)."""
    return fingerprint if n is None or n >= count else f"{fingerprint}:head{n}"


VALIDATION_SEED = 20240601  # one split for every cell of a dataset: seeds vary training, not the held-out images


def carve_validation(n: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """(training, validation) indices of a training split of ``n`` images: a fixed-seed
    random ``fraction`` held out (at least 1 and at most n - 1 images when fraction > 0)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    if fraction == 0.0 or n < 2:
        return np.arange(n, dtype=np.int64), np.zeros(0, np.int64)
    k = min(n - 1, max(1, int(round(fraction * n))))
    held = np.sort(np.random.default_rng([VALIDATION_SEED, n]).permutation(n)[:k]).astype(np.int64)
    return np.setdiff1d(np.arange(n, dtype=np.int64), held), held
