"""MLCL-Net (Yu et al., Infrared Physics & Technology 2022): multiscale local contrast learning.

Follows the base version of the public code (the one matching the paper: YuChuang1205/
MLCL-Net ``model_MLCL-Net_base.py``; PyTorch copies in YuChuang1205/MSDA-Net
``model/MLCL_Net/mlcl_base.py`` and PAL ``model/MLCL/MLCL_no_sigmoid.py``, not the
``small`` variant): a three-stage residual encoder (16, 32, 64 channels, three blocks per
stage), a multiscale LCL module on every stage (three local contrast branches with
(kernel, dilation) = (1, 1), (3, 3), (5, 5), concatenated and fused by a 1x1 conv, so
targets of different sizes each find a matching contrast scale), and a bilinear feature
pyramid (BFPN): each level is projected to 64 channels by 1x1 conv + ReLU, the coarser
sum is upsampled and added. A 1x1 conv + ReLU and a 1x1 conv to one channel give the
logits; no deep supervision. Resampling uses explicit target sizes, so any input that is
a multiple of 4 works (the reference's fixed scale factor 2 gives the same result there).
All convs get He-normal init, as in the Keras original; the PyTorch copies leave the stem,
the BFPN laterals and the head at PyTorch's default init (architecture unaffected).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from detectors._lcl import LocalContrastBranch, ResidualEncoder, init_weights, resize
from detectors.base import DetectorInfo, DetectorOutput, register_detector, scaled

SCALES = ((1, 1), (3, 3), (5, 5))  # (kernel, dilation) of the three LCL branches


class MultiscaleLCL(nn.Module):
    """Three local contrast branches on the same input, fused by a 1x1 conv (no activation)."""

    def __init__(self, channels: int, scales: tuple[tuple[int, int], ...] = SCALES):
        super().__init__()
        self.branches = nn.ModuleList([LocalContrastBranch(channels, channels, k, d) for k, d in scales])
        self.fuse = nn.Conv2d(channels * len(scales), channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([branch(x) for branch in self.branches], dim=1))


class MLCLNet(nn.Module):
    def __init__(self, in_channels: int = 3, width: float = 1.0):
        super().__init__()
        widths = [scaled(c, width, minimum=2) for c in (16, 32, 64)]
        fused = scaled(64, width, minimum=2)  # BFPN width
        self.encoder = ResidualEncoder(in_channels, widths, blocks=3)
        self.mlcl = nn.ModuleList([MultiscaleLCL(c) for c in widths])
        self.lateral = nn.ModuleList([nn.Conv2d(c, fused, 1) for c in widths])
        self.head_hidden = nn.Conv2d(fused, fused, 1)
        self.head = nn.Conv2d(fused, 1, 1)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        levels = [F.relu(lat(mlcl(f))) for lat, mlcl, f in zip(self.lateral, self.mlcl, self.encoder(x))]
        out = levels[-1]
        for low in reversed(levels[:-1]):
            out = low + resize(out, low)
        logits = self.head(F.relu(self.head_hidden(out)))
        return DetectorOutput(logits, (), out)


INFO = DetectorInfo(
    name="MLCLNet",
    paper="Yu et al., Infrared small target detection based on multiscale local contrast learning networks, "
    "Infrared Physics & Technology 2022",
    reference_code="YuChuang1205/MLCL-Net (Keras, base); YuChuang1205/MSDA-Net model/MLCL_Net/mlcl_base.py; "
    "YuChuang1205/PAL model/MLCL/MLCL_no_sigmoid.py",
    side_outputs=0,
    published_params_m=0.657,
    published_macs_g=7.14,
    # PAL trains it with its default AdamW 1e-3 (no model-specific advice); the authors' own
    # PyTorch framework (MSDA-Net) uses Adam 1e-4, batch 4, 500 epochs
    paper_lr=1e-3,
    # the Keras original compiles with a soft-IoU loss on the sigmoid output (as does
    # MSDA-Net's framework); PAL replaces it with its edge-weighted SCE loss
    paper_loss="soft_iou",
    notes="base version (3 blocks per stage), not MLCL_small; single output; features = the fused "
    "full-resolution BFPN map (width 64) that feeds the 1x1-ReLU-1x1 head; bilinear align_corners=True "
    "as in the PyTorch references",
    feature_channels=64,  # DetectorOutput.features at width 1, full resolution
    feature_stride=1,
)


@register_detector(INFO)
def mlclnet(in_channels: int = 3, width: float = 1.0) -> MLCLNet:
    """The published MLCL-Net (base) at ``width`` 1.0; ``width`` scales every channel count."""
    return MLCLNet(in_channels=in_channels, width=width)
