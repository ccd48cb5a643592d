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

    def output_loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor], ctx: MethodContext) -> torch.Tensor:
        return losses.gaussian_focal(logits, batch["label"])

    def paper_overrides(self) -> dict:
        # LESPS's pipeline without its evolution (train.py): outputs summed, grey 1-channel
        # input, plain random crops
        return {"deep_supervision": "sum", "in_channels": 1, "pos_prob": 0.0}
