"""A split loader whose training masks are noise: a method that never reads ground truth
trains the same with it (the "no ground truth in training" tests)."""

from __future__ import annotations

import numpy as np


def poisoned_train_masks(real):
    """Wrap ``load_split`` so that every training sample's mask is random bytes."""

    def poisoned(dataset, split, *args, **kwargs):
        s = real(dataset, split, *args, **kwargs)
        if split != "train":
            return s
        rng = np.random.default_rng(7)
        samples = [type(x)(**{**x.__dict__, "mask": rng.integers(0, 256, x.shape, dtype=np.uint8)}) for x in s.samples]
        return type(s)(s.dataset, s.split, samples, s.fingerprint, s.repairs)

    return poisoned
