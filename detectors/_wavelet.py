"""Single-level 2-D Haar wavelet analysis as a fixed 2x2 filter bank in plain PyTorch.

MSDA-Net builds its Haar filters from PyWavelets (``pywt.Wavelet("haar")``) and applies
them with ``conv2d``; this module reproduces those filters without the dependency. The
sub-band conventions follow ``pywt.dwt2``: for a 2x2 block ``[[a, b], [c, d]]``

    LL = (a + b + c + d) / 2        pywt cA  (approximation)
    LH = (a + b - c - d) / 2        pywt cH  (horizontal detail: high-pass along height)
    HL = (a - b + c - d) / 2        pywt cV  (vertical detail: high-pass along width)
    HH = (a - b - c + d) / 2        pywt cD  (diagonal detail)

i.e. orthonormal 1/sqrt(2) filters per axis (1/2 in 2-D), detail = first minus second
sample. Sub-bands are always returned in the order LL, LH, HL, HH.

Two forms are used by the network:

* :func:`haar_dwt2`, the decimated transform (stride 2, no padding). For even sizes this
  equals ``pywt.dwt2`` in every extension mode, since Haar blocks never straddle the edge;
  for an odd size the last row/column is dropped, as the reference's ``conv2d`` does.
* :func:`haar_undecimated2`, the same filters at stride 1 after one zero row on top and
  one zero column on the left, so each output pixel is the Haar response of the 2x2
  block ending at it and the map keeps the input size (the reference's attention form).

MSDA-Net never uses the inverse transform, so none is provided.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BANDS = ("LL", "LH", "HL", "HH")


def haar_filter_bank(dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> torch.Tensor:
    """The four 2x2 Haar analysis kernels as a ``(4, 1, 2, 2)`` cross-correlation weight."""
    bank = torch.tensor(
        [
            [[1.0, 1.0], [1.0, 1.0]],  # LL
            [[1.0, 1.0], [-1.0, -1.0]],  # LH
            [[1.0, -1.0], [1.0, -1.0]],  # HL
            [[1.0, -1.0], [-1.0, 1.0]],  # HH
        ],
        dtype=dtype,
        device=device,
    )
    return (0.5 * bank).unsqueeze(1)


def _apply_bank(x: torch.Tensor, bank: torch.Tensor, stride: int) -> torch.Tensor:
    """Depthwise filter-bank conv: ``(B, C, H, W) -> (B, C, 4, H', W')`` in one grouped conv."""
    channels = x.shape[1]
    weight = bank.to(dtype=x.dtype).repeat(channels, 1, 1, 1)  # (4C, 1, 2, 2), channel-major
    out = F.conv2d(x, weight, stride=stride, groups=channels)
    return out.unflatten(1, (channels, 4))


def haar_dwt2(x: torch.Tensor, bank: torch.Tensor | None = None) -> torch.Tensor:
    """Decimated Haar DWT: ``(B, C, H, W) -> (B, C, 4, H // 2, W // 2)``, bands LL, LH, HL, HH."""
    if bank is None:
        bank = haar_filter_bank(x.dtype, x.device)
    return _apply_bank(x, bank, stride=2)


def haar_undecimated2(x: torch.Tensor, bank: torch.Tensor | None = None) -> torch.Tensor:
    """Stride-1 Haar responses: ``(B, C, H, W) -> (B, C, 4, H, W)``, zero row/column on top/left."""
    if bank is None:
        bank = haar_filter_bank(x.dtype, x.device)
    return _apply_bank(F.pad(x, (1, 0, 1, 0)), bank, stride=1)


class HaarBank(nn.Module):
    """Holds the filter bank as a non-persistent buffer so it follows ``.to(device)``.

    Non-persistent: the filters are constants, so checkpoints neither store nor need them.
    """

    bank: torch.Tensor

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("bank", haar_filter_bank(), persistent=False)

    def dwt(self, x: torch.Tensor) -> torch.Tensor:
        return haar_dwt2(x, self.bank)

    def undecimated(self, x: torch.Tensor) -> torch.Tensor:
        return haar_undecimated2(x, self.bank)
