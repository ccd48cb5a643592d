"""Checks specific to the local-contrast detectors (ALCL-Net, MLCL-Net).

The generic detector tests cover shapes, gradients and parameter counts; these cover
what they cannot: the compute cost against the published number, and that each local
contrast branch sees exactly the neighbourhood the papers describe.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from detectors._lcl import LocalContrastBranch
from detectors.base import build_detector, detector_info
from detectors.mlclnet import SCALES


@pytest.mark.parametrize("name", ["ALCLNet", "MLCLNet"])
def test_macs_match_published(name: str) -> None:
    """Conv MACs at 1x3x256x256 within 5% of the published (thop) number.

    Counted on the meta device: shapes only, no arithmetic, so the full size is instant.
    """
    with torch.device("meta"):
        model = build_detector(name, in_channels=3).eval()
        x = torch.empty(1, 3, 256, 256)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    macs_g = counter.get_total_flops() / 2 / 1e9
    published = detector_info(name).published_macs_g
    assert published is not None
    assert abs(macs_g - published) <= 0.05 * published, f"{name}: {macs_g:.3f} G MACs, published {published} G"


@pytest.mark.parametrize("kernel_size, dilation", SCALES)
def test_local_contrast_branch_covers_its_neighbourhood(kernel_size: int, dilation: int) -> None:
    """One output pixel depends on a full, hole-free square of radius k//2 + d.

    The (kernel, dilation) pairs are chosen so the dilated ring of k x k patches tiles
    the neighbourhood; a wrong padding or dilation leaves holes, shifts the centre or
    changes the output size.
    """
    branch = LocalContrastBranch(1, 1, kernel_size, dilation)
    for conv in (branch.gather, branch.contrast):
        torch.nn.init.ones_(conv.weight)
        torch.nn.init.zeros_(conv.bias)
    size, centre = 31, 15
    x = torch.ones(1, 1, size, size, requires_grad=True)  # positive, so both ReLUs pass gradient
    out = branch(x)
    assert out.shape == x.shape
    out[0, 0, centre, centre].backward()
    assert x.grad is not None
    radius = kernel_size // 2 + dilation
    expected = torch.zeros(size, size, dtype=torch.bool)
    expected[centre - radius : centre + radius + 1, centre - radius : centre + radius + 1] = True
    assert torch.equal(x.grad[0, 0] != 0, expected)
