"""Losses of the field, on logits (detectors never apply a sigmoid).

- ``soft_iou``: BasicIRSTD's SoftIoU, global over the batch, smooth 1.
- ``gaussian_focal``: LESPS's CornerNet-style focal loss for soft targets: positives are
  pixels whose target is exactly 1, negatives are weighted by (1 - Y)^4; the sum is
  divided by the number of positive pixels in the batch (at least 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_iou(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    pred = torch.sigmoid(logits.float())
    inter = (pred * target).sum()
    return 1.0 - (inter + smooth) / (pred.sum() + target.sum() - inter + smooth)


def gaussian_focal(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, gamma: float = 4.0) -> torch.Tensor:
    logits = logits.float()
    pred = torch.sigmoid(logits)
    positive = target.eq(1).float()
    negative_weight = (1.0 - target).pow(gamma)
    pos = -F.logsigmoid(logits) * (1.0 - pred).pow(alpha) * positive
    neg = -F.logsigmoid(-logits) * pred.pow(alpha) * negative_weight * (1.0 - positive)
    return (pos + neg).sum() / positive.sum().clamp(min=1.0)


def combine_outputs(losses: list[torch.Tensor], rule: str) -> torch.Tensor:
    """Deep supervision: ``losses[0]`` is the final map's, the rest the side outputs'."""
    if rule == "final" or len(losses) == 1:
        return losses[0]
    if rule == "sum":
        return torch.stack(losses).sum()
    if rule == "mean":
        return torch.stack(losses).mean()
    raise ValueError(f"unknown deep-supervision rule {rule!r}; use mean, sum or final")
