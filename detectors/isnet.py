"""ISNet (Zhang et al., CVPR 2022): shape-aware detection with an edge branch.

Follows the public code as the field runs it: YuChuang1205/PAL
``model/ISNet/ISNet_no_sigmoid.py`` (3 input channels, DCNv2 through torchvision), whose
layers are those of the original RuiZhang97/ISNet ``model/ISNet.py``: a residual
encoder-decoder with channels [8, 16, 32, 64] and 4 blocks per stage, TTOA skip fusion
built on 1x3 and 3x1 modulated deformable convolutions (DCNv2, ``detectors.deform_conv``),
and a full-resolution edge branch of three Taylor-finite-difference (TFD) blocks that
starts from the image gradient and is gated by side maps from three decoder depths. The
edge map (sigmoid) re-weights the decoder features before the head: ``f * (1 + edge)``.

Layer by layer: modules are registered in the reference's order, so ``parameters()``
yields the reference's shapes in the reference's order (checked against a table read
from the PAL code, ``tests/data/isnet_reference_shapes.json``); ``REFERENCE_KEY_RULES``
spell our keys as the reference does, so a PAL/original checkpoint loads with
``detectors._reference.load_reference_state_dict``.

Differences from the public code, none of which changes what is computed:
* modules that the public code builds but never calls (``res1-3``, ``d1-3``, ``gate1-3``,
  ``SA``, ``SA_att``, ``head2``, ``cw``, ``conv2_1``, ``conv16``: 103,709 parameters) are
  left out, since a parameter without a gradient is dead weight and breaks the detector
  contract; so we have 986,962 parameters against the reference's 1,090,671;
* the image gradient of every input channel is taken inside the network, as PAL does
  (the original takes it in the training script, BasicIRSTD from the first channel only),
  so the first edge conv has ``in_channels`` inputs;
* resizes that are no-ops at full resolution are dropped.

XinyiYing/BasicIRSTD's copy has the same layers but 1 input channel and DCNv1 (offsets
only, ``conv_offset`` with 2*k outputs instead of ``conv_offset_mask`` with 3*k); its
README's 0.966 M is a thop count of that copy, which sees neither the never-called
modules nor the parameters held directly by the DCN and gated-conv modules. The
offset/mask convs start at zero as in DCN; the original training script instead
re-initialises every conv with N(0, 0.02).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from detectors.base import DetectorInfo, DetectorOutput, register_detector, scaled
from detectors._reference import KeyRules
from detectors.deform_conv import ModulatedDeformConv2d

# Our keys as the reference (PAL ISNet_no_sigmoid.py, RuiZhang97 model/ISNet.py) spells them.
REFERENCE_KEY_RULES: KeyRules = (
    (r"^fuse2\.", "TTOA_low."),
    (r"^fuse1\.", "TTOA_high."),
    (r"\.dcn_column\.", ".dcn_colum."),  # sic
    (r"\.offset_mask\.", ".conv_offset_mask."),
    (r"\.shortcut\.", ".downsample."),
    (r"^side3\.", "dsn1."),
    (r"^side2\.", "dsn2."),
    (r"^side1\.", "dsn3."),
    (r"^edge_out\.", "fuse."),
    (r"^edge_in\.", "dsup."),
    (r"^tfd(\d)\.step(\d)\.body\.0\.", r"myb\1.res\2.conv1."),
    (r"^tfd(\d)\.step(\d)\.body\.1\.", r"myb\1.res\2.bn1."),
    (r"^tfd(\d)\.step(\d)\.body\.3\.", r"myb\1.res\2.conv2."),
    (r"^tfd(\d)\.step(\d)\.body\.4\.", r"myb\1.res\2.bn2."),
    (r"^tfd(\d)\.gate\.conv\.", r"myb\1.gate."),
    (r"^tfd(\d)\.gate\.gate\.", r"myb\1.gate._gate_conv."),
)


def _conv_bn(in_channels: int, out_channels: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False), nn.BatchNorm2d(out_channels)]


class ResidualBlock(nn.Module):
    """Two 3x3 conv-BN layers with a (projected when the shape changes) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            *_conv_bn(in_channels, out_channels, stride), nn.ReLU(), *_conv_bn(out_channels, out_channels)
        )
        self.shortcut: nn.Module = nn.Identity()
        if in_channels != out_channels or stride != 1:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.shortcut(x))


def _stage(in_channels: int, out_channels: int, blocks: int, stride: int = 1) -> nn.Sequential:
    layers = [ResidualBlock(in_channels, out_channels, stride)]
    layers += [ResidualBlock(out_channels, out_channels) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


class TTOA(nn.Module):
    """Two-orientation attention: deformable column and row convs of the upsampled deep
    features gate the skip features; both gated copies are added to the deep features.

    One 1x1 bottleneck ("preprocess") is shared by both inputs, as in the public code.
    """

    def __init__(self, channels: int):
        super().__init__()
        hidden = max(1, channels // 2)
        self.dcn_row = ModulatedDeformConv2d(channels, channels, (1, 3), padding=(0, 1))
        self.dcn_column = ModulatedDeformConv2d(channels, channels, (3, 1), padding=(1, 0))
        self.preprocess = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.Conv2d(hidden, channels, 1))

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        deep, skip = self.preprocess(deep), self.preprocess(skip)
        column = deep + torch.sigmoid(self.dcn_column(deep)) * skip
        row = deep + torch.sigmoid(self.dcn_row(deep)) * skip
        return column + row


class GradientMagnitude(nn.Module):
    """Per-channel central-difference gradient magnitude, sqrt(gx^2 + gy^2 + 1e-6).

    Fixed kernels [-1, 0, 1] along each axis with zero padding, as the public code does
    with its "no padding" gradient module (which in fact pads by 1).
    """

    def __init__(self, channels: int):
        super().__init__()
        vertical = torch.tensor([[0.0, -1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        kernels = torch.stack((vertical, vertical.t())).unsqueeze(1)  # (2, 1, 3, 3): d/dy, d/dx
        self.channels = channels
        self.register_buffer("kernels", kernels.repeat(channels, 1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        grads = F.conv2d(x, self.kernels.to(x.dtype), padding=1, groups=self.channels).view(b, c, 2, h, w)
        return torch.sqrt(grads.pow(2).sum(dim=2) + 1e-6)


class EdgeBlock(nn.Module):
    """Residual block that also returns its residual branch (ReLU-ed), for the TFD."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(*_conv_bn(channels, channels), nn.ReLU(), *_conv_bn(channels, channels))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        delta = self.body(x)
        return F.relu(x + delta), F.relu(delta)


class GatedConv(nn.Module):
    """Gated spatial conv (from GSCNN): a one-channel side map and the features decide a
    per-pixel gate ``alpha``; the features are scaled by ``1 + alpha`` then mixed by 1x1."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1, bias=False)
        nn.init.xavier_normal_(self.conv.weight)
        self.gate = nn.Sequential(
            nn.BatchNorm2d(channels + 1),
            nn.Conv2d(channels + 1, channels + 1, 1),
            nn.ReLU(),
            nn.Conv2d(channels + 1, 1, 1),
            nn.BatchNorm2d(1),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        alpha = self.gate(torch.cat([x, side], dim=1))
        return self.conv(x * (alpha + 1))


class TFD(nn.Module):
    """Taylor-finite-difference edge block: u3 = 3*du0 + u2 + gate(u2, side).

    Written after the public code: two residual steps give u1 and the differences
    du0 (first step) and u2 (second step's residual branch).
    """

    def __init__(self, channels: int):
        super().__init__()
        self.step1 = EdgeBlock(channels)
        self.step2 = EdgeBlock(channels)
        self.gate = GatedConv(channels)

    def forward(self, x: torch.Tensor, side: torch.Tensor) -> torch.Tensor:
        u1, du0 = self.step1(x)
        _, u2 = self.step2(u1)
        return 3 * du0 + u2 + self.gate(u2, side)


class FCNHead(nn.Module):
    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        inter = max(1, in_channels // 4)
        self.block = nn.Sequential(
            nn.Conv2d(in_channels, inter, 3, 1, 1, bias=False),
            nn.BatchNorm2d(inter),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Conv2d(inter, out_channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


def _upsample(x: torch.Tensor, size: torch.Size | tuple[int, int], align_corners: bool) -> torch.Tensor:
    return F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners)


class ISNet(nn.Module):
    def __init__(self, in_channels: int = 3, width: float = 1.0, blocks: tuple[int, int, int] = (4, 4, 4)):
        super().__init__()
        f = [scaled(c, width, minimum=2) for c in (8, 16, 32, 64)]
        edge = scaled(64, width, minimum=2)
        self.stem = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            *_conv_bn(in_channels, f[0], stride=2),
            nn.ReLU(),
            *_conv_bn(f[0], f[0]),
            nn.ReLU(),
            *_conv_bn(f[0], f[1]),
            nn.ReLU(),
            nn.MaxPool2d(3, 2, 1),
        )
        # modules are registered in the reference's order, so parameters line up one to one
        self.fuse2 = TTOA(f[2])
        self.fuse1 = TTOA(f[1])
        self.layer1 = _stage(f[1], f[1], blocks[0])
        self.layer2 = _stage(f[1], f[2], blocks[1], stride=2)
        self.layer3 = _stage(f[2], f[3], blocks[2], stride=2)
        self.deconv2 = nn.ConvTranspose2d(f[3], f[2], 4, 2, 1)
        self.uplayer2 = _stage(f[2], f[2], blocks[1])
        self.deconv1 = nn.ConvTranspose2d(f[2], f[1], 4, 2, 1)
        self.uplayer1 = _stage(f[1], f[1], blocks[0])
        self.head = FCNHead(f[1], 1)

        # edge branch: image gradient -> three TFD blocks gated by decoder side maps
        self.side3 = nn.Conv2d(f[3], 1, 1)
        self.side2 = nn.Conv2d(f[2], 1, 1)
        self.side1 = nn.Conv2d(f[1], 1, 1)
        self.edge_out = nn.Conv2d(edge, 1, 1, bias=False)
        self.edge_in = nn.Conv2d(in_channels, edge, 1)
        self.tfd1 = TFD(edge)
        self.tfd2 = TFD(edge)
        self.tfd3 = TFD(edge)
        self.gradient = GradientMagnitude(in_channels)

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        size = x.shape[-2:]
        c1 = self.layer1(self.stem(x))
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        up2 = self.uplayer2(self.fuse2(self.deconv2(c3), c2))
        up1 = self.uplayer1(self.fuse1(self.deconv1(up2), c1))

        e = self.edge_in(self.gradient(x))
        e = self.tfd1(e, _upsample(self.side3(c3), size, align_corners=True))
        e = self.tfd2(e, _upsample(self.side2(up2), size, align_corners=True))
        e = self.tfd3(e, _upsample(self.side1(up1), size, align_corners=True))
        edge_logits = self.edge_out(e)

        decoded = _upsample(up1, size, align_corners=False)  # as published (the side maps use True)
        fused = decoded * (1 + torch.sigmoid(edge_logits))
        return DetectorOutput(self.head(fused), (), fused, {"edge": edge_logits})


INFO = DetectorInfo(
    name="ISNet",
    paper="Zhang et al., ISNet: Shape Matters for Infrared Small Target Detection, CVPR 2022",
    reference_code="RuiZhang97/ISNet (master); YuChuang1205/PAL model/ISNet; XinyiYing/BasicIRSTD model/ISNet",
    side_outputs=0,
    published_params_m=1.09,  # PAL/original code, 3 channels, incl. 0.104 M never-called modules we omit (0.987 M)
    published_macs_g=30.62,
    paper_lr=0.05,  # original train_ISNet.py: Adagrad 0.05, weight decay 1e-4, cosine T_max=30; BasicIRSTD: Adam 5e-4
    paper_loss="soft_iou+edge",  # SoftIoU(mask) + 10*BCE(edge, grad(GT)) + SoftIoU(edge), original and BasicIRSTD
    notes=(
        "edge head is aux['edge'] (logits); the paper loss is SoftIoU(mask) + 10*BCE(edge, grad(GT)) "
        "+ SoftIoU(edge) as in BasicIRSTD; PAL trains on the mask only. DCNv2 in plain PyTorch."
    ),
    extra={"params_tolerance": 0.15},
    feature_channels=16,  # DetectorOutput.features at width 1, full resolution
    feature_stride=1,
)


@register_detector(INFO)
def isnet(in_channels: int = 3, width: float = 1.0) -> ISNet:
    return ISNet(in_channels=in_channels, width=width)
