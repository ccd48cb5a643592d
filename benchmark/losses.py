"""Losses of the field, on logits (detectors never apply a sigmoid).

- ``soft_iou``: BasicIRSTD's SoftIoU, global over the batch, smooth 1.
- ``gaussian_focal``: LESPS's CornerNet-style focal loss for soft targets: positives are
  pixels whose target is exactly 1, negatives are weighted by (1 - Y)^4; the sum is
  divided by the number of positive pixels in the batch (at least 1).
- ``edge_ohem_bce``: PAL's ``edgeSCE_loss``: per-pixel BCE, pixels at the label's
  boundary weighted x4, then only the hardest half of the batch's pixels averaged.
- ``soft_iou_per_image``, ``per_image``, ``weighted_mean``: per-image values of a loss
  and their weighted mean, for per-sample weights.
"""

from __future__ import annotations

from typing import Any, Callable

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


def label_edges(target: torch.Tensor) -> torch.Tensor:
    """Pixels of a binary target (..., H, W) within distance 1 of its boundary: those with
    a 4-neighbour of the other class. The outermost rows and columns are zeroed, as PAL
    intends (its distance-transform edge map marks every border pixel)."""
    t = target > 0.5
    edge = torch.zeros_like(t)
    vertical = t[..., 1:, :] != t[..., :-1, :]
    horizontal = t[..., :, 1:] != t[..., :, :-1]
    edge[..., 1:, :] |= vertical
    edge[..., :-1, :] |= vertical
    edge[..., :, 1:] |= horizontal
    edge[..., :, :-1] |= horizontal
    edge[..., (0, -1), :] = False
    edge[..., :, (0, -1)] = False
    return edge


def edge_ohem_bce(logits: torch.Tensor, target: torch.Tensor, edge_weight: float = 4.0, keep: float = 0.5) -> torch.Tensor:
    """PAL's loss: BCE with logits per pixel, x ``edge_weight`` on ``label_edges``; the
    pixels whose weighted loss is at least the batch's median (the element at index
    ``int(keep * n)`` of the ascending sort) are averaged, so easy background is ignored."""
    per_pixel = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
    weight = torch.where(label_edges(target), edge_weight, 1.0)
    flat = (per_pixel * weight).flatten()
    cut = flat.detach().sort().values[int(keep * flat.numel())]
    return flat[flat >= cut].mean()


def combine_outputs(losses: list[torch.Tensor], rule: str) -> torch.Tensor:
    """Deep supervision: ``losses[0]`` is the final map's, the rest the side outputs'."""
    if rule == "final" or len(losses) == 1:
        return losses[0]
    if rule == "sum":
        return torch.stack(losses).sum()
    if rule == "mean":
        return torch.stack(losses).mean()
    raise ValueError(f"unknown deep-supervision rule {rule!r}; use mean, sum or final")


# per-image losses (sample weights) ------------------------------------------------------
def soft_iou_per_image(logits: torch.Tensor, target: torch.Tensor, smooth: float = 1.0) -> torch.Tensor:
    """``soft_iou`` of each image of the batch on its own: shape (B,). Diffuse-to-Detect
    weights SoftIoU per sample; the batch-global ``soft_iou`` cannot be weighted."""
    pred = torch.sigmoid(logits.float()).flatten(1)
    target = target.flatten(1)
    inter = (pred * target).sum(1)
    return 1.0 - (inter + smooth) / (pred.sum(1) + target.sum(1) - inter + smooth)


def per_image(loss: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """Any batch loss ``f(logits, target, **kw)`` as per-image values (B,): ``f`` on each
    image alone (its normalizations, such as the focal loss's positive count, per image)."""

    def each(logits: torch.Tensor, target: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        return torch.stack([loss(logits[i : i + 1], target[i : i + 1], **kwargs) for i in range(logits.shape[0])])

    each.__name__ = f"per_image_{getattr(loss, '__name__', 'loss')}"
    return each


def weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """``sum(w_i * l_i) / B``: with weights of mean 1 (as methods normalize them) the
    plain mean's scale; a weight of 0 drops a sample, 2 counts it twice."""
    if values.shape != weights.shape:
        raise ValueError(f"{values.shape[0]} per-image losses but {weights.shape[0]} weights")
    return (values * weights.to(values.dtype)).sum() / values.shape[0]
