"""The differentiable stand-in of the annotator that the outer step on ``theta`` goes
through (``train.py``, ``_pde_surrogate_from_pred``): the annotator itself (a walk, Otsu,
a CRF) has no gradient, so ``theta`` learns by how a few explicit heat steps on the
detector's own probability map, with the same physical parameters, match the
pseudo-masks. The regenerated labels then come from the real annotator at the new ``theta``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from methods._diffusion_field import physical_parameters

SURROGATE_STEPS, SURROGATE_DT = 3, 0.15
ENTROPY_WINDOW = 7
SOURCE_SHARE = 0.005  # the brightest 0.5% of pixels are the sources
EDGE_PENALTY = 0.15
# the largest diffusivity exponent that keeps three explicit steps finite in float32: each
# step grows |u| by at most 1 + 8 dt D0 e^k (D0 <= 4.16), and (1 + 2.6e12)^3 < 3.4e38
MAX_EXPONENT = 27.0

_SOBEL_X = ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0))
_LAPLACE = ((0.0, 1.0, 0.0), (1.0, -4.0, 1.0), (0.0, 1.0, 0.0))


class Theta(nn.Module):
    """The four unconstrained physical parameters (``tanh`` maps them; 0: the public defaults)."""

    def __init__(self) -> None:
        super().__init__()
        self.theta = nn.Parameter(torch.zeros(4))

    def physics(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        return physical_parameters(self.theta, torch.tanh)

    def values(self) -> tuple[float, float, float, float]:
        return tuple(float(v) for v in self.theta.detach().cpu())  # type: ignore[return-value]


def _kernel(rows: tuple[tuple[float, ...], ...], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(rows, dtype=like.dtype, device=like.device).view(1, 1, 3, 3)


def surrogate(probs: torch.Tensor, physics: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """``sigmoid(rho U + (1 - rho) S - 0.15 |grad P|)`` of probabilities ``(B, 1, H, W)``:
    ``U`` three explicit heat steps from ``P`` with the diffusivity falling with P's
    Sobel gradient and 7x7 binary entropy (z-scored per image), ``S`` the blurred top-0.5%."""
    d0, beta, rho, alpha = physics
    p = probs.float()
    gx, gy = F.conv2d(p, _kernel(_SOBEL_X, p), padding=1), F.conv2d(p, _kernel(_SOBEL_X, p).transpose(2, 3), padding=1)
    grad = torch.sqrt(gx * gx + gy * gy + 1e-12)
    local = F.avg_pool2d(p, ENTROPY_WINDOW, stride=1, padding=ENTROPY_WINDOW // 2).clamp(1e-4, 1 - 1e-4)
    entropy = -(local * local.log() + (1 - local) * (1 - local).log()) / math.log(2.0)
    complexity = alpha * grad + (1 - alpha) * entropy
    with torch.no_grad():  # the public code normalizes by statistics that carry no gradient
        mu = complexity.mean(dim=(1, 2, 3), keepdim=True)
        sd = complexity.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-4)
    # deviation: the exponent is capped at MAX_EXPONENT. The public code's exp overflows where
    # a crop's map is near constant (a target-free crop: sd 0.0025, a corner pixel at
    # z = -8.3, exp(6 x 8.3) ~ 4e21) and its three explicit steps then reach inf and NaN,
    # which poisoned the meta-classifier's features at epoch 5 of diffusion-sirst (session 6)
    exponent = (-beta * (complexity - mu) / sd).clamp(max=MAX_EXPONENT)
    coef = (d0 * torch.exp(exponent)).clamp(min=1e-4)
    u = p
    for _ in range(SURROGATE_STEPS):
        u = u + SURROGATE_DT * coef * F.conv2d(u, _kernel(_LAPLACE, p), padding=1)
    u = u.clamp(0.0, 1.0)
    return torch.sigmoid(rho * u + (1 - rho) * _sources(p) - EDGE_PENALTY * grad)


def _sources(p: torch.Tensor) -> torch.Tensor:
    flat = p.flatten(1)
    k = max(int(SOURCE_SHARE * flat.shape[1]), 1)
    kth = torch.topk(flat, k, dim=1).values[:, -1].view(-1, 1, 1, 1)
    raw = torch.relu(p - kth)
    raw = raw / (raw.amax(dim=(1, 2, 3), keepdim=True) + 1e-6)
    return F.conv2d(raw, torch.full((1, 1, 3, 3), 1.0 / 9.0, dtype=p.dtype, device=p.device), padding=1).clamp(0, 1)


def theta_objective(theta: Theta, probs: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """The outer objective on ``theta``: the surrogate of the (detached) predictions should
    match the pseudo-masks, and stay close to the predictions themselves (weight 0.5)."""
    p = probs.detach().float().clamp(1e-4, 1 - 1e-4)
    m = surrogate(p, theta.physics()).clamp(1e-4, 1 - 1e-4)
    return F.binary_cross_entropy(m, masks.detach().float().clamp(0, 1)) + 0.5 * F.binary_cross_entropy(m, p)
