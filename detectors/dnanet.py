"""DNANet (Li et al., TIP 2022): dense nested U-Net with Res-CBAM blocks.

Follows the structure of the public code (YeRen123455/Infrared-Small-Target-Detection,
and the copies in LESPS/BasicIRSTD/PAL): filters [16, 32, 64, 128, 256], blocks
[2, 2, 2, 2], nested skip pathways with up- and down-sampled neighbours, a fused final
map from all decoder depths, and four heads (x0_1, x0_2, x0_3 and the fused map).
Resampling uses explicit target sizes instead of fixed scale factors so any input that
is a multiple of 16 works (the original's fixed factors give the same result there).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from detectors.base import DetectorInfo, DetectorOutput, register_detector, scaled


class ChannelAttention(nn.Module):
    def __init__(self, channels: int, ratio: int = 16):
        super().__init__()
        hidden = max(1, channels // ratio)  # max(): only matters at reduced width
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1))))
        mx = self.fc2(F.relu(self.fc1(F.adaptive_max_pool2d(x, 1))))
        return torch.sigmoid(avg + mx)


class SpatialAttention(nn.Module):
    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


class ResCBAMBlock(nn.Module):
    """Two 3x3 conv-BN layers, channel then spatial attention, residual add, ReLU."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module
        if in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.BatchNorm2d(out_channels))
        else:
            self.shortcut = nn.Identity()
        self.ca = ChannelAttention(out_channels)
        self.sa = SpatialAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.shortcut(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = self.ca(out) * out
        out = self.sa(out) * out
        return F.relu(out + residual)


def _stage(in_channels: int, out_channels: int, blocks: int = 1) -> nn.Sequential:
    layers = [ResCBAMBlock(in_channels, out_channels)]
    layers += [ResCBAMBlock(out_channels, out_channels) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def _resize(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=True)


class DNANet(nn.Module):
    def __init__(self, in_channels: int = 3, width: float = 1.0, blocks: tuple[int, ...] = (2, 2, 2, 2)):
        super().__init__()
        f = [scaled(c, width, minimum=2) for c in (16, 32, 64, 128, 256)]
        self.in_channels = in_channels
        self.conv0_0 = _stage(in_channels, f[0])
        self.conv1_0 = _stage(f[0], f[1], blocks[0])
        self.conv2_0 = _stage(f[1], f[2], blocks[1])
        self.conv3_0 = _stage(f[2], f[3], blocks[2])
        self.conv4_0 = _stage(f[3], f[4], blocks[3])

        self.conv0_1 = _stage(f[0] + f[1], f[0])
        self.conv1_1 = _stage(f[1] + f[2] + f[0], f[1], blocks[0])
        self.conv2_1 = _stage(f[2] + f[3] + f[1], f[2], blocks[1])
        self.conv3_1 = _stage(f[3] + f[4] + f[2], f[3], blocks[2])

        self.conv0_2 = _stage(f[0] * 2 + f[1], f[0])
        self.conv1_2 = _stage(f[1] * 2 + f[2] + f[0], f[1], blocks[0])
        self.conv2_2 = _stage(f[2] * 2 + f[3] + f[1], f[2], blocks[1])

        self.conv0_3 = _stage(f[0] * 3 + f[1], f[0])
        self.conv1_3 = _stage(f[1] * 3 + f[2] + f[0], f[1], blocks[0])

        self.conv0_4 = _stage(f[0] * 4 + f[1], f[0])
        self.conv0_4_final = _stage(f[0] * 5, f[0])

        self.conv0_4_1x1 = nn.Conv2d(f[4], f[0], 1)
        self.conv0_3_1x1 = nn.Conv2d(f[3], f[0], 1)
        self.conv0_2_1x1 = nn.Conv2d(f[2], f[0], 1)
        self.conv0_1_1x1 = nn.Conv2d(f[1], f[0], 1)

        self.head1 = nn.Conv2d(f[0], 1, 1)
        self.head2 = nn.Conv2d(f[0], 1, 1)
        self.head3 = nn.Conv2d(f[0], 1, 1)
        self.head_final = nn.Conv2d(f[0], 1, 1)

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        pool = F.max_pool2d
        x0_0 = self.conv0_0(x)
        x1_0 = self.conv1_0(pool(x0_0, 2))
        x0_1 = self.conv0_1(torch.cat([x0_0, _resize(x1_0, x0_0)], 1))

        x2_0 = self.conv2_0(pool(x1_0, 2))
        x1_1 = self.conv1_1(torch.cat([x1_0, _resize(x2_0, x1_0), _resize(x0_1, x1_0)], 1))
        x0_2 = self.conv0_2(torch.cat([x0_0, x0_1, _resize(x1_1, x0_0)], 1))

        x3_0 = self.conv3_0(pool(x2_0, 2))
        x2_1 = self.conv2_1(torch.cat([x2_0, _resize(x3_0, x2_0), _resize(x1_1, x2_0)], 1))
        x1_2 = self.conv1_2(torch.cat([x1_0, x1_1, _resize(x2_1, x1_0), _resize(x0_2, x1_0)], 1))
        x0_3 = self.conv0_3(torch.cat([x0_0, x0_1, x0_2, _resize(x1_2, x0_0)], 1))

        x4_0 = self.conv4_0(pool(x3_0, 2))
        x3_1 = self.conv3_1(torch.cat([x3_0, _resize(x4_0, x3_0), _resize(x2_1, x3_0)], 1))
        x2_2 = self.conv2_2(torch.cat([x2_0, x2_1, _resize(x3_1, x2_0), _resize(x1_2, x2_0)], 1))
        x1_3 = self.conv1_3(torch.cat([x1_0, x1_1, x1_2, _resize(x2_2, x1_0), _resize(x0_3, x1_0)], 1))
        x0_4 = self.conv0_4(torch.cat([x0_0, x0_1, x0_2, x0_3, _resize(x1_3, x0_0)], 1))

        fused = self.conv0_4_final(
            torch.cat(
                [
                    _resize(self.conv0_4_1x1(x4_0), x0_0),
                    _resize(self.conv0_3_1x1(x3_1), x0_0),
                    _resize(self.conv0_2_1x1(x2_2), x0_0),
                    _resize(self.conv0_1_1x1(x1_3), x0_0),
                    x0_4,
                ],
                1,
            )
        )
        side = (self.head1(x0_1), self.head2(x0_2), self.head3(x0_3))
        return DetectorOutput(self.head_final(fused), side, fused)


INFO = DetectorInfo(
    name="DNANet",
    paper="Li et al., Dense Nested Attention Network for Infrared Small Target Detection, TIP 2022",
    reference_code="YeRen123455/Infrared-Small-Target-Detection; XinyiYing/LESPS model/DNANet",
    side_outputs=3,
    published_params_m=4.697,
    published_macs_g=14.28,
    paper_lr=0.05,  # Adagrad 0.05 with cosine decay in the original; BasicIRSTD/LESPS use Adam 5e-4
    paper_loss="soft_iou",
    notes="deep supervision on x0_1, x0_2, x0_3 and the fused map; the fused map is final",
    feature_channels=16,  # DetectorOutput.features at width 1, full resolution
    feature_stride=1,
)


@register_detector(INFO)
def dnanet(in_channels: int = 3, width: float = 1.0) -> DNANet:
    return DNANet(in_channels=in_channels, width=width)
