"""GGL-Net (Zhao, Yu et al., GRSL 2023): gradient-guided learning network.

Follows the public code (YuChuang1205/PAL ``model/GGL/GGL_no_sigmoid.py``, the same
network as YuChuang1205/MSDA-Net ``model/GGL_Net/``): a five-stage residual encoder
(filters [16, 32, 64, 128, 256], three blocks per stage, SE attention inside the blocks)
whose every stage is topped up by a gradient supplementary module (GSM) fed with the
central-difference gradient magnitude of the input image, max-pooled to the stage's
scale; a local-contrast (LCL) head per stage; and two-way guidance fusion modules (TGFM,
``Sbam`` in the code) that merge the scales top-down, where the upsampled deep map gates
the shallow one by channel attention and the shallow map gates the deep one by spatial
attention. One output, no deep supervision.

Differences from the code, none of which changes the published network at width 1.0:
resampling uses explicit target sizes (any multiple-of-32 input works); the gradient
magnitude is one depthwise conv with fixed central-difference kernels instead of
pad-and-slice, with the same zero boundary; the gradient branch takes ``in_channels``
channels (the code hard-wires 3; the Refined-IRSTD copy 1).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from detectors.base import DetectorInfo, DetectorOutput, kaiming_init_, register_detector, scaled




def conv_bn(in_channels: int, out_channels: int, stride: int = 1, relu: bool = True) -> list[nn.Module]:
    """3x3 conv (with bias, as in the reference) + BN (+ ReLU), as a list to splice into Sequentials."""
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1),
        nn.BatchNorm2d(out_channels),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


class ImageGradient(nn.Module):
    """Per-channel gradient magnitude sqrt(dx^2 + dy^2) from central differences / 2.

    Zero outside the image, as in the reference. Fixed kernels, so no parameters. Where
    the magnitude is exactly 0 (flat or zero-padded regions) the value is 0 as in the
    reference, but its derivative is 0 instead of sqrt's infinite slope, so methods that
    differentiate with respect to the input do not get NaN.
    """

    kernels: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        k = torch.zeros(2, 1, 3, 3)
        k[0, 0, 1, 2], k[0, 0, 1, 0] = 0.5, -0.5  # (right - left) / 2
        k[1, 0, 0, 1], k[1, 0, 2, 1] = 0.5, -0.5  # (top - bottom) / 2
        self.register_buffer("kernels", k, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        weight = self.kernels.to(x.dtype).repeat(channels, 1, 1, 1)
        d = F.conv2d(x, weight, padding=1, groups=channels).unflatten(1, (channels, 2))
        squared = d.pow(2).sum(dim=2)
        safe = squared.clamp_min(torch.finfo(squared.dtype).tiny).sqrt()
        return torch.where(squared > 0, safe, torch.zeros_like(safe))


class SqueezeExcite(nn.Module):
    """SE channel gate (bias-free MLP on the global average), reduction 4 as in the code."""

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc = nn.Sequential(
            nn.Linear(channels, hidden, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, channels, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x.mean(dim=(2, 3)))[:, :, None, None]


class ChannelAttention(nn.Module):
    """CBAM-style channel gate from max- and average-pooled descriptors (reduction 8)."""

    def __init__(self, channels: int, reduction: int = 8):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.mlp(x.amax(dim=(2, 3), keepdim=True)) + self.mlp(x.mean(dim=(2, 3), keepdim=True)))


class SpatialAttention(nn.Module):
    """7x7 conv over [channel max, channel mean] -> sigmoid map."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN, identity shortcut (first block of stage 1)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(*conv_bn(channels, channels), *conv_bn(channels, channels, relu=False))
        kaiming_init_(self.body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + x)


class DownBlock(nn.Module):
    """Halves the resolution: conv-BN-ReLU, 2x2 max-pool, conv-BN; strided-conv shortcut."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.body = nn.Sequential(
            *conv_bn(in_channels, out_channels),
            nn.MaxPool2d(2),
            *conv_bn(out_channels, out_channels, relu=False),
        )
        self.shortcut = nn.Sequential(*conv_bn(in_channels, out_channels, stride=2))
        kaiming_init_(self.body)
        kaiming_init_(self.shortcut)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


class SEBlock(nn.Module):
    """Residual block with an SE gate between its two convs."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Sequential(*conv_bn(channels, channels))
        self.se = SqueezeExcite(channels)
        self.conv2 = nn.Sequential(*conv_bn(channels, channels, relu=False))
        kaiming_init_(self.conv1)
        kaiming_init_(self.conv2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(self.se(self.conv1(x))) + x)


class GradientSupplement(nn.Module):
    """GSM: encode the gradient map, concatenate with the stage output, residual refine."""

    def __init__(self, gradient_channels: int, channels: int):
        super().__init__()
        self.encode = nn.Sequential(
            *conv_bn(gradient_channels, channels), SqueezeExcite(channels), *conv_bn(channels, channels)
        )
        self.fuse = nn.Sequential(
            *conv_bn(2 * channels, channels), SqueezeExcite(channels), *conv_bn(channels, channels, relu=False)
        )
        kaiming_init_(self.encode)
        kaiming_init_(self.fuse)

    def forward(self, x: torch.Tensor, gradient: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fuse(torch.cat([x, self.encode(gradient)], dim=1)) + x)


class LocalContrast(nn.Module):
    """LCL head: 1x1 conv-ReLU, 3x3 conv-ReLU (with bias, no BN)."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
        )
        kaiming_init_(self.body)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class TwoWayFusion(nn.Module):
    """TGFM: deep map (upsampled, projected) and shallow map gate each other, then add."""

    def __init__(self, deep_channels: int, channels: int):
        super().__init__()
        self.project = nn.Sequential(
            nn.Conv2d(deep_channels, channels, 1), nn.BatchNorm2d(channels), nn.ReLU(inplace=True)
        )
        self.channel_gate = ChannelAttention(channels)
        self.spatial_gate = SpatialAttention()
        kaiming_init_(self.project)

    def forward(self, deep: torch.Tensor, shallow: torch.Tensor) -> torch.Tensor:
        deep = F.interpolate(deep, size=shallow.shape[-2:], mode="bilinear", align_corners=True)
        deep = self.project(deep)
        return shallow * self.channel_gate(deep) + deep * self.spatial_gate(shallow)


class GGLNet(nn.Module):
    def __init__(self, in_channels: int = 3, width: float = 1.0):
        super().__init__()
        f = [scaled(c, width, minimum=4) for c in (16, 32, 64, 128, 256)]
        self.in_channels = in_channels
        self.gradient = ImageGradient()
        self.stem = nn.Sequential(*conv_bn(in_channels, f[0]), *conv_bn(f[0], f[0]))
        kaiming_init_(self.stem)
        self.stages = nn.ModuleList()
        for i, c in enumerate(f):
            first = BasicBlock(c) if i == 0 else DownBlock(f[i - 1], c)
            self.stages.append(nn.Sequential(first, SEBlock(c), SEBlock(c)))
        self.supplements = nn.ModuleList(GradientSupplement(in_channels, c) for c in f)
        self.heads = nn.ModuleList(LocalContrast(c) for c in f)
        self.fusions = nn.ModuleList(TwoWayFusion(f[i + 1], f[i]) for i in range(len(f) - 1))
        self.final = nn.Sequential(nn.Conv2d(f[0], f[0], 1), nn.ReLU(inplace=True), nn.Conv2d(f[0], 1, 1))
        kaiming_init_(self.final)

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        gradient = self.gradient(x)
        out = self.stem(x)
        skips = []
        for i, (stage, supplement, head) in enumerate(zip(self.stages, self.supplements, self.heads)):
            if i > 0:
                gradient = F.max_pool2d(gradient, 2)
            out = supplement(stage(out), gradient)
            skips.append(head(out))
        fused = skips[-1]
        for i in range(len(skips) - 2, -1, -1):
            fused = self.fusions[i](fused, skips[i])
        return DetectorOutput(self.final(fused), (), fused)


INFO = DetectorInfo(
    name="GGLNet",
    paper="Zhao, Yu et al., Gradient-Guided Learning Network for Infrared Small Target Detection, GRSL 2023",
    reference_code="YuChuang1205/PAL model/GGL/GGL_no_sigmoid.py; YuChuang1205/MSDA-Net model/GGL_Net",
    side_outputs=0,
    published_params_m=8.988,
    published_macs_g=9.86,
    paper_lr=5e-4,  # PAL's advice for GGL (its default 1e-3 is less stable); Refined-IRSTD also 5e-4 Adam
    paper_loss="soft_iou",  # the released code trains in the MSDA-Net pipeline (SoftIoU, Adam)
    notes=(
        "gradient-magnitude branch (central differences) injected at every stage by GSM; "
        "top-down two-way attention fusion; single output, no deep supervision; "
        "Refined-IRSTD's single-point variant adds deep-supervision heads and focal loss (not used here)"
    ),
    feature_channels=16,  # DetectorOutput.features at width 1, full resolution
    feature_stride=1,
    feature_min_channels=4,
)


@register_detector(INFO)
def gglnet(in_channels: int = 3, width: float = 1.0) -> GGLNet:
    """GGL-Net; ``width`` scales every channel count (1.0 = published)."""
    return GGLNet(in_channels=in_channels, width=width)
