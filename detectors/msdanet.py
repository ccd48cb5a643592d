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

Layer by layer: modules are registered in the reference's order, so ``parameters()``
yields the reference's shapes in the reference's order (checked against a table read
from the PAL code, ``tests/data/msdanet_reference_shapes.json``; the MSDA-Net repository's
``MSDA.py`` has the same names and shapes); ``REFERENCE_KEY_RULES`` spell our keys as the
reference does, so its checkpoints load with ``detectors._reference.load_reference_state_dict``.

Differences from the code, none of which changes the published network's function:
* the contrast heads' residual 1x1 conv (``conv_res`` in ``RFB_modified_LCL``) is built
  but never used in the reference's forward; it is left out (14,048 parameters at width
  1.0), since a parameter without a gradient is dead weight and breaks the contract;
* the four per-band 2->1 7x7 spatial-gate convs (separate modules, as in the code) run
  as one grouped conv, and the four gated maps are summed as ``x * sum(gates)``;
* the reference's hand-written backward passes (which cast filters to float16) are
  replaced by autograd through the same convs; resampling uses explicit sizes;
* with ``in_channels`` = 1 the Haar bands bring 3 channels instead of 9 and the stage-2
  conv branch widens (29 instead of 23) so the stage stays 32 channels wide.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from detectors._reference import KeyRules
from detectors._wavelet import BANDS, HaarBank
from detectors.base import DetectorInfo, DetectorOutput, kaiming_init_, register_detector, scaled
from detectors.gglnet import BasicBlock, DownBlock, SqueezeExcite, conv_bn

# Our keys as the reference (PAL MSDA_no_sigmoid.py, MSDA-Net MSDA.py) spells them.
REFERENCE_KEY_RULES: KeyRules = (
    (r"^stem\.", "stage.layer1."),
    (r"^stages\.(\d)\.entry\.", lambda m: f"stage.resnet{int(m[1]) + 1}_1."),
    (r"^(stage\.resnet1_1)\.body\.", r"\1.layer."),
    (r"^(stage\.resnet\d_1)\.body\.", r"\1.layer1."),
    (r"^(stage\.resnet\d_1)\.shortcut\.", r"\1.layer2."),
    (r"^stages\.(\d)\.blocks\.(\d)\.", lambda m: f"stage.resnet{int(m[1]) + 1}_{int(m[2]) + 2}."),
    (r"^stages\.(\d)\.shortcut\.", lambda m: f"stage.layer{int(m[1]) + 1}_4."),
    (r"^fuse\.", "stage.layer5_4."),
    (r"^heads\.(\d)\.", lambda m: f"mlcl{5 - int(m[1])}."),
    (r"^fusions\.(\d)\.", lambda m: f"sbam{4 - int(m[1])}."),
    (r"^final\.", "layer."),
    (r"\.branches\.(\d)\.", r".branch\1."),
    (r"\.merge\.", ".conv_cat."),
    (r"\.out_conv\.", ".conv_res."),
    (r"\.frequency\.gates\.(\w\w)\.", r".FrequencyAttention.\1_reduce.conv."),
    (r"\.frequency\.refine\.", ".FrequencyAttention.conv_res."),
    (r"\.se\.", ".SEAttention."),
    (r"\.project\.", ".hl_layer."),
    (r"\.correct\.", ".concat_layer."),
)


class BasicConv(nn.Module):
    """Bias-free conv + BN + ReLU with 'same' padding (the reference's ``BasicConv2d``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int = 1):
        super().__init__()
        padding = dilation * (kernel_size // 2)
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=padding, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _branches(c: int, with_1x1_3x3: bool) -> nn.ModuleList:
    """1x1; (1x1 + 3x3); 3x3 + dilated-3; 5x5 + dilated-5 (the second only in the encoder)."""
    branches = [nn.Sequential(BasicConv(c, c, 1))]
    if with_1x1_3x3:
        branches.append(nn.Sequential(BasicConv(c, c, 1), BasicConv(c, c, 3)))
    branches.append(nn.Sequential(BasicConv(c, c, 3), BasicConv(c, c, 3, dilation=3)))
    branches.append(nn.Sequential(BasicConv(c, c, 5), BasicConv(c, c, 3, dilation=5)))
    return nn.ModuleList(branches)


class FrequencyAttention(nn.Module):
    """Direction-aware attention: each stride-1 Haar sub-band of x gates x spatially.

    Per band b: g_b = sigmoid(conv7x7_b([max_c band_b, mean_c band_b])); output
    relu(x + BN(conv3x3(x * sum_b g_b))). The four 2->1 gate convs are separate modules,
    registered HH, LH, HL, LL as in the reference, and run as one grouped conv.
    """

    def __init__(self, channels: int, kernel_size: int = 7):
        super().__init__()
        self.haar = HaarBank()
        self.gates = nn.ModuleDict(
            {band: nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2) for band in ("HH", "LH", "HL", "LL")}
        )
        self.refine = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels))
        kaiming_init_(self.refine)
        kaiming_init_(self.gates)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bands = self.haar.undecimated(x)  # (B, C, 4, H, W), bands in BANDS order
        pooled = torch.stack([bands.amax(dim=1), bands.mean(dim=1)], dim=2).flatten(1, 2)  # (B, 8, H, W)
        weight = torch.cat([self.gates[band].weight for band in BANDS])
        bias = torch.cat([self.gates[band].bias for band in BANDS])
        padding = self.gates["LL"].padding
        gate = torch.sigmoid(F.conv2d(pooled, weight, bias, padding=padding, groups=4)).sum(dim=1, keepdim=True)
        return F.relu(x + self.refine(x * gate))


class DirectionAwareBlock(nn.Module):
    """Four receptive-field branches, 3x3 merge, frequency attention, SE, residual add."""

    def __init__(self, channels: int):
        super().__init__()
        c = channels
        self.branches = _branches(c, with_1x1_3x3=True)
        self.merge = BasicConv(4 * c, c, 3)
        self.out_conv = BasicConv(c, c, 3)
        self.frequency = FrequencyAttention(c)
        self.se = SqueezeExcite(c, reduction=4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.merge(torch.cat([branch(x) for branch in self.branches], dim=1))
        return F.relu(x + self.out_conv(self.se(self.frequency(y))))


class MultiScaleContrast(nn.Module):
    """Decoder head: 1x1, 3x3 + dilated-3 and 5x5 + dilated-5 branches merged by a 3x3 conv."""

    def __init__(self, channels: int):
        super().__init__()
        self.branches = _branches(channels, with_1x1_3x3=False)
        self.merge = BasicConv(3 * channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.merge(torch.cat([branch(x) for branch in self.branches], dim=1))


class TopDownFusion(nn.Module):
    """Upsample the deep map, correct it by a conv of [deep, shallow], project, add to shallow."""

    def __init__(self, deep_channels: int, channels: int):
        super().__init__()
        d = deep_channels
        self.project = nn.Sequential(nn.Conv2d(d, channels, 1), nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.correct = nn.Sequential(
            nn.Conv2d(d + channels, d, 1),
            nn.BatchNorm2d(d),
            nn.ReLU(inplace=True),
            nn.Conv2d(d, d, 3, padding=1),
            nn.BatchNorm2d(d),
            nn.ReLU(inplace=True),
        )
        kaiming_init_(self.project)
        kaiming_init_(self.correct)

    def forward(self, deep: torch.Tensor, shallow: torch.Tensor) -> torch.Tensor:
        deep = F.interpolate(deep, size=shallow.shape[-2:], mode="bilinear", align_corners=True)
        deep = deep + self.correct(torch.cat([deep, shallow], dim=1))
        return shallow + self.project(deep)


class EncoderStage(nn.Module):
    """Entry block, two direction-aware blocks, and the max-pooled squeeze to the 1/16 scale
    (``pools`` 2x2 pools then a 1x1 conv; none for the last stage)."""

    def __init__(self, entry: nn.Module, channels: int, side: int, pools: int):
        super().__init__()
        self.entry = entry
        self.blocks = nn.Sequential(DirectionAwareBlock(channels), DirectionAwareBlock(channels))
        self.shortcut: nn.Module | None = None
        if pools:
            self.shortcut = nn.Sequential(
                *(nn.MaxPool2d(2) for _ in range(pools)), nn.Conv2d(channels, side, 1), nn.ReLU(inplace=True)
            )
            kaiming_init_(self.shortcut)


class MSDANet(nn.Module):
    def __init__(self, in_channels: int = 3, width: float = 1.0):
        super().__init__()
        f = [scaled(c, width, minimum=4) for c in (16, 32, 64, 64, 64)]
        side = scaled(16, width, minimum=4)
        self.haar = HaarBank()
        haar_channels = 3 * in_channels  # LH, HL, HH of each input channel
        conv2 = max(4, f[1] - haar_channels)  # 23 at width 1.0 with 3 channels, as published
        f[1] = conv2 + haar_channels

        # modules are registered in the reference's order, so parameters line up one to one
        self.stem = nn.Sequential(*conv_bn(in_channels, f[0]), *conv_bn(f[0], f[0]))
        kaiming_init_(self.stem)
        # first block of each stage: identity residual at full size, then four down-samplings
        entries = [BasicBlock(f[0]), DownBlock(f[0], conv2), *(DownBlock(f[i - 1], f[i]) for i in range(2, 5))]
        self.stages = nn.ModuleList(EncoderStage(entry, c, side, 4 - i) for i, (entry, c) in enumerate(zip(entries, f)))
        fuse = scaled(128, width, minimum=4)
        self.fuse = nn.Sequential(
            nn.Conv2d(f[4] + 4 * side, fuse, 1), nn.ReLU(inplace=True), nn.Conv2d(fuse, f[4], 1), nn.ReLU(inplace=True)
        )
        kaiming_init_(self.fuse)
        # decoder, deepest first: a contrast head per stage, then the top-down fusions
        self.heads = nn.ModuleList(MultiScaleContrast(c) for c in reversed(f))
        self.fusions = nn.ModuleList(TopDownFusion(f[i + 1], f[i]) for i in reversed(range(4)))
        self.final = nn.Sequential(nn.Conv2d(f[0], f[0], 1), nn.ReLU(inplace=True), nn.Conv2d(f[0], 1, 1))
        kaiming_init_(self.final)

    def _haar_details(self, x: torch.Tensor) -> torch.Tensor:
        """LH, HL, HH of the image at half size, band-major: [LH(all ch), HL(all ch), HH(all ch)]."""
        return self.haar.dwt(x)[:, :, 1:].transpose(1, 2).flatten(1, 2)

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        out = self.stem(x)
        features, pooled = [], []
        for i, stage in enumerate(self.stages):
            out = stage.entry(out)
            if i == 1:
                out = torch.cat([self._haar_details(x), out], dim=1)
            out = stage.blocks(out)
            if stage.shortcut is not None:
                pooled.append(stage.shortcut(out))
            features.append(out)
        features[-1] = self.fuse(torch.cat([features[-1], *reversed(pooled)], dim=1))

        skips = [head(feat) for head, feat in zip(self.heads, reversed(features))]
        fused = skips[0]
        for fusion, skip in zip(self.fusions, skips[1:]):
            fused = fusion(fused, skip)
        return DetectorOutput(self.final(fused), (), fused)


INFO = DetectorInfo(
    name="MSDANet",
    paper="Zhao, Yu et al., Multi-Scale Direction-Aware Network for Infrared Small Target Detection, TGRS 2025",
    reference_code="YuChuang1205/MSDA-Net model/MSDA_Net/MSDA.py; YuChuang1205/PAL model/MSDA/MSDA_no_sigmoid.py",
    side_outputs=0,
    published_params_m=4.805,  # reference total 4,805,089, incl. 14,048 never-called head params we omit
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
