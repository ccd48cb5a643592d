"""Every registered detector, tested the moment it is registered (timm's pattern)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.padding import pad_bottom_right
from benchmark.registry import DETECTORS
from detectors.base import DetectorOutput, WithTargetPrior, build_detector, detector_info

ALL = DETECTORS.names()
TEST_WIDTH = 0.25  # reduced width keeps the CPU test fast; architecture is unchanged


def _padded_batch(h: int, w: int, channels: int, batch: int = 2) -> torch.Tensor:
    rng = np.random.default_rng(0)
    images = rng.normal(size=(batch, channels, h, w)).astype(np.float32)
    return torch.from_numpy(pad_bottom_right(images, 32))


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("size", [(96, 128), (100, 100)])
def test_forward_backward_contract(name: str, channels: int, size: tuple[int, int]) -> None:
    torch.manual_seed(0)
    model = build_detector(name, in_channels=channels, width=TEST_WIDTH)
    x = _padded_batch(*size, channels)
    out = model(x)
    assert isinstance(out, DetectorOutput)
    assert out.logits.shape == (x.shape[0], 1, *x.shape[-2:])
    info = detector_info(name)
    assert len(out.side) == info.side_outputs
    for side in out.side:
        assert side.shape == out.logits.shape
    # logits, not probabilities: a sigmoid inside would confine values to [0, 1]
    assert out.logits.min() < 0 or out.logits.max() > 1
    loss = out.logits.mean() + sum(s.mean() for s in out.side)
    if out.features is not None:
        assert out.features.shape[0] == x.shape[0] and out.features.ndim == 4
        loss = loss + out.features.mean()
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not torch.isfinite(p.grad).all())]
    assert not missing, f"no finite gradient reaches: {missing[:5]}"
    dead = [n for n, p in model.named_parameters() if p.requires_grad and p.grad.abs().sum() == 0]
    assert len(dead) <= len(list(model.parameters())) // 10, f"zero gradient for {dead[:5]}"


@pytest.mark.parametrize("name", ALL)
def test_eval_is_deterministic(name: str) -> None:
    torch.manual_seed(0)
    model = build_detector(name, in_channels=1, width=TEST_WIDTH).eval()
    x = _padded_batch(64, 64, 1)
    with torch.no_grad():
        a, b = model(x).logits, model(x).logits
    assert torch.equal(a, b)


@pytest.mark.parametrize("name", ALL)
def test_published_parameter_count(name: str) -> None:
    info = detector_info(name)
    if info.published_params_m is None:
        pytest.skip(f"{name} has no published parameter count")
    model = build_detector(name, in_channels=3)
    params_m = sum(p.numel() for p in model.parameters()) / 1e6
    tolerance = info.extra.get("params_tolerance", 0.02)
    assert abs(params_m - info.published_params_m) <= tolerance * info.published_params_m, (
        f"{name}: {params_m:.3f} M parameters, published {info.published_params_m} M"
    )


def test_width_scales_down() -> None:
    for name in ALL:
        full = sum(p.numel() for p in build_detector(name, 1).parameters())
        small = sum(p.numel() for p in build_detector(name, 1, width=0.25).parameters())
        assert small < full / 4, name


def test_target_prior_shifts_every_map_by_its_log_odds() -> None:
    torch.manual_seed(0)
    raw = build_detector("ISNet", in_channels=1, width=0.25).eval()
    wrapped = WithTargetPrior(raw, 0.01).eval()
    x = torch.randn(1, 1, 64, 64)
    with torch.no_grad():
        a, b = raw(x), wrapped(x)
    shift = float(np.log(0.01 / 0.99))
    torch.testing.assert_close(b.logits, a.logits + shift)
    assert len(b.side) == len(a.side)
    for s_raw, s_wrapped in zip(a.side, b.side):
        torch.testing.assert_close(s_wrapped, s_raw + shift)
    torch.testing.assert_close(b.aux["edge"], a.aux["edge"])  # the edge head is not a target map
    assert sum(p.numel() for p in wrapped.parameters()) == sum(p.numel() for p in raw.parameters())
    with pytest.raises(ValueError, match="prior"):
        WithTargetPrior(raw, 1.0)


def test_standardized_prior_unsaturates_a_saturated_head_without_side_effects() -> None:
    torch.manual_seed(0)
    raw = build_detector("MLCLNet", in_channels=1, width=0.25)
    x = torch.randn(4, 1, 64, 64)
    with torch.no_grad():
        assert float(raw.train()(x).logits.mean()) > 5  # He fan-out over one channel: saturated at p ~ 1
    buffers = {k: v.clone() for k, v in raw.state_dict().items()}
    rng = torch.get_rng_state()
    wrapped = WithTargetPrior(raw, 0.01, standardize=True, in_channels=1)
    assert torch.equal(rng, torch.get_rng_state())  # the probe draws from its own generator
    assert all(torch.equal(buffers[k], v) for k, v in raw.state_dict().items())  # BatchNorm stats untouched
    with torch.no_grad():
        logits = wrapped.train()(x).logits
    assert abs(float(logits.mean()) - np.log(0.01 / 0.99)) < 1.0 and float(logits.std()) < 1.5
    assert 0.005 < float(torch.sigmoid(logits).mean()) < 0.05
