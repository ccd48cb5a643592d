"""ALCL-Net (Yu et al., GRSL 2022): attention-guided local contrast learning.

Follows the public code (Keras original YuChuang1205/ALCL-Net; PyTorch copies in
YuChuang1205/MSDA-Net and PAL): a five-stage residual encoder (16, 32, 64, 128, 256
channels, three blocks per stage), one local contrast learning (LCL) branch per stage
(1x1 conv + ReLU, 3x3 conv + ReLU, no BatchNorm), and a top-down decoder of
selective bottom-up attention modules (SBAM) in which the high-level map is upsampled
and projected, then gated by a sigmoid of the low-level map and added to it. A 1x1
conv + ReLU and a 1x1 conv to one channel give the logits; no deep supervision.
Resampling uses explicit target sizes, so any input that is a multiple of 16 works
(the reference's fixed scale factor 2 gives the same result there).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from detectors._lcl import LocalContrastBranch, ResidualEncoder, init_weights, resize
from detectors.base import DetectorInfo, DetectorOutput, register_detector, scaled


class SBAM(nn.Module):
    """Low-level map gates the upsampled high-level map: ``low + up(high) * sigmoid(low)``.

    The gate comes from the low level so that fine spatial detail decides where the
    coarse semantic response is let through, which keeps small targets from being
    smeared out by the upsampled deep features.
    """

    def __init__(self, high_channels: int, low_channels: int):
        super().__init__()
        self.high = nn.Sequential(nn.Conv2d(high_channels, low_channels, 1), nn.BatchNorm2d(low_channels), nn.ReLU())
        self.gate = nn.Sequential(nn.Conv2d(low_channels, low_channels, 1), nn.BatchNorm2d(low_channels))

    def forward(self, high: torch.Tensor, low: torch.Tensor) -> torch.Tensor:
        # upsample first, then project: the reference's order (it sets the MAC count)
        high = self.high(resize(high, low))
        return low + high * torch.sigmoid(self.gate(low))


class ALCLNet(nn.Module):
    def __init__(self, in_channels: int = 3, width: float = 1.0):
        super().__init__()
        widths = [scaled(c, width, minimum=2) for c in (16, 32, 64, 128, 256)]
        self.encoder = ResidualEncoder(in_channels, widths, blocks=3)
        self.lcl = nn.ModuleList([LocalContrastBranch(c, c, kernel_size=1, dilation=1) for c in widths])
        # sbam[i] fuses level i+1 (coarser) into level i
        self.sbam = nn.ModuleList([SBAM(widths[i + 1], widths[i]) for i in range(len(widths) - 1)])
        self.head_hidden = nn.Conv2d(widths[0], widths[0], 1)
        self.head = nn.Conv2d(widths[0], 1, 1)
        init_weights(self)

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        levels = [lcl(f) for lcl, f in zip(self.lcl, self.encoder(x))]
        out = levels[-1]
        for i in range(len(levels) - 2, -1, -1):
            out = self.sbam[i](out, levels[i])
        logits = self.head(F.relu(self.head_hidden(out)))
        return DetectorOutput(logits, (), out)


INFO = DetectorInfo(
    name="ALCLNet",
    paper="Yu et al., Pay Attention to Local Contrast Learning Networks for Infrared Small Target Detection, GRSL 2022",
    reference_code="YuChuang1205/ALCL-Net (Keras); YuChuang1205/MSDA-Net model/ALCL_Net/alcl.py; "
    "YuChuang1205/PAL model/ALCL/ALCL_no_sigmoid.py",
    side_outputs=0,
    published_params_m=5.668,
    published_macs_g=6.81,
    # PAL trains every detector with AdamW 1e-3 and advises 5e-4 for ALCL-Net for stability;
    # the authors' own PyTorch framework (MSDA-Net) uses Adam 1e-4, batch 4, 500 epochs
    paper_lr=5e-4,
    # the Keras original compiles with a soft-IoU loss on the sigmoid output (as does
    # MSDA-Net's framework); PAL replaces it with its edge-weighted SCE loss
    paper_loss="soft_iou",
    notes="single output; features = the last SBAM output (finest level, width 16) that feeds the "
    "1x1-ReLU-1x1 head; bilinear align_corners=True as in the PyTorch references",
    feature_channels=16,  # DetectorOutput.features at width 1, full resolution
    feature_stride=1,
)


@register_detector(INFO)
def alclnet(in_channels: int = 3, width: float = 1.0) -> ALCLNet:
    """The published ALCL-Net at ``width`` 1.0; ``width`` scales every channel count."""
    return ALCLNet(in_channels=in_channels, width=width)
