"""UIU-Net specifics the generic detector tests do not see."""

from __future__ import annotations

import torch

from detectors.base import build_detector


def test_fused_map_uses_every_side_head() -> None:
    """d0 is the 1x1 fusion of all six side logits: each side head must reach it."""
    torch.manual_seed(0)
    model = build_detector("UIUNet", in_channels=1, width=0.25)
    out = model(torch.randn(2, 1, 64, 96))
    assert len(out.side) == 6
    out.logits.sum().backward()
    for i, head in enumerate(model.sides):
        assert head.weight.grad is not None and head.weight.grad.abs().sum() > 0, f"side head {i} unused by d0"


def test_fused_map_is_the_side_fusion() -> None:
    """The final logits equal the 1x1 conv over the returned side logits, in order d1..d6."""
    torch.manual_seed(0)
    model = build_detector("UIUNet", in_channels=3, width=0.25).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 64, 64))
        refused = model.fuse_sides(torch.cat(out.side, 1))
    torch.testing.assert_close(out.logits, refused)
    assert out.features is not None and out.features.shape[-2:] == out.logits.shape[-2:]
