"""The plain-PyTorch deformable convolution against a slow loop that spells out its
definition (torchvision's ``deform_conv2d`` semantics), and against ``F.conv2d``."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from detectors.deform_conv import ModulatedDeformConv2d, deform_conv2d


def _bilinear(image: np.ndarray, y: float, x: float) -> np.ndarray:
    """Value of ``image`` (C, H, W) at a fractional point; pixels outside read zero."""
    channels, height, width = image.shape
    if y <= -1 or y >= height or x <= -1 or x >= width:
        return np.zeros(channels)
    y0, x0 = math.floor(y), math.floor(x)
    ly, lx = y - y0, x - x0
    value = np.zeros(channels)
    for yy, wy in ((y0, 1 - ly), (y0 + 1, ly)):
        for xx, wx in ((x0, 1 - lx), (x0 + 1, lx)):
            if 0 <= yy < height and 0 <= xx < width:
                value += wy * wx * image[:, yy, xx]
    return value


def _slow_deform_conv(x, offset, weight, bias, stride, padding, dilation, mask):
    """One output pixel and one kernel tap at a time, in float64."""
    x, offset, weight = x.double().numpy(), offset.double().numpy(), weight.double().numpy()
    mask = None if mask is None else mask.double().numpy()
    batch, _, height, width = x.shape
    out_channels, _, kh, kw = weight.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    out_h = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    out_w = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((batch, out_channels, out_h, out_w))
    for b in range(batch):
        for i in range(out_h):
            for j in range(out_w):
                acc = bias.double().numpy().copy() if bias is not None else np.zeros(out_channels)
                for ki in range(kh):
                    for kj in range(kw):
                        k = ki * kw + kj
                        y = i * sh - ph + ki * dh + offset[b, 2 * k, i, j]
                        xx = j * sw - pw + kj * dw + offset[b, 2 * k + 1, i, j]
                        sample = _bilinear(x[b], y, xx)
                        if mask is not None:
                            sample = sample * mask[b, k, i, j]
                        acc += weight[:, :, ki, kj] @ sample
                out[b, :, i, j] = acc
    return torch.from_numpy(out)


# (kernel, stride, padding, dilation): ISNet's column and row taps, a square kernel,
# a dilated one and a strided one.
CASES = [
    ((3, 1), (1, 1), (1, 0), (1, 1)),
    ((1, 3), (1, 1), (0, 1), (1, 1)),
    ((3, 3), (1, 1), (1, 1), (1, 1)),
    ((3, 3), (1, 1), (2, 2), (2, 2)),
    ((3, 3), (2, 2), (1, 1), (1, 1)),
]


def _inputs(kernel, stride, padding, dilation, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    batch, channels, out_channels, height, width = 2, 3, 4, 5, 6
    kh, kw = kernel
    out_h = (height + 2 * padding[0] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (width + 2 * padding[1] - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    x = torch.randn(batch, channels, height, width, generator=g)
    weight = torch.randn(out_channels, channels, kh, kw, generator=g)
    bias = torch.randn(out_channels, generator=g)
    offset = 1.5 * torch.randn(batch, 2 * kh * kw, out_h, out_w, generator=g)
    # some samples far outside the image, some just outside (between -1 and 0), some on
    # whole pixels
    offset[0, 0, 0, 0], offset[0, 1, -1, -1], offset[1, -1, 0, -1] = -9.0, 12.0, 7.25
    offset[1, 0, 0, 0], offset[1, 1, 0, 0] = padding[0] - 0.6, padding[1] - 0.3  # first tap at (-0.6, -0.3)
    offset[0, 2:4] = offset[0, 2:4].round()
    mask = torch.rand(batch, kh * kw, out_h, out_w, generator=g)
    return x, offset, weight, bias, mask


@pytest.mark.parametrize("use_mask", [False, True])
@pytest.mark.parametrize("kernel, stride, padding, dilation", CASES)
def test_matches_slow_definition(kernel, stride, padding, dilation, use_mask: bool) -> None:
    x, offset, weight, bias, mask = _inputs(kernel, stride, padding, dilation)
    mask = mask if use_mask else None
    expected = _slow_deform_conv(x, offset, weight, bias, stride, padding, dilation, mask)
    got = deform_conv2d(x, offset, weight, bias, stride, padding, dilation, mask)
    assert got.dtype == torch.float32
    torch.testing.assert_close(got.double(), expected, rtol=1e-5, atol=1e-5)
    got64 = deform_conv2d(
        x.double(), offset.double(), weight.double(), bias.double(), stride, padding, dilation,
        None if mask is None else mask.double(),
    )
    torch.testing.assert_close(got64, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kernel, stride, padding, dilation", CASES)
def test_zero_offsets_are_a_plain_convolution(kernel, stride, padding, dilation) -> None:
    x, offset, weight, bias, mask = _inputs(kernel, stride, padding, dilation, seed=1)
    zeros, ones = torch.zeros_like(offset), torch.ones_like(mask)
    expected = F.conv2d(x, weight, bias, stride, padding, dilation)
    for mask in (None, ones):
        got = deform_conv2d(x, zeros, weight, bias, stride, padding, dilation, mask)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_gradients_match_finite_differences() -> None:
    x, offset, weight, bias, mask = (t.double() for t in _inputs((3, 1), (1, 1), (1, 0), (1, 1), seed=2))
    # shift samples off whole pixels, where bilinear sampling has kinks
    x, offset, mask = x[:1], offset[:1] + 0.1, mask[:1]
    args = [t.requires_grad_() for t in (x, offset, weight, bias, mask)]
    assert torch.autograd.gradcheck(lambda a, o, w, b, m: deform_conv2d(a, o, w, b, 1, (1, 0), 1, m), args)


def test_module_starts_as_half_scaled_convolution() -> None:
    torch.manual_seed(0)
    layer = ModulatedDeformConv2d(4, 5, (1, 3), padding=(0, 1))
    x = torch.randn(2, 4, 8, 8)
    expected = F.conv2d(x, 0.5 * layer.weight, layer.bias, padding=(0, 1))
    torch.testing.assert_close(layer(x), expected, rtol=1e-5, atol=1e-5)
    layer(x).square().mean().backward()
    assert layer.offset_mask.weight.grad.abs().sum() > 0  # zero-initialised, yet it learns
