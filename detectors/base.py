"""The detector contract shared by all networks.

A detector is a ``torch.nn.Module`` whose ``forward(x)`` takes a normalized image batch
``(B, C, H, W)`` with ``C`` in {1, 3} and ``H, W`` multiples of 32, and returns a
:class:`DetectorOutput`: logits (no sigmoid) of the final map at the input size, the
deep-supervision side logits (also at the input size), and a decoder feature map for
methods that work on features, and optional named auxiliary heads (ISNet's edge map)
that only the detector's own paper loss uses. Which output is final is explicit, never
an index convention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, NamedTuple

import torch
from torch import nn

from benchmark.registry import DETECTORS


class DetectorOutput(NamedTuple):
    """What a detector returns. A NamedTuple so torch.compile and tracing accept it."""

    logits: torch.Tensor  # (B, 1, H, W), the map used at test time
    side: tuple[torch.Tensor, ...]  # deep-supervision logits, each (B, 1, H, W); may be empty
    features: torch.Tensor | None  # decoder feature map (B, F, h, w) for feature-based methods
    aux: Mapping[str, torch.Tensor] | None = None  # detector-specific heads, e.g. ISNet's {"edge": logits}


@dataclass(frozen=True)
class DetectorInfo:
    """Facts about a detector that the profiles, records and listings use.

    ``paper_lr``/``paper_loss`` are the published training advice; the ``paper``
    profile may use them, and every record says what was used.
    """

    name: str
    paper: str
    reference_code: str
    side_outputs: int  # number of deep-supervision side outputs (0 if none)
    published_params_m: float | None = None  # at default width, 3-channel input
    published_macs_g: float | None = None  # at 1x3x256x256
    paper_lr: float | None = None
    paper_loss: str | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # ``DetectorOutput.features``: channels at width 1 (scaled with ``scaled(c, width,
    # feature_min_channels)`` as the network scales them) and input pixels per feature pixel
    feature_channels: int | None = None
    feature_stride: int = 1
    feature_min_channels: int = 2

    def channels_at(self, width: float) -> int | None:
        """Feature channels of the network built at ``width`` (None: no feature map)."""
        if self.feature_channels is None:
            return None
        return scaled(self.feature_channels, width, minimum=self.feature_min_channels)


DetectorFactory = Callable[..., nn.Module]


def register_detector(info: DetectorInfo) -> Callable[[DetectorFactory], DetectorFactory]:
    """Register a factory ``f(in_channels=3, width=1.0) -> nn.Module`` under ``info.name``."""

    def decorator(factory: DetectorFactory) -> DetectorFactory:
        DETECTORS.add(info.name, factory, info=info)
        return factory

    return decorator


def detector_info(name: str) -> DetectorInfo:
    return DETECTORS.entry(name).meta["info"]


def build_detector(name: str, in_channels: int = 3, width: float = 1.0, **options: Any) -> nn.Module:
    """Build a registered detector; ``width`` scales channel counts (1.0 = published)."""
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 or 3, got {in_channels}")
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    return DETECTORS.get(name)(in_channels=in_channels, width=width, **options)


def scaled(channels: int, width: float, minimum: int = 1) -> int:
    """Channel count at a width multiplier, never below ``minimum``."""
    return max(minimum, int(round(channels * width)))


def kaiming_init_(module: nn.Module) -> None:
    """He-normal (fan-out) convs with zero bias, unit BatchNorm: the init most references use."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class WithTargetPrior(nn.Module):
    """A detector whose output maps start at foreground probability ``prior`` (RetinaNet's
    prior init as a constant log-odds offset on the final and side logits).

    Why: from the usual init every pixel starts at p = 0.5 and SoftIoU must first push
    ~99.9% background pixels down before any target shows; in a 20-epoch reduced profile
    most detectors never get there. The offset is a constant, so the function class and
    parameter count are the detector's own; only where training starts changes. Reduced
    profiles only (``Profile.target_prior``); the paper profile keeps the papers' init.

    ``standardize=True`` also centres each map and divides it by its spread, both measured
    once here on a random batch with the detector's own init (a fixed affine map, as in
    data-dependent init). Why: heads initialized He fan-out over one output channel (MLCL,
    ALCL) start with logits of mean +10 and spread 7-18, saturated, so no offset helps.
    """

    def __init__(self, detector: nn.Module, prior: float, standardize: bool = False, in_channels: int = 1, probe_size: int = 64):
        super().__init__()
        if not 0.0 < prior < 1.0:
            raise ValueError(f"target prior must be in (0, 1), got {prior}")
        self.detector = detector
        self.offset = math.log(prior / (1.0 - prior))
        self.centre: list[float] | None = None  # per map: final, then the side maps
        self.scale: list[float] | None = None
        if standardize:
            self.centre, self.scale = _probe_logit_stats(detector, in_channels, probe_size)

    def _shift(self, logits: torch.Tensor, index: int) -> torch.Tensor:
        if self.centre is None or self.scale is None:
            return logits + self.offset
        return (logits - self.centre[index]) * self.scale[index] + self.offset

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        out = self.detector(x)
        side = tuple(self._shift(s, i + 1) for i, s in enumerate(out.side))
        return out._replace(logits=self._shift(out.logits, 0), side=side)


def _probe_logit_stats(detector: nn.Module, in_channels: int, size: int) -> tuple[list[float], list[float]]:
    """Mean and 1/max(1, std) of each output map on a fixed random batch in training mode;
    the detector's BatchNorm buffers and the global random state are left as they were."""
    first = next(detector.parameters())
    buffers = {k: v.clone() for k, v in detector.state_dict().items() if "running" in k or "num_batches" in k}
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(4, in_channels, size, size, generator=generator).to(first.device)
    was_training = detector.training
    detector.train()
    with torch.no_grad():
        out = detector(x)
    detector.train(was_training)
    detector.load_state_dict(buffers, strict=False)
    maps = [out.logits, *out.side]
    return [float(m.mean()) for m in maps], [1.0 / max(1.0, float(m.std())) for m in maps]
