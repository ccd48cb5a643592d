"""Seeds derived from a cell's fields by hashing (DomainBed style), and seeding of
every random source in a worker.

Python's ``hash()`` changes between processes (PYTHONHASHSEED), so seeds come from
md5 of a stable string.
"""

from __future__ import annotations

import hashlib
import random

import numpy as np


def seed_hash(*parts: object) -> int:
    """A 31-bit seed from any printable parts: same parts, same seed, on every machine."""
    text = "|".join(str(p) for p in parts)
    return int(hashlib.md5(text.encode("utf-8")).hexdigest()[:8], 16) & 0x7FFFFFFF


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy's legacy global generator and torch (all devices)."""
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
