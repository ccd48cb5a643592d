"""GSACP's loss parts. The paper names no mask loss, so (harness choice) SoftIoU on the
affinity targets plus LESPS's Gaussian focal term on the points; the contrastive part
is a hinge that pushes high-response background features away from the anchors.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from benchmark import losses
from methods._affinity_targets import AffinityTargets, find_points, unit_features

MASK_LOSSES = {"soft_iou": losses.soft_iou, "focal": losses.gaussian_focal}
_FAR = 40.0  # a logit this low contributes ~1e-35 to the focal loss: the pixel is left out


def point_focal(logits: torch.Tensor, points: torch.Tensor, support: torch.Tensor, background: bool = False) -> torch.Tensor:
    """LESPS's focal loss with the point map as target, on the point pixels only (the
    rest set to a detached very low logit, which adds ~0); with ``background`` also on
    the pixels outside every support, as negatives. Never on the support's other pixels,
    which the affinity targets may mark as target."""
    on_point = points > 0.5
    kept = on_point | ~support if background else on_point
    masked = torch.where(kept, logits, torch.full_like(logits, -_FAR))
    return losses.gaussian_focal(masked, on_point.float())


def hard_background_push(
    features: torch.Tensor,
    logits: torch.Tensor,
    points: torch.Tensor,
    support: torch.Tensor,
    hard: int,
    margin: float,
    center: bool = True,
    response: float = 0.5,
) -> torch.Tensor:
    """Mean hinge ``max(0, cos(f_bg, a) - margin)`` over pairs of the batch's anchors ``a``
    and the hard background ``f_bg``: each image's ``hard`` highest-response pixels outside
    every support whose probability exceeds ``response`` (false alarms at the evaluation
    threshold), on the student's features. Only the background moves: the anchors are
    detached, so the term cannot drag the target features that the masks are learnt from.
    Zero when every such pair is at cosine <= margin, without points, or without false
    alarms."""
    h, w = logits.shape[-2:]
    unit = unit_features(features, (h, w), center)
    b, y, x = find_points(points)
    if len(b) == 0 or hard < 1:
        return unit.sum() * 0.0
    anchors = unit[b, :, y, x].detach()  # (N, F)
    score = torch.sigmoid(logits.detach().float()).masked_fill(support, -1.0).flatten(1)  # (B, HW)
    top = score.topk(min(hard, score.shape[1]), dim=1)
    picked = unit.flatten(2).gather(2, top.indices[:, None, :].expand(-1, unit.shape[1], -1))  # (B, F, k)
    background = picked.permute(0, 2, 1)[top.values > response]  # (M, F): false alarms outside the supports
    if background.shape[0] == 0:
        return unit.sum() * 0.0
    return torch.relu(background @ anchors.T - margin).mean()


@dataclass(frozen=True)
class LossConfig:
    focal_weight: float = 1.0  # the LESPS point term beside SoftIoU on the targets
    focal_background: bool = False  # the point term also pushes down the pixels outside every support
    contrastive: bool = True
    contrastive_weight: float = 1.0
    hard: int = 16  # hard background pixels per image
    push_margin: float = 0.0  # hinge margin: background-anchor cosines above it are pushed down
    deep_supervision: str = "mean"
    mask_loss: str = "soft_iou"  # on the targets: soft_iou | focal (LESPS's, binary targets)


def output_terms(
    logits: torch.Tensor, targets: AffinityTargets, points: torch.Tensor, background: bool = False, mask_loss: str = "soft_iou"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask loss on the targets, focal point term) of one output map."""
    mask = MASK_LOSSES[mask_loss](logits, targets.target)
    return mask, point_focal(logits, points, targets.support, background)


def gsacp_loss(
    outputs: list[torch.Tensor],
    features: torch.Tensor | None,
    targets: AffinityTargets,
    points: torch.Tensor,
    cfg: LossConfig,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss and its named parts (detached tensors: no device sync per batch). The
    outputs combine by the deep-supervision rule; the contrastive term is computed once,
    on the student's decoder features, with the final map's response."""
    terms = [output_terms(o, targets, points, cfg.focal_background, cfg.mask_loss) for o in outputs]
    soft = losses.combine_outputs([t[0] for t in terms], cfg.deep_supervision)
    focal = losses.combine_outputs([t[1] for t in terms], cfg.deep_supervision)
    total = soft + cfg.focal_weight * focal
    parts = {"mask": soft.detach(), "point_focal": focal.detach()}
    if cfg.contrastive and features is not None:
        push = hard_background_push(features, outputs[0], points, targets.support, cfg.hard, cfg.push_margin)
        total = total + cfg.contrastive_weight * push
        parts["contrastive"] = push.detach()
    return total, parts
