"""``diffusion[subset=k,subset_from=KEY]``: the paper's claim that the top 30% of the
training images, ranked by the weight the meta-classifier learned for them, trained from
scratch, match the whole split. The ranking comes from a finished run's record (its
last epoch logs each image's learned weight by name), never from ground truth."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmark.errors import PointbenchError


def learned_weights(record: dict[str, Any]) -> dict[str, float]:
    """Image name -> learned weight, from the last epoch of a finished diffusion record."""
    for entry in reversed(record.get("history", [])):
        weights = (entry.get("method") or {}).get("learned_weights")
        if weights:
            return {str(k): float(v) for k, v in weights.items()}
    return {}


def ranked_subset(ctx: Any, key: str, percent: float) -> np.ndarray:
    """The top ``percent`` of ``ctx.train_indices`` by learned weight (ties: split order)."""
    record = ctx.find_record(key)
    if record is None:
        raise PointbenchError(f"diffusion subset_from={key}: no finished record with that key in this results folder; "
                              "run the full diffusion cell first and pass its record's 'key'")
    weights = learned_weights(record)
    if not weights:
        raise PointbenchError(f"diffusion subset_from={key}: that record logs no learned weights "
                              "(it must be a diffusion run with balance=on past the outer level's start)")
    names = [ctx.samples[int(i)].name for i in ctx.train_indices]
    missing = [n for n in names if n not in weights]
    if missing:
        raise PointbenchError(f"diffusion subset_from={key}: {len(missing)} training images (e.g. {missing[0]!r}) have "
                              "no learned weight there; rank from a run on the same dataset and split")
    order = sorted(range(len(names)), key=lambda j: (-weights[names[j]], j))
    keep = max(1, int(round(percent / 100.0 * len(names))))
    return np.sort(np.asarray(ctx.train_indices)[order[:keep]]).astype(np.int64)
