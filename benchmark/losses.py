"""Losses of the field, on logits (detectors never apply a sigmoid).

- ``soft_iou``: BasicIRSTD's SoftIoU, global over the batch, smooth 1.
- ``gaussian_focal``: LESPS's CornerNet-style focal loss for soft targets (``utils.py``
  ``focal_loss``): the positive term is weighted by the target itself, the negative term
  by (1 - Y)^4, so an evolved pixel at Y = 0.5 is pulled up (optimum P ~ 0.69), not down;
  the sum is divided by the number of pixels whose target is exactly 1 (at least 1).
- ``edge_ohem_bce``: PAL's ``edgeSCE_loss`` as its code runs: per-pixel BCE times 4 on
  every pixel (its edge map gets ``edge[edge==0]=1`` before ``edge[edge>0]=4``, so the
  intended boundary weighting is a uniform x4), then only the hardest half of the
  batch's pixels averaged.
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
    """``-[Y (1-P)^alpha log P + (1-Y)^gamma P^alpha log(1-P)]`` summed, over max(1, #{Y == 1}).

    Log-probabilities come from ``logsigmoid`` (LESPS: ``log(P + 1e-12)`` on a sigmoid
    output; the same away from saturation, finite where P rounds to 0 or 1)."""
    logits = logits.float()
    target = target.float()
    pred = torch.sigmoid(logits)
    pos = -F.logsigmoid(logits) * (1.0 - pred).pow(alpha) * target
    neg = -F.logsigmoid(-logits) * pred.pow(alpha) * (1.0 - target).pow(gamma)
    return (pos + neg).sum() / target.eq(1).sum().clamp(min=1).float()


def edge_ohem_bce(logits: torch.Tensor, target: torch.Tensor, weight: float = 4.0, keep: float = 0.5) -> torch.Tensor:
    """PAL's loss: BCE with logits per pixel times ``weight`` (PAL's code: 4 on every pixel);
    the pixels whose loss is at least the element at index ``int(keep * n)`` of the
    ascending sort (the batch's median) are averaged, so easy background is ignored."""
    per_pixel = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
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
