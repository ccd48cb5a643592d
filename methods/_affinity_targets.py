"""GSACP's in-batch targets: point-anchored feature affinity inside a support window.

For every annotated point of a batch: the anchor is the (unit, per-image centred)
feature at the point; the pixels of the point's support window whose cosine affinity
to the anchor reaches a hard margin, and (with the gate) whose intensity is above the
mean of the ring just outside the window, are candidates; the target is the
8-connected part of the candidates that holds the point. Pixels outside every support
are background. ``support="adaptive"`` sizes each window from the affinity profile
around its point (how many rings around it stay mostly above the margin) instead of
one fixed radius. Everything works on all points of the batch at once, on a
``(N, K, K)`` stack of windows gathered around the N points.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

SUPPORTS = ("adaptive", "fixed")


@dataclass(frozen=True)
class TargetConfig:
    """How targets are made. Defaults are this harness's choices (the paper gives none)."""

    margin: float = 0.9  # hard cosine margin: a pixel is a candidate at affinity >= margin
    gate: bool = True  # local-contrast gate: candidates only where brighter than the surround ring
    support: str = "adaptive"  # adaptive | fixed
    radius: int = 5  # fixed support: window half-width (an 11x11 window)
    min_radius: int = 2  # adaptive support: the window half-width is clamped to [min, max]
    max_radius: int = 10
    ring_fill: float = 0.5  # adaptive: a ring counts as target while this fraction of it passes the margin
    slack: float = 0.5  # adaptive: the window reaches (1 + slack) x the estimated extent, plus one ring
    surround: int = 2  # width of the ring just outside the window that the gate compares against
    gate_std: float = 2.0  # the gate asks for intensity > ring mean + gate_std x ring spread
    center: bool = True  # centre features per image before the cosine (post-ReLU maps are all >= 0)

    def __post_init__(self) -> None:
        if self.support not in SUPPORTS:
            raise ValueError(f"support={self.support!r}: use adaptive or fixed")
        if not 0 <= self.min_radius <= self.max_radius or self.radius < 0 or self.surround < 1:
            raise ValueError("support radii must satisfy 0 <= min_radius <= max_radius, radius >= 0, surround >= 1")

    @property
    def window(self) -> int:
        """Half-width of the gathered windows: the largest support plus its surround ring."""
        largest = self.max_radius if self.support == "adaptive" else self.radius
        return largest + self.surround


@dataclass
class AffinityTargets:
    """Targets of one batch and what made them (for the loss and the history)."""

    target: torch.Tensor  # (B, 1, H, W) float 0/1: the mask targets
    support: torch.Tensor  # (B, 1, H, W) bool: union of the supports (outside: background)
    radius: torch.Tensor  # (N,) support half-width of each point
    area: torch.Tensor  # (N,) target pixels of each point
    batch_index: torch.Tensor  # (N,) which image each point is in

    @property
    def mean_area(self) -> float:
        return float(self.area.float().mean()) if self.area.numel() else 0.0


def find_points(points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(b, y, x) of every point of a ``(B, 1, H, W)`` point map (pixels > 0.5)."""
    b, _, y, x = (points > 0.5).nonzero(as_tuple=True)
    return b, y, x


def unit_features(features: torch.Tensor, size: tuple[int, int], center: bool = True) -> torch.Tensor:
    """Features at ``size`` (bilinear), optionally centred per image, unit length per pixel."""
    features = features.float()
    if features.shape[-2:] != size:
        features = F.interpolate(features, size=size, mode="bilinear", align_corners=False)
    if center:
        features = features - features.mean(dim=(2, 3), keepdim=True)
    norm = features.pow(2).sum(dim=1, keepdim=True).sqrt().clamp_min(1e-6)  # F.normalize's value; its CPU norm is ~50x slower
    return features / norm


@dataclass
class _Windows:
    """Square windows of half-width P around N points: coordinates and validity."""

    rows: torch.Tensor  # (N, K) clamped row of each window row
    cols: torch.Tensor  # (N, K)
    valid: torch.Tensor  # (N, K, K) inside the image
    distance: torch.Tensor  # (K, K) Chebyshev distance to the window centre

    def gather(self, maps: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """``maps[b, :, rows, cols]`` as (N, K, K, C)."""
        return maps[b[:, None, None], :, self.rows[:, :, None], self.cols[:, None, :]]


def _windows(y: torch.Tensor, x: torch.Tensor, half: int, shape: tuple[int, int]) -> _Windows:
    offsets = torch.arange(-half, half + 1, device=y.device)
    rows, cols = y[:, None] + offsets, x[:, None] + offsets
    valid = ((rows >= 0) & (rows < shape[0]))[:, :, None] & ((cols >= 0) & (cols < shape[1]))[:, None, :]
    distance = torch.maximum(offsets.abs()[:, None], offsets.abs()[None, :])
    return _Windows(rows.clamp(0, shape[0] - 1), cols.clamp(0, shape[1] - 1), valid, distance)


def adaptive_radius(affinity: torch.Tensor, win: _Windows, cfg: TargetConfig) -> torch.Tensor:
    """Support half-width per point from its affinity profile: e = how many rings around
    the point, from the first on, keep at least ``ring_fill`` of their pixels at affinity
    >= margin; the window is ``round((1 + slack) e) + 1``, clamped to [min_radius,
    max_radius]. (The gate is left out here: its surround is the ring outside the window
    this sizes.)"""
    radii = torch.arange(1, cfg.max_radius + 1, device=affinity.device)
    rings = (win.distance[None] == radii[:, None, None]).float()  # (R, K, K)
    passing = ((affinity >= cfg.margin) & win.valid).float()
    inside = torch.einsum("nkl,rkl->nr", win.valid.float(), rings).clamp(min=1.0)
    fill = torch.einsum("nkl,rkl->nr", passing, rings) / inside
    extent = torch.cumprod((fill >= cfg.ring_fill).long(), dim=1).sum(dim=1)
    return (torch.round((1.0 + cfg.slack) * extent.float()).long() + 1).clamp(cfg.min_radius, cfg.max_radius)


def contrast_gate(
    intensity: torch.Tensor, valid: torch.Tensor, distance: torch.Tensor, radius: torch.Tensor, width: int, spread: float = 0.0
) -> torch.Tensor:
    """(N, K, K) bool: pixels brighter than the mean (+ ``spread`` standard deviations) of
    the ring of ``width`` pixels just outside each point's support (its local surround);
    all-False where no ring pixel exists."""
    ring = (distance[None] > radius[:, None, None]) & (distance[None] <= radius[:, None, None] + width) & valid
    count = ring.sum(dim=(1, 2)).clamp(min=1)
    mean = (intensity * ring).sum(dim=(1, 2)) / count
    std = (((intensity - mean[:, None, None]) ** 2 * ring).sum(dim=(1, 2)) / count).sqrt()
    level = mean + spread * std
    return (intensity > level[:, None, None]) & ring.any(dim=(1, 2))[:, None, None]


def _grow_from_centre(candidates: torch.Tensor, steps: int) -> torch.Tensor:
    """The 8-connected part of each (K, K) candidate mask that holds the centre pixel."""
    k = candidates.shape[-1]
    seed = torch.zeros_like(candidates)
    seed[:, k // 2, k // 2] = True
    grown = seed.float()[:, None]
    allowed = (candidates | seed).float()[:, None]
    for _ in range(steps):  # geodesic dilation; the support's radius bounds the steps needed
        grown = F.max_pool2d(grown, 3, stride=1, padding=1) * allowed
    return grown[:, 0] > 0


def _scatter_max(values: torch.Tensor, b: torch.Tensor, win: _Windows, shape: tuple[int, int, int]) -> torch.Tensor:
    """Write (N, K, K) window values into a (B, 1, H, W) map, max over overlapping windows."""
    batch, h, w = shape
    flat = (b[:, None, None] * h + win.rows[:, :, None]) * w + win.cols[:, None, :]
    values = values.float() * win.valid
    out = torch.zeros(batch * h * w, device=values.device)
    out.scatter_reduce_(0, flat.flatten(), values.flatten(), reduce="amax")
    return out.view(batch, 1, h, w)


@torch.no_grad()
def affinity_targets(features: torch.Tensor, image: torch.Tensor, points: torch.Tensor, cfg: TargetConfig) -> AffinityTargets:
    """The targets of a batch from the features they come from (the teacher's when there
    is one): ``features`` (B, F, h, w), ``image`` (B, C, H, W), ``points`` (B, 1, H, W)."""
    batch, _, h, w = points.shape
    b, y, x = find_points(points)
    unit = unit_features(features, (h, w), cfg.center)
    win = _windows(y, x, cfg.window, (h, w))
    anchors = unit[b, :, y, x]  # (N, F)
    affinity = (win.gather(unit, b) * anchors[:, None, None, :]).sum(-1)  # (N, K, K)
    intensity = win.gather(image.float().mean(dim=1, keepdim=True), b)[..., 0] if cfg.gate else None
    if cfg.support == "adaptive":
        radius = adaptive_radius(affinity, win, cfg)
    else:
        radius = torch.full_like(b, cfg.radius)
    inside = (win.distance[None] <= radius[:, None, None]) & win.valid
    candidates = (affinity >= cfg.margin) & inside
    if intensity is not None:
        candidates &= contrast_gate(intensity, win.valid, win.distance, radius, cfg.surround, cfg.gate_std)
    target = _grow_from_centre(candidates, int(radius.max()) if len(radius) else 0)
    return AffinityTargets(
        target=_scatter_max(target, b, win, (batch, h, w)),
        support=_scatter_max(inside, b, win, (batch, h, w)) > 0,
        radius=radius,
        area=target.sum(dim=(1, 2)),
        batch_index=b,
    )
