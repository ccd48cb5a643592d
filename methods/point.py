"""Naive point supervision: train directly on the single-point labels.

The "without LESPS" row of the LESPS paper: the same Gaussian focal loss, no label
evolution, so the detector learns to fire on the point pixels only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmark.lazy import lazy_module
from methods.base import Method, MethodContext, register_method

losses = lazy_module("benchmark.losses")  # torch loads with the first loss, not on import (listing, status)
if TYPE_CHECKING:
    import torch


@register_method
class Point(Method):
    name = "point"
    description = "naive point supervision: the point labels as targets, LESPS's focal loss"
    protocol = "LESPS @9292bba5 without label evolution: Gaussian focal loss, outputs summed, 1-channel input, plain random crops"
    caveats = ("its Pd is capped, not only low: under LESPS's flips and transposes a floored-centroid label lies on one of 1, 2 or 4 "
               "pixels at random, where a detector that generalizes peaks at about 1, 0.50 or 0.40, so only targets of the first kind "
               "pass the 0.5 threshold unless long training overfits (docs/fidelity.md, 1.1; LESPS's Pd 89 took ~42,000 steps)",)

    def output_loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor], ctx: MethodContext) -> torch.Tensor:
        return losses.gaussian_focal(logits, batch["label"])

    def paper_overrides(self) -> dict:
        # LESPS's pipeline without its evolution (train.py): outputs summed, grey 1-channel
        # input, plain random crops
        return {"deep_supervision": "sum", "in_channels": 1, "pos_prob": 0.0}
