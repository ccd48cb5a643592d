"""The meta-classifier of Diffuse to Detect's sample re-balancing (``train.py``:
``WeighterMLP``, ``_build_weight_features16``, ``_outer_update_weight_mlp``).

Per training sample of a batch, 16 features of its current prediction against its
pseudo-mask (z-scored within the batch) go through a 16-32-1 MLP; the weight is
``sigmoid(logit / 0.25)`` scaled to batch mean 1. The outer step raises the weights of
the samples whose residual ``P - Y`` agrees with the validation batch's mean residual
(``s_i``): following them moves the detector the way the validation loss wants.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from methods._diffusion_surrogate import surrogate

FEATURES = 16
TEMPERATURE = 0.25
OUTER_SCALE = 0.25  # f_psi = -0.25 mean(a_i s_i)
TOP_SHARE = 0.1  # top-10% residual L1
EPS = 1e-6


class WeightMLP(nn.Module):
    """16 -> 32 -> 1, the public code's ``WeighterMLP``."""

    def __init__(self, features: int = FEATURES, hidden: int = 32) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)


def zscore(x: torch.Tensor) -> torch.Tensor:
    """Columns standardized within the batch (a constant column becomes 0)."""
    return (x - x.mean(0, keepdim=True)) / x.std(0, keepdim=True).nan_to_num(0.0).clamp_min(EPS)


def normalized_weights(mlp: nn.Module, features: torch.Tensor) -> torch.Tensor:
    """``sigmoid(MLP(z) / 0.25)`` divided by its (detached) batch mean: mean 1, gradients kept."""
    raw = torch.sigmoid(mlp(zscore(features)) / TEMPERATURE)
    return raw / (raw.detach().mean() + EPS)


def _dice(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return 2.0 * (a * b).sum(dim=(1, 2, 3)) / (a.sum(dim=(1, 2, 3)) + b.sum(dim=(1, 2, 3)) + EPS)


def _alignment(residual: torch.Tensor, val_residual: torch.Tensor | None) -> list[torch.Tensor]:
    """Dot, cosine and sign agreement with the validation batch's mean residual (0 without one)."""
    b = residual.shape[0]
    if val_residual is None:
        return [residual.new_zeros(b)] * 3
    ref = val_residual.mean(0, keepdim=True)
    dot = (residual * ref).mean(dim=(1, 2, 3))
    flat, fref = residual.flatten(1), ref.flatten(1)
    cos = (flat * fref).sum(1) / ((flat.pow(2).sum(1) + EPS).sqrt() * (fref.pow(2).sum(1) + EPS).sqrt() + EPS)
    sign = torch.sign(residual).eq(torch.sign(ref)).float().mean(dim=(1, 2, 3))
    return [dot, cos, sign]


@torch.no_grad()
def sample_features(
    logits: torch.Tensor, labels: torch.Tensor, physics: tuple[torch.Tensor, ...], ema_loss: torch.Tensor,
    val_residual: torch.Tensor | None = None,
) -> torch.Tensor:
    """(B, 16): prediction statistics, residuals against the pseudo-mask, validation
    alignment, boundary band, Dice, foreground share, surrogate agreement, loss memory and
    the prior difficulty (0: the public code reads it from ``prior_difficulty.txt``, which
    its repository does not ship)."""
    z = logits.detach().float()
    p, m = torch.sigmoid(z), labels.detach().float().clamp(0, 1)
    b = p.shape[0]
    pc = p.clamp(EPS, 1 - EPS)
    residual = p - m
    absr = residual.abs().flatten(1)
    top = torch.topk(absr, max(1, int(TOP_SHARE * absr.shape[1])), dim=1).values.mean(1)
    pb, mb = (p > 0.5).float(), (m > 0.5).float()
    band = ((F.max_pool2d(mb, 3, 1, 1) - (1.0 - F.max_pool2d(1.0 - mb, 3, 1, 1))) > 0).float()
    band_l1 = (residual.abs() * band).sum(dim=(1, 2, 3)) / (band.sum(dim=(1, 2, 3)) + EPS)
    phi = surrogate(p, tuple(t.detach() for t in physics))
    columns = [
        p.mean(dim=(1, 2, 3)), z.abs().mean(dim=(1, 2, 3)),
        (-(pc * pc.log() + (1 - pc) * (1 - pc).log())).mean(dim=(1, 2, 3)),
        residual.abs().mean(dim=(1, 2, 3)), residual.pow(2).mean(dim=(1, 2, 3)), top,
        *_alignment(residual, val_residual),
        band_l1, _dice(pb, mb), pb.mean(dim=(1, 2, 3)),
        (phi - m).abs().mean(dim=(1, 2, 3)), _dice((phi > 0.5).float(), mb),
        ema_loss.to(p), p.new_zeros(b),
    ]
    return torch.stack(columns, dim=1)


@torch.no_grad()
def validation_alignment(probs: torch.Tensor, labels: torch.Tensor, val_probs: torch.Tensor,
                         val_labels: torch.Tensor) -> torch.Tensor:
    """``s_i = relu(mean_pixels((P_i - Y_i) * mean_val(P_v - Y_v)))``, z-scored over the batch."""
    ref = (val_probs.float() - val_labels.float()).mean(0, keepdim=True)
    s = torch.relu(((probs.float() - labels.float()) * ref).mean(dim=(1, 2, 3)))
    return (s - s.mean()) / (s.std().nan_to_num(0.0) + EPS)


def weight_objective(weights: torch.Tensor, alignment: torch.Tensor) -> torch.Tensor:
    """The meta-classifier's outer objective: ``-0.25 mean(a_i s_i)`` (minimized)."""
    return -OUTER_SCALE * (weights * alignment).mean()
