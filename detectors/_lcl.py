"""Building blocks shared by ALCL-Net and MLCL-Net (Yu et al., 2022).

Both networks use the same ResNet-style encoder (a two-conv stem, then stages of three
residual blocks whose first block halves the resolution) and the same "local contrast
learning" (LCL) branch: a k x k conv gathers a neighbourhood, then a 3 x 3 conv with
dilation d compares each position against a ring d pixels away, which is a learned
version of the hand-made local contrast measures used for small targets. ALCL-Net uses
one branch (k=1, d=1) per level; MLCL-Net fuses three (k, d) = (1, 1), (3, 3), (5, 5).

The leading underscore keeps the registry's module discovery from importing this as a
detector; it is imported by ``alclnet`` and ``mlclnet``.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from detectors.base import kaiming_init_


def conv_bn(in_channels: int, out_channels: int, stride: int = 1) -> nn.Sequential:
    """3x3 conv (with bias, as in the reference code) followed by BatchNorm."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
        nn.BatchNorm2d(out_channels),
    )


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity shortcut (channel count unchanged)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = conv_bn(channels, channels)
        self.conv2 = conv_bn(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))


class DownBlock(nn.Module):
    """Residual block that halves the resolution and changes the channel count.

    The main path downsamples by max pooling between its two convs; the shortcut is a
    stride-2 conv-BN-ReLU (the ReLU before the add is what the reference does).
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = conv_bn(in_channels, out_channels)
        self.conv2 = conv_bn(out_channels, out_channels)
        self.shortcut = conv_bn(in_channels, out_channels, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(F.max_pool2d(F.relu(self.conv1(x)), 2))
        return F.relu(out + F.relu(self.shortcut(x)))


class ResidualEncoder(nn.Module):
    """Stem plus one stage per entry of ``widths``; returns every stage's output.

    Stage 0 keeps the input resolution, stage ``i`` is at 1 / 2**i of it.
    """

    def __init__(self, in_channels: int, widths: Sequence[int], blocks: int = 3):
        super().__init__()
        w0 = widths[0]
        self.stem = nn.Sequential(
            conv_bn(in_channels, w0), nn.ReLU(), conv_bn(w0, w0), nn.ReLU()
        )
        stages = [nn.Sequential(*[BasicBlock(w0) for _ in range(blocks)])]
        for prev, cur in zip(widths[:-1], widths[1:]):
            stages.append(nn.Sequential(DownBlock(prev, cur), *[BasicBlock(cur) for _ in range(blocks - 1)]))
        self.stages = nn.ModuleList(stages)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = self.stem(x)
        features = []
        for stage in self.stages:
            out = stage(out)
            features.append(out)
        return features


class LocalContrastBranch(nn.Module):
    """k x k conv + ReLU, then 3x3 conv with dilation d + ReLU (no BatchNorm, as published)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1, dilation: int = 1):
        super().__init__()
        self.gather = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.contrast = nn.Conv2d(out_channels, out_channels, 3, padding=dilation, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.contrast(F.relu(self.gather(x))))


def resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear resize to ``like``'s size; align_corners=True matches ``UpsamplingBilinear2d``."""
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=True)


init_weights = kaiming_init_  # the reference init, shared with the other detectors
