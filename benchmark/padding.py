"""Test-time padding to a multiple of the network stride, and cropping back.

The field's policies differ (field-notes 1.2): BasicIRSTD pads bottom/right with zeros
(after normalization) only when a side is not divisible; LESPS always adds a stride;
PAL pads the raw image. We use BasicIRSTD's policy.
"""

from __future__ import annotations

import numpy as np


def padded_size(size: int, multiple: int = 32) -> int:
    """Smallest multiple of ``multiple`` that is >= ``size`` (BasicIRSTD's rule)."""
    return -(-size // multiple) * multiple


def pad_bottom_right(array: np.ndarray, multiple: int = 32, value: float = 0.0) -> np.ndarray:
    """Pad the last two axes at the bottom/right up to a multiple of ``multiple``."""
    h, w = array.shape[-2:]
    ph, pw = padded_size(h, multiple) - h, padded_size(w, multiple) - w
    if ph == 0 and pw == 0:
        return array
    pad = [(0, 0)] * (array.ndim - 2) + [(0, ph), (0, pw)]
    return np.pad(array, pad, mode="constant", constant_values=value)
