"""MSDA-Net (Zhao, Yu et al., TGRS 2025): multi-scale direction-aware network.

Follows the public code (YuChuang1205/MSDA-Net ``model/MSDA_Net/MSDA.py``, the same
network as YuChuang1205/PAL ``model/MSDA/MSDA_no_sigmoid.py``). The encoder keeps
GGL-Net's residual stem and down-sampling blocks (reused from :mod:`detectors.gglnet`)
with filters [16, 32, 64, 64, 64]; each stage has two multi-scale direction-aware
blocks: four receptive-field branches (1x1; 1x1 + 3x3; 3x3 + dilated-3; 5x5 + dilated-5)
merged by a 3x3 conv, then a frequency attention in which each stride-1 Haar sub-band
(LL, LH, HL, HH) of the features drives its own spatial gate, then SE, then a residual
add. Stage 2 concatenates the decimated Haar detail bands (LH, HL, HH) of the raw image
to its conv features (high-frequency direction injection). Stages 1-4 are pooled to the
1/16 scale and fused with stage 5. Decoding uses a three-branch multi-scale contrast
head per stage and a top-down fusion that adds the upsampled deep map, corrected by a
conv of [deep, shallow], back onto the shallow map. One output, no deep supervision.

The Haar transforms are a fixed filter bank (:mod:`detectors._wavelet`), no PyWavelets.

Differences from the code, none of which changes the published network's function:
* the contrast heads' residual 1x1 conv (``conv_res`` in ``RFB_modified_LCL``) is built
  but never used in the reference's forward; it is left out (14,048 parameters at width
  1.0), since a parameter without a gradient is dead weight and breaks the contract;
* the four per-band 2->1 7x7 spatial-gate convs run as one grouped conv (same weights,
  same count) and the four gated maps are summed as ``x * sum(gates)``;
* the reference's hand-written backward passes (which cast filters to float16) are
  replaced by autograd through the same convs;
* the pooling shortcuts use one 2^k max-pool instead of k stacked 2x2 pools (identical
  for the multiple-of-32 inputs of the contract); resampling uses explicit sizes;
* with ``in_channels`` = 1 the Haar bands bring 3 channels instead of 9 and the stage-2
  conv branch widens (29 instead of 23) so the stage stays 32 channels wide.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from detectors._wavelet import HaarBank
from detectors.base import DetectorInfo, DetectorOutput, kaiming_init_, register_detector, scaled
from detectors.gglnet import BasicBlock, DownBlock, SqueezeExcite, conv_bn


def _basic_conv(in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1) -> nn.Sequential:
    """Bias-free conv + BN + ReLU with 'same' padding (the reference's ``BasicConv2d``)."""
    padding = dilation * (kernel_size // 2)
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class FrequencyAttention(nn.Module):
    """Direction-aware attention: each stride-1 Haar sub-band of x gates x spatially.

    Per band b: g_b = sigmoid(conv7x7([max_c band_b, mean_c band_b])); output
    relu(x + BN(conv3x3(x * sum_b g_b))).
    """

    def __init__(self, channels: int, kernel_size: int = 7):
        super().__init__()
        self.haar = HaarBank()
        # one 2->1 spatial-gate conv per band (LL, LH, HL, HH), run as a single grouped conv
        self.gates = nn.Conv2d(8, 4, kernel_size, padding=kernel_size // 2, groups=4)
        self.refine = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels))
        kaiming_init_(self.refine)
        # He fan-out init of each separate 2->1 conv, as the reference; the grouped weight
        # would otherwise see a fan-out four times too large
        nn.init.normal_(self.gates.weight, std=math.sqrt(2.0 / kernel_size**2))
        nn.init.zeros_(self.gates.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bands = self.haar.undecimated(x)  # (B, C, 4, H, W)
        pooled = torch.stack([bands.amax(dim=1), bands.mean(dim=1)], dim=2).flatten(1, 2)  # (B, 8, H, W)
        gate = torch.sigmoid(self.gates(pooled)).sum(dim=1, keepdim=True)
        return F.relu(x + self.refine(x * gate))


class DirectionAwareBlock(nn.Module):
    """Four receptive-field branches, 3x3 merge, frequency attention, SE, residual add."""

    def __init__(self, channels: int):
        super().__init__()
        c = channels
        self.branches = nn.ModuleList(
            [
                _basic_conv(c, c, 1),
                nn.Sequential(_basic_conv(c, c, 1), _basic_conv(c, c, 3)),
                nn.Sequential(_basic_conv(c, c, 3), _basic_conv(c, c, 3, dilation=3)),
                nn.Sequential(_basic_conv(c, c, 5), _basic_conv(c, c, 3, dilation=5)),
            ]
        )
        self.merge = _basic_conv(4 * c, c, 3)
        self.frequency = FrequencyAttention(c)
        self.se = SqueezeExcite(c, reduction=4)
        self.out_conv = _basic_conv(c, c, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.merge(torch.cat([branch(x) for branch in self.branches], dim=1))
        return F.relu(x + self.out_conv(self.se(self.frequency(y))))


class MultiScaleContrast(nn.Module):
    """Decoder head: 1x1, 3x3 + dilated-3 and 5x5 + dilated-5 branches merged by a 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        c = channels
        self.branches = nn.ModuleList(
            [
                _basic_conv(c, c, 1),
                nn.Sequential(_basic_conv(c, c, 3), _basic_conv(c, c, 3, dilation=3)),
                nn.Sequential(_basic_conv(c, c, 5), _basic_conv(c, c, 3, dilation=5)),
            ]
        )
        self.merge = _basic_conv(3 * c, c, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.merge(torch.cat([branch(x) for branch in self.branches], dim=1))


class TopDownFusion(nn.Module):
    """Upsample the deep map, correct it by a conv of [deep, shallow], project, add to shallow."""

    def __init__(self, deep_channels: int, channels: int):
        super().__init__()
        d = deep_channels
        self.correct = nn.Sequential(
            nn.Conv2d(d + channels, d, 1),
            nn.BatchNorm2d(d),
            nn.ReLU(inplace=True),
            nn.Conv2d(d, d, 3, padding=1),
            nn.BatchNorm2d(d),
            nn.ReLU(inplace=True),
        )
        self.project = nn.Sequential(nn.Conv2d(d, channels, 1), nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        kaiming_init_(self.correct)
        kaiming_init_(self.project)

    def forward(self, deep: torch.Tensor, shallow: torch.Tensor) -> torch.Tensor:
        deep = F.interpolate(deep, size=shallow.shape[-2:], mode="bilinear", align_corners=True)
        deep = deep + self.correct(torch.cat([deep, shallow], dim=1))
        return shallow + self.project(deep)


class MSDANet(nn.Module):
    def __init__(self, in_channels: int = 3, width: float = 1.0):
        super().__init__()
        f = [scaled(c, width, minimum=4) for c in (16, 32, 64, 64, 64)]
        side = scaled(16, width, minimum=4)
        self.in_channels = in_channels
        self.haar = HaarBank()
        haar_channels = 3 * in_channels  # LH, HL, HH of each input channel
        conv2 = max(4, f[1] - haar_channels)  # 23 at width 1.0 with 3 channels, as published
        f[1] = conv2 + haar_channels

        self.stem = nn.Sequential(*conv_bn(in_channels, f[0]), *conv_bn(f[0], f[0]))
        kaiming_init_(self.stem)
        # first block of each stage: identity residual at full size, then four down-samplings
        self.entries = nn.ModuleList(
            [BasicBlock(f[0]), DownBlock(f[0], conv2), *(DownBlock(f[i - 1], f[i]) for i in range(2, 5))]
        )
        self.blocks = nn.ModuleList(nn.Sequential(DirectionAwareBlock(c), DirectionAwareBlock(c)) for c in f)
        # stages 1-4 pooled to the 1/16 scale and squeezed to `side` channels
        self.shortcuts = nn.ModuleList(nn.Sequential(nn.Conv2d(c, side, 1), nn.ReLU(inplace=True)) for c in f[:4])
        fuse = scaled(128, width, minimum=4)
        self.fuse = nn.Sequential(
            nn.Conv2d(f[4] + 4 * side, fuse, 1), nn.ReLU(inplace=True), nn.Conv2d(fuse, f[4], 1), nn.ReLU(inplace=True)
        )
        kaiming_init_(self.shortcuts)
        kaiming_init_(self.fuse)
        self.heads = nn.ModuleList(MultiScaleContrast(c) for c in f)
        self.fusions = nn.ModuleList(TopDownFusion(f[i + 1], f[i]) for i in range(len(f) - 1))
        self.final = nn.Sequential(nn.Conv2d(f[0], f[0], 1), nn.ReLU(inplace=True), nn.Conv2d(f[0], 1, 1))
        kaiming_init_(self.final)

    def _haar_details(self, x: torch.Tensor) -> torch.Tensor:
        """LH, HL, HH of the image at half size, band-major: [LH(all ch), HL(all ch), HH(all ch)]."""
        return self.haar.dwt(x)[:, :, 1:].transpose(1, 2).flatten(1, 2)

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        out = self.stem(x)
        features, pooled = [], []
        for i, (entry, blocks) in enumerate(zip(self.entries, self.blocks)):
            out = entry(out)
            if i == 1:
                out = torch.cat([self._haar_details(x), out], dim=1)
            out = blocks(out)
            if i < 4:
                pooled.append(self.shortcuts[i](F.max_pool2d(out, 2 ** (4 - i))))
            features.append(out)
        features[-1] = self.fuse(torch.cat([features[-1], *reversed(pooled)], dim=1))

        skips = [head(feat) for head, feat in zip(self.heads, features)]
        fused = skips[-1]
        for i in range(len(skips) - 2, -1, -1):
            fused = self.fusions[i](fused, skips[i])
        return DetectorOutput(self.final(fused), (), fused)


INFO = DetectorInfo(
    name="MSDANet",
    paper="Zhao, Yu et al., Multi-Scale Direction-Aware Network for Infrared Small Target Detection, TGRS 2025",
    reference_code="YuChuang1205/MSDA-Net model/MSDA_Net/MSDA.py; YuChuang1205/PAL model/MSDA/MSDA_no_sigmoid.py",
    side_outputs=0,
    published_params_m=4.805,  # thop count, which includes the 14,048 unused contrast-head params left out here
    published_macs_g=21.23,
    paper_lr=1e-4,  # Adam 1e-4, batch 4, 500 epochs in the original full-supervision code
    paper_loss="soft_iou",
    notes=(
        "Haar (pywt 'haar' conventions) directional frequency attention in every encoder block and "
        "image LH/HL/HH bands injected at stage 2; single output, no deep supervision; "
        "unused conv_res of the decoder heads omitted (4.791 M vs 4.805 M)"
    ),
    feature_channels=16,  # DetectorOutput.features at width 1, full resolution
    feature_stride=1,
    feature_min_channels=4,
)


@register_detector(INFO)
def msdanet(in_channels: int = 3, width: float = 1.0) -> MSDANet:
    """MSDA-Net; ``width`` scales every channel count (1.0 = published)."""
    return MSDANet(in_channels=in_channels, width=width)
