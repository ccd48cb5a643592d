"""UIU-Net (Wu, Hong and Chanussot, TIP 2023): U-Net in U-Net with asymmetric fusion.

Follows the public code (danfenghong/IEEE_TIP_UIU-Net ``UIUNET(3, 1)``, copied in
BasicIRSTD and PAL): a U^2-Net-style outer U-Net whose stages are residual U-blocks
(RSU-7/6/5/4 and the pooling-free, dilated RSU-4F), and an asymmetric bi-directional
fusion block (channel attention from the deep path, spatial attention back onto it)
before each of the decoder stages 5..2. Six 3x3 side heads (decoder stages 1..5 and the
bottom encoder stage 6) are upsampled to the input size and a 1x1 conv fuses them into
d0, the map used at test time. The fusion block applies one post conv to both of its
branches (shared weights), as the original does. Resampling uses explicit target sizes
(bilinear, align_corners=False like the original's ``F.upsample``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from detectors.base import DetectorInfo, DetectorOutput, register_detector, scaled


def _conv_bn_relu(in_channels: int, out_channels: int, kernel_size: int = 3, dilation: int = 1) -> nn.Sequential:
    padding = dilation * (kernel_size // 2)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def _resize(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def _pool(x: torch.Tensor) -> torch.Tensor:
    # ceil_mode as in the original, so odd sizes inside an RSU still line up
    return F.max_pool2d(x, 2, stride=2, ceil_mode=True)


class RSU(nn.Module):
    """Residual U-block of a given height: a small U-Net whose output adds to its input conv.

    ``height`` L gives L-1 encoder convs (L-2 poolings), a dilation-2 bottom conv and L-1
    decoder convs (RSU-7 ... RSU-4). ``dilated=True`` is RSU-4F: no pooling, the encoder
    dilations grow 1, 2, 4, ... instead, so it keeps full resolution at the deep stages.
    """

    def __init__(self, height: int, in_channels: int, mid_channels: int, out_channels: int, dilated: bool = False):
        super().__init__()
        self.dilated = dilated
        levels = height - 1
        dilations = [2**i if dilated else 1 for i in range(levels)]
        bottom_dilation = 2**levels if dilated else 2
        self.conv_in = _conv_bn_relu(in_channels, out_channels)
        self.encoder = nn.ModuleList(
            _conv_bn_relu(out_channels if i == 0 else mid_channels, mid_channels, dilation=d)
            for i, d in enumerate(dilations)
        )
        self.bottom = _conv_bn_relu(mid_channels, mid_channels, dilation=bottom_dilation)
        # decoder runs deepest first; its last conv returns to out_channels
        self.decoder = nn.ModuleList(
            _conv_bn_relu(2 * mid_channels, out_channels if i == 0 else mid_channels, dilation=d)
            for i, d in reversed(list(enumerate(dilations)))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_in = self.conv_in(x)
        skips = []
        h = x_in
        for i, conv in enumerate(self.encoder):
            if i > 0 and not self.dilated:
                h = _pool(h)
            h = conv(h)
            skips.append(h)
        h = self.bottom(h)
        for i, (conv, skip) in enumerate(zip(self.decoder, reversed(skips))):
            if i > 0 and not self.dilated:  # the bottom conv and the deepest skip share a size
                h = _resize(h, skip.shape[-2:])
            h = conv(torch.cat([h, skip], 1))
        return h + x_in


class SpatialAttentionLogits(nn.Module):
    """Conv over channel-mean and channel-max; the caller applies the sigmoid."""

    def __init__(self, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], 1))


class AsymmetricFusion(nn.Module):
    """Bi-directional fusion of a deep (high) and a skip (low) feature map.

    Global channel weights from the deep map gate the skip map (top-down); a spatial map
    computed from that gated skip map gates the deep map (bottom-up), so small-target
    locations from the shallow path steer the semantic path. Both results go through one
    shared post conv and are concatenated, giving 2 * channels.
    """

    def __init__(self, high_channels: int, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(1, channels // reduction)  # max(): only matters at reduced width
        self.high = _conv_bn_relu(high_channels, channels, kernel_size=1)
        self.topdown = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            _conv_bn_relu(channels, hidden, kernel_size=1),
            nn.Conv2d(hidden, channels, 1),
            nn.BatchNorm2d(channels),
            nn.Sigmoid(),
        )
        self.bottomup = nn.Sequential(
            _conv_bn_relu(channels, hidden, kernel_size=1),
            SpatialAttentionLogits(3),
            nn.Sigmoid(),
        )
        self.post = _conv_bn_relu(channels, channels)

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        high = self.high(high)
        channel_weight = self.topdown(high)
        low_gated = low * channel_weight
        spatial_weight = self.bottomup(low_gated)
        return torch.cat([self.post(2 * low_gated), self.post(2 * high * spatial_weight)], 1)


class UIUNet(nn.Module):
    """The published network at ``width=1.0``; ``width`` scales every channel count."""

    def __init__(self, in_channels: int = 3, width: float = 1.0):
        super().__init__()

        def c(n: int) -> int:
            return scaled(n, width, minimum=2)

        self.in_channels = in_channels
        # encoder: (height, in, mid, out, dilated); outputs 64, 128, 256, 512, 512, 512
        self.stage1 = RSU(7, in_channels, c(32), c(64))
        self.stage2 = RSU(6, c(64), c(32), c(128))
        self.stage3 = RSU(5, c(128), c(64), c(256))
        self.stage4 = RSU(4, c(256), c(128), c(512))
        self.stage5 = RSU(4, c(512), c(256), c(512), dilated=True)
        self.stage6 = RSU(4, c(512), c(256), c(512), dilated=True)

        self.fuse5 = AsymmetricFusion(c(512), c(512))
        self.fuse4 = AsymmetricFusion(c(512), c(512))
        self.fuse3 = AsymmetricFusion(c(256), c(256))
        self.fuse2 = AsymmetricFusion(c(128), c(128))

        self.stage5d = RSU(4, 2 * c(512), c(256), c(512), dilated=True)
        self.stage4d = RSU(4, 2 * c(512), c(128), c(256))
        self.stage3d = RSU(5, 2 * c(256), c(64), c(128))
        self.stage2d = RSU(6, 2 * c(128), c(32), c(64))
        self.stage1d = RSU(7, c(64) + c(64), c(16), c(64))

        # side heads on stage1d, 2d, 3d, 4d, 5d and encoder stage 6 (the paper's d1..d6)
        self.sides = nn.ModuleList(
            nn.Conv2d(ch, 1, 3, padding=1) for ch in (c(64), c(64), c(128), c(256), c(512), c(512))
        )
        self.fuse_sides = nn.Conv2d(6, 1, 1)

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        hx1 = self.stage1(x)
        hx2 = self.stage2(_pool(hx1))
        hx3 = self.stage3(_pool(hx2))
        hx4 = self.stage4(_pool(hx3))
        hx5 = self.stage5(_pool(hx4))
        hx6 = self.stage6(_pool(hx5))

        hx5d = self.stage5d(self.fuse5(_resize(hx6, hx5.shape[-2:]), hx5))
        hx4d = self.stage4d(self.fuse4(_resize(hx5d, hx4.shape[-2:]), hx4))
        hx3d = self.stage3d(self.fuse3(_resize(hx4d, hx3.shape[-2:]), hx3))
        hx2d = self.stage2d(self.fuse2(_resize(hx3d, hx2.shape[-2:]), hx2))
        hx1d = self.stage1d(torch.cat([_resize(hx2d, hx1.shape[-2:]), hx1], 1))

        size = x.shape[-2:]
        d1 = self.sides[0](hx1d)  # already at the input size
        deeper = zip(self.sides[1:], (hx2d, hx3d, hx4d, hx5d, hx6))
        side = (d1, *(_resize(head(feat), size) for head, feat in deeper))
        fused = self.fuse_sides(torch.cat(side, 1))
        return DetectorOutput(fused, side, hx1d)


INFO = DetectorInfo(
    name="UIUNet",
    paper="Wu, Hong and Chanussot, UIU-Net: U-Net in U-Net for Infrared Small Object Detection, TIP 2023",
    reference_code="danfenghong/IEEE_TIP_UIU-Net model/uiunet.py; XinyiYing/BasicIRSTD model/UIUNet; YuChuang1205/PAL model/UIU",
    side_outputs=6,
    published_params_m=50.54,
    published_macs_g=54.45,
    # the original train.py (a U^2-Net-style script): Adam 1e-3, betas (0.9, 0.999), no weight decay, batch 3
    paper_lr=1e-3,
    paper_loss="bce_all_outputs",  # BCE on d0 and each of d1..d6, summed with equal weights
    notes=(
        "d0 (1x1 fusion of the six upsampled side logits) is final; sides are d1..d6 from "
        "stage1d..stage5d and encoder stage6. BatchNorm after global pooling in the fusion "
        "blocks needs batch >= 2 in training, as in the original."
    ),
    feature_channels=64,  # DetectorOutput.features at width 1, full resolution
    feature_stride=1,
)


@register_detector(INFO)
def uiunet(in_channels: int = 3, width: float = 1.0) -> UIUNet:
    """Registry factory; the defaults give the published 3-channel UIUNET(3, 1)."""
    return UIUNet(in_channels=in_channels, width=width)
