"""Parameter and multiply-accumulate counts of detectors, on the meta device (no memory,
no compute: counting UIUNet's 54 GMACs takes a fraction of a second)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from detectors.base import build_detector, detector_info


def detector_cost(name: str, in_channels: int = 3, width: float = 1.0, size: int = 256) -> dict[str, Any]:
    """Parameters (M) and MACs (G) at 1 x C x size x size, counted by torch's flop counter."""
    with torch.device("meta"):
        model = build_detector(name, in_channels=in_channels, width=width).eval()
        x = torch.empty(1, in_channels, size, size)
    params = sum(p.numel() for p in model.parameters())
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    info = detector_info(name)
    return {
        "name": info.name,
        "params_m": params / 1e6,
        "macs_g": counter.get_total_flops() / 2 / 1e9,
        "published_params_m": info.published_params_m,
        "published_macs_g": info.published_macs_g,
        "side_outputs": info.side_outputs,
        "paper_lr": info.paper_lr,
        "paper_loss": info.paper_loss,
        "paper": info.paper,
    }
