"""The conv-based Haar transform against slow textbook formulas, block by block."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from detectors._wavelet import BANDS, HaarBank, haar_dwt2, haar_filter_bank, haar_undecimated2


def _block_bands(a: float, b: float, c: float, d: float) -> tuple[float, float, float, float]:
    """pywt.dwt2 'haar' on [[a, b], [c, d]]: separable 1-D Haar, lo=(x0+x1)/sqrt2, hi=(x0-x1)/sqrt2."""
    s = 1.0 / math.sqrt(2.0)
    top_lo, top_hi = s * (a + b), s * (a - b)  # along width, row 0
    bot_lo, bot_hi = s * (c + d), s * (c - d)  # along width, row 1
    ll = s * (top_lo + bot_lo)
    lh = s * (top_lo - bot_lo)  # high-pass along height: pywt cH
    hl = s * (top_hi + bot_hi)  # high-pass along width: pywt cV
    hh = s * (top_hi - bot_hi)  # pywt cD
    return ll, lh, hl, hh


def _slow_dwt2(x: np.ndarray) -> np.ndarray:
    """(B, C, H, W) -> (B, C, 4, H//2, W//2) by explicit loops over non-overlapping blocks."""
    b, c, h, w = x.shape
    out = np.zeros((b, c, 4, h // 2, w // 2))
    for n in range(b):
        for k in range(c):
            for i in range(h // 2):
                for j in range(w // 2):
                    blk = x[n, k, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2]
                    out[n, k, :, i, j] = _block_bands(blk[0, 0], blk[0, 1], blk[1, 0], blk[1, 1])
    return out


def _slow_undecimated2(x: np.ndarray) -> np.ndarray:
    """Same formulas on the 2x2 block ending at each pixel, zeros above/left of the image."""
    b, c, h, w = x.shape
    padded = np.zeros((b, c, h + 1, w + 1))
    padded[:, :, 1:, 1:] = x
    out = np.zeros((b, c, 4, h, w))
    for n in range(b):
        for k in range(c):
            for i in range(h):
                for j in range(w):
                    blk = padded[n, k, i : i + 2, j : j + 2]
                    out[n, k, :, i, j] = _block_bands(blk[0, 0], blk[0, 1], blk[1, 0], blk[1, 1])
    return out


def _random(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(size=shape))


def test_known_block_matches_pywt_documented_values() -> None:
    # pywt.dwt2([[1, 2], [3, 4]], "haar") -> cA 5, cH -2, cV -1, cD 0
    x = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]], dtype=torch.float64)
    bands = haar_dwt2(x)[0, 0, :, 0, 0]
    assert torch.allclose(bands, torch.tensor([5.0, -2.0, -1.0, 0.0], dtype=torch.float64))
    assert BANDS == ("LL", "LH", "HL", "HH")


@pytest.mark.parametrize("shape", [(2, 3, 8, 12), (1, 1, 6, 4)])
def test_dwt_matches_loops(shape: tuple[int, ...]) -> None:
    x = _random(shape)
    fast = haar_dwt2(x).numpy()
    np.testing.assert_allclose(fast, _slow_dwt2(x.numpy()), rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(2, 3, 6, 10), (1, 2, 5, 7)])
def test_undecimated_matches_loops(shape: tuple[int, ...]) -> None:
    x = _random(shape, seed=1)
    fast = haar_undecimated2(x).numpy()
    assert fast.shape == (*shape[:2], 4, *shape[2:])
    np.testing.assert_allclose(fast, _slow_undecimated2(x.numpy()), rtol=0, atol=1e-12)


def test_dwt_is_orthonormal() -> None:
    # orthonormal filters: energy is preserved and the 4 analysis kernels are orthonormal,
    # so the transform is perfectly invertible by its transpose
    x = _random((2, 3, 16, 16), seed=2)
    assert torch.allclose((haar_dwt2(x) ** 2).sum(), (x**2).sum())
    bank = haar_filter_bank(torch.float64).flatten(1)
    assert torch.allclose(bank @ bank.T, torch.eye(4, dtype=torch.float64))
    recon = torch.nn.functional.conv_transpose2d(
        haar_dwt2(x).flatten(1, 2), haar_filter_bank(torch.float64).repeat(3, 1, 1, 1), stride=2, groups=3
    )
    assert torch.allclose(recon, x)


def test_module_follows_dtype_and_has_no_state() -> None:
    bank = HaarBank()
    assert not list(bank.parameters()) and not bank.state_dict()
    x = _random((1, 2, 8, 8), seed=3).float()
    assert torch.allclose(bank.dwt(x), haar_dwt2(x))
    assert torch.allclose(bank.undecimated(x.double()), haar_undecimated2(x.double()))
