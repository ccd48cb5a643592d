"""MSDA-Net specifics that the generic detector contract does not check."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from detectors._wavelet import haar_undecimated2
from detectors.msdanet import FrequencyAttention


def test_frequency_attention_gates_each_band_with_its_own_conv() -> None:
    """The grouped conv must give band b the gate conv registered for band b (HH, LH, HL,
    LL in the reference's order), i.e. equal the reference's four separate attentions."""
    torch.manual_seed(0)
    attention = FrequencyAttention(5).double().eval()
    with torch.no_grad():  # distinct gates, so a band/gate mix-up changes the output
        for i, conv in enumerate(attention.gates.values()):
            conv.weight.mul_(1 + i)
            conv.bias.fill_(0.3 * i - 0.5)
    x = torch.randn(2, 5, 12, 10, dtype=torch.float64)
    bands = haar_undecimated2(x)  # (B, C, 4, H, W) in LL, LH, HL, HH order
    gated = torch.zeros_like(x)
    for index, band in enumerate(("LL", "LH", "HL", "HH")):
        b = bands[:, :, index]
        pooled = torch.cat([b.amax(dim=1, keepdim=True), b.mean(dim=1, keepdim=True)], dim=1)
        conv = attention.gates[band]
        gated = gated + x * torch.sigmoid(F.conv2d(pooled, conv.weight, conv.bias, padding=3))
    expected = F.relu(x + attention.refine(gated))
    torch.testing.assert_close(attention(x), expected)
