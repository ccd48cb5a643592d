"""Deformable convolution (DCNv1/DCNv2) in plain PyTorch, no compiled extension.

Same semantics and tensor layouts as ``torchvision.ops.deform_conv2d`` with one
deformable group: ``offset`` is ``(B, 2*K, Ho, Wo)`` holding ``(dy, dx)`` for each of the
``K = kh*kw`` kernel taps in row-major order, ``mask`` (DCNv2 modulation) is
``(B, K, Ho, Wo)``. A sample at a fractional position is bilinearly interpolated, and
positions outside the image read zeros (a sample between -1 and 0 still gets the weight
of its in-image neighbour), which is exactly ``F.grid_sample`` with zero padding.

All taps are sampled by one ``grid_sample`` call and the weights are applied as a 1x1
convolution over the ``C*K`` sampled columns, so flop counters see the convolution's
multiply-adds and ``torch.compile`` sees no Python control flow that depends on data.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair


def deform_conv2d(
    x: torch.Tensor,
    offset: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Deformable 2-D convolution; ``mask=None`` is DCNv1, a mask makes it DCNv2."""
    batch, channels, height, width = x.shape
    out_channels, in_channels, kh, kw = weight.shape
    if in_channels != channels:
        raise ValueError(f"weight expects {in_channels} input channels, got {channels}")
    (sh, sw), (ph, pw), (dh, dw) = _pair(stride), _pair(padding), _pair(dilation)
    out_h = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    taps = kh * kw
    if offset.shape != (batch, 2 * taps, out_h, out_w):
        raise ValueError(f"offset must be {(batch, 2 * taps, out_h, out_w)}, got {tuple(offset.shape)}")

    # Sampling positions in input pixel coordinates, shape (B, K, Ho, Wo) each.
    opts = dict(device=x.device, dtype=offset.dtype)
    tap_y = (torch.arange(kh, **opts) * dh).repeat_interleave(kw).view(1, taps, 1, 1)
    tap_x = (torch.arange(kw, **opts) * dw).repeat(kh).view(1, taps, 1, 1)
    base_y = (torch.arange(out_h, **opts) * sh - ph).view(1, 1, out_h, 1)
    base_x = (torch.arange(out_w, **opts) * sw - pw).view(1, 1, 1, out_w)
    offset = offset.view(batch, taps, 2, out_h, out_w)
    pos_y = base_y + tap_y + offset[:, :, 0]
    pos_x = base_x + tap_x + offset[:, :, 1]

    # grid_sample's align_corners=False maps pixel p to (2p + 1) / size - 1; it is used
    # (rather than align_corners=True) because it stays defined for a size of 1.
    grid = torch.stack(((2 * pos_x + 1) / width - 1, (2 * pos_y + 1) / height - 1), dim=-1)
    grid = grid.view(batch, taps * out_h, out_w, 2).to(x.dtype)
    samples = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    samples = samples.view(batch, channels, taps, out_h, out_w)
    if mask is not None:
        samples = samples * mask.view(batch, 1, taps, out_h, out_w)
    columns = samples.reshape(batch, channels * taps, out_h, out_w)
    return F.conv2d(columns, weight.reshape(out_channels, channels * taps, 1, 1), bias)


class ModulatedDeformConv2d(nn.Module):
    """DCNv2 layer: a plain conv predicts offsets and a sigmoid mask from the input.

    The offset/mask conv starts at zero (offsets 0, mask 0.5), the usual DCN
    initialisation, so training starts from an ordinary (half-scaled) convolution.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        dilation: int | tuple[int, int] = 1,
    ):
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride, self.padding, self.dilation = _pair(stride), _pair(padding), _pair(dilation)
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, *self.kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        bound = 1.0 / math.sqrt(in_channels * self.kernel_size[0] * self.kernel_size[1])
        nn.init.uniform_(self.weight, -bound, bound)
        taps = self.kernel_size[0] * self.kernel_size[1]
        self.offset_mask = nn.Conv2d(
            in_channels, 3 * taps, self.kernel_size, self.stride, self.padding, self.dilation, bias=True
        )
        nn.init.zeros_(self.offset_mask.weight)
        nn.init.zeros_(self.offset_mask.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        taps = self.kernel_size[0] * self.kernel_size[1]
        offset, mask = self.offset_mask(x).split([2 * taps, taps], dim=1)
        return deform_conv2d(
            x, offset, self.weight, self.bias, self.stride, self.padding, self.dilation, torch.sigmoid(mask)
        )
