"""ISNet specifics that the generic detector contract does not check."""

from __future__ import annotations

import torch

from detectors.base import build_detector
from detectors.isnet import GradientMagnitude


def test_gradient_magnitude_is_central_difference_per_channel() -> None:
    x = torch.randn(2, 3, 7, 9, dtype=torch.float64)
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1))
    dy = padded[..., 2:, 1:-1] - padded[..., :-2, 1:-1]
    dx = padded[..., 1:-1, 2:] - padded[..., 1:-1, :-2]
    expected = torch.sqrt(dy**2 + dx**2 + 1e-6)
    torch.testing.assert_close(GradientMagnitude(3).double()(x), expected)


def test_edge_head_is_aux_logits_and_gates_the_mask() -> None:
    torch.manual_seed(0)
    model = build_detector("ISNet", in_channels=1, width=0.25)
    x = torch.randn(2, 1, 64, 32)
    out = model(x)
    edge = out.aux["edge"]
    assert edge.shape == out.logits.shape
    assert edge.min() < 0 or edge.max() > 1  # logits, no sigmoid
    assert out.features.shape[-2:] == x.shape[-2:]
    # the edge map re-weights the features the mask head reads, so the mask loss alone
    # trains the whole edge branch
    out.logits.mean().backward()
    for name in ("edge_in.weight", "tfd1.step1.body.0.weight", "tfd3.gate.conv.weight", "edge_out.weight"):
        assert model.get_parameter(name).grad.abs().sum() > 0, name
