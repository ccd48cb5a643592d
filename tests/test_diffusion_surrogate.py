"""The differentiable surrogate stays finite where the public code's overflows: a
target-free crop whose probability map is near constant (its complexity's spread tiny,
so a corner pixel's z is large) drove exp(-beta z) to ~1e22 and three explicit heat steps
to NaN."""

from __future__ import annotations

import torch

from methods._diffusion_surrogate import MAX_EXPONENT, Theta, surrogate, theta_objective
from methods._diffusion_weights import sample_features


def _flat_map(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return 0.013 + 0.001 * torch.randn(2, 1, 128, 128, generator=generator)  # what DNANet predicts off-target


def _uncapped(probs: torch.Tensor, beta: float) -> torch.Tensor:
    """The public formula's explicit steps with no cap, for the failure the cap prevents."""
    import methods._diffusion_surrogate as module

    original = module.MAX_EXPONENT
    module.MAX_EXPONENT = float("inf")
    try:
        d0, _, rho, alpha = (t.detach() for t in Theta().physics())
        return surrogate(probs, (d0, torch.tensor(beta), rho, alpha))
    finally:
        module.MAX_EXPONENT = original


def test_a_near_constant_map_overflows_without_the_cap_and_stays_finite_with_it() -> None:
    probs = _flat_map()
    assert not torch.isfinite(_uncapped(probs, beta=20.0)).all()  # the overflow is real at a steeper beta
    d0, _, rho, alpha = (t.detach() for t in Theta().physics())
    for beta in (6.0, 7.8, 20.0, 60.0):  # 6 +- 30% is theta's range; steeper ones only stress the cap
        out = surrogate(probs, (d0, torch.tensor(beta), rho, alpha))
        assert torch.isfinite(out).all() and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert MAX_EXPONENT < 28.0  # (1 + 8 dt D0max e^k)^3 below float32's maximum


def test_the_cap_changes_nothing_where_the_public_formula_is_finite() -> None:
    probs = torch.zeros(2, 1, 64, 64)
    probs[:, :, 28:34, 30:35] = 0.9  # a target: the complexity's spread is the target's, no outlier
    physics = tuple(t.detach() for t in Theta().physics())
    assert torch.equal(surrogate(probs, physics), _uncapped(probs, beta=float(physics[1])))


def test_features_and_theta_gradient_are_finite_on_target_free_crops() -> None:
    logits = torch.logit(_flat_map(1).clamp(1e-4, 1 - 1e-4))
    labels = torch.zeros_like(logits)
    theta = Theta()
    features = sample_features(logits, labels, theta.physics(), torch.zeros(2))
    assert torch.isfinite(features).all()
    theta_objective(theta, torch.sigmoid(logits), labels).backward()
    assert torch.isfinite(theta.theta.grad).all()
