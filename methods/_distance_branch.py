"""Learnable distance, the trainable part: point queries and the distance branch.

Our transplant of the ECCV'24 panoptic method to IRSTD points (new-methods.md section 3):

- pixels are embedded from the detector's decoder features by a per-pixel MLP (no
  position encoding: where a target ends is decided by appearance, the support bounds
  the rest); only pixels of some support are embedded (``Pixels``);
- one target query per annotated point, initialized from the embedded feature at the
  point, plus K learned background queries shared by all images;
- predict: each query cross-attends to the pixels of its support (background queries:
  the union of the image's supports), then its distance map is the squared Euclidean
  distance, per channel, between the projected query and the projected pixel;
- a round: aggregate (each pixel soft-assigned over the queries whose support holds it,
  softmax of -distance / tau; each query adds the weighted mean of its pixels' features)
  -> enhance (self-attention among the queries of an image, a post-norm transformer
  layer) -> predict again; ``rounds=0`` is the first prediction only.

Modules the switches turn off are not built (their parameters are not counted); they are
built last, so the shared parts start from the same weights whatever the switches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import torch
from torch import nn

from methods._distance_rules import (
    Assignment,
    Pixels,
    Queries,
    assign,
    cosine_distances,
    distance_loss,
    euclidean_distances,
    support_pixels,
    supports,
)


@dataclass(frozen=True)
class BranchConfig:
    dim: int = 32  # embedding and query width
    background_queries: int = 4
    heads: int = 4  # of the enhancement self-attention
    rounds: int = 2  # aggregate -> enhance -> predict repeats (the paper: 2-3 saturate)
    aggregation: bool = True
    enhancement: bool = True
    support: int = 10  # half-size of a point's local support (21 x 21 px)
    tau: float = 0.25  # soft-assignment temperature; distances are trained to a margin of 1


class BranchOutput(NamedTuple):
    """One distance tensor (B, N+K, P) per prediction (``rounds + 1``) at ``pixels``: the
    N target queries first (padded per image, see ``Queries``), then the K background ones."""

    distances: tuple[torch.Tensor, ...]
    pixels: Pixels


def _masked_softmax(logits: torch.Tensor, mask: torch.Tensor, dim: int) -> torch.Tensor:
    """Softmax over ``mask``ed entries; all-masked rows give zeros (never NaN)."""
    filled = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
    return torch.softmax(filled, dim=dim) * mask


def squared_distance(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor | None = None) -> torch.Tensor:
    """(B, Q, d) x (B, P, d) -> (B, Q, P): squared Euclidean distance per channel
    (``b_sq``: ``b``'s squared norms (B, P), when already known)."""
    b_sq = b.square().sum(-1) if b_sq is None else b_sq
    sq = a.square().sum(-1)[:, :, None] + b_sq[:, None, :]
    return (sq - 2 * a @ b.transpose(1, 2)).clamp_min(0) / a.shape[-1]


class _Enhance(nn.Module):
    """Self-attention among an image's queries (targets and background), post-norm."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, queries: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        mixed, _ = self.attention(queries, queries, queries, key_padding_mask=~valid, need_weights=False)
        queries = self.norm1(queries + mixed)
        return self.norm2(queries + self.ffn(queries))


class DistanceBranch(nn.Module):
    """Distance maps from decoder features and point queries; see the module docstring."""

    def __init__(self, in_channels: int, config: BranchConfig = BranchConfig()):
        super().__init__()
        self.config = config
        d = config.dim
        self.embed = nn.Sequential(nn.Linear(in_channels, d), nn.GELU(), nn.Linear(d, d))
        self.background = nn.Parameter(torch.randn(config.background_queries, d))
        self.query_proj, self.key_proj = nn.Linear(d, d), nn.Linear(d, d)
        self.value_proj, self.read_out = nn.Linear(d, d), nn.Linear(d, d)
        self.read_norm = nn.LayerNorm(d)
        # optional parts last (see the module docstring)
        rounds = config.rounds > 0
        self.aggregate_norm = nn.LayerNorm(d) if rounds and config.aggregation else None
        self.enhancer = _Enhance(d, config.heads) if rounds and config.enhancement else None

    def initial_queries(self, tokens: torch.Tensor, q: Queries, px: Pixels) -> torch.Tensor:
        """(B, N+K, d): the embedded feature at each point, then the background queries."""
        at = tokens.gather(1, px.locate(q)[..., None].expand(-1, -1, tokens.shape[-1]))
        background = self.background[None].expand(tokens.shape[0], -1, -1)
        return torch.cat([at, background], dim=1)

    def predict(self, queries: torch.Tensor, keys: tuple[torch.Tensor, torch.Tensor], values: torch.Tensor, windows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Cross-attention of each query to its support, then its distance map
        (``keys``: projected pixels and their squared norms)."""
        attention = _masked_softmax(-squared_distance(self.query_proj(queries), *keys), windows, dim=2)
        queries = self.read_norm(queries + self.read_out(attention @ values))
        return queries, squared_distance(self.query_proj(queries), *keys)

    def aggregate(self, queries: torch.Tensor, dist: torch.Tensor, tokens: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        """Soft-assign each pixel over the queries that hold it; add each query's weighted
        mean pixel feature to it."""
        assert self.aggregate_norm is not None
        weights = _masked_softmax(-dist / self.config.tau, windows, dim=1)
        mass = weights.sum(2, keepdim=True)
        mean = (weights @ tokens) / mass.clamp_min(1e-6)
        return self.aggregate_norm(queries + torch.where(mass > 1e-6, mean, torch.zeros_like(mean)))

    def enhance(self, queries: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        assert self.enhancer is not None
        return self.enhancer(queries, valid)

    def forward(self, features: torch.Tensor, q: Queries, px: Pixels | None = None) -> BranchOutput:
        """``features`` (B, C, H, W) at the points' resolution; one prediction per round."""
        px = support_pixels(q, self.config.support) if px is None else px
        flat = features.flatten(2)
        picked = flat.gather(2, px.flat[:, None, :].expand(-1, flat.shape[1], -1)).transpose(1, 2)  # (B, P, C)
        tokens = self.embed(picked)
        keys = self.key_proj(tokens)
        keys_sq, values = (keys.square().sum(-1), self.value_proj(tokens))
        target_windows = supports(q, px, self.config.support)
        k = self.config.background_queries
        windows = torch.cat([target_windows, px.valid[:, None, :].expand(-1, k, -1)], dim=1)
        valid = torch.cat([q.valid, q.valid.new_ones(q.valid.shape[0], k)], dim=1)
        queries, dist = self.predict(self.initial_queries(tokens, q, px), (keys, keys_sq), values, windows)
        predictions = [dist]
        for _ in range(self.config.rounds):
            if self.aggregate_norm is not None:
                queries = self.aggregate(queries, dist, tokens, windows)
            if self.enhancer is not None:
                queries = self.enhance(queries, valid)
            queries, dist = self.predict(queries, (keys, keys_sq), values, windows)
            predictions.append(dist)
        return BranchOutput(tuple(predictions), px)


def split(dist: torch.Tensor, targets: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A prediction as the assignment rule reads it: target distances (B, N, P) and the
    nearest background query's distance (B, P)."""
    return dist[:, :targets], dist[:, targets:].min(dim=1).values


def branch_loss(out: BranchOutput, q: Queries, support: int, bg_radius: float, margin: float) -> dict[str, torch.Tensor]:
    """The point supervision of every prediction, averaged over the rounds (each round's
    prediction is supervised, so the first ones learn too); ``distance`` is the sum."""
    parts = [distance_loss(d, q, out.pixels, support, bg_radius, margin) for d in out.distances]
    mean = {name: torch.stack([p[name] for p in parts]).mean() for name in parts[0]}
    return {"distance": sum(mean.values()), **mean}  # type: ignore[dict-item]


Distances = tuple[torch.Tensor, torch.Tensor]


def _learned(f: torch.Tensor, q: Queries, px: Pixels, c: BranchConfig, r: float, branch: "DistanceBranch | None") -> Distances:
    if branch is None:
        raise ValueError("distance=learned needs the trained branch")
    return split(branch(f, q, px).distances[-1], q.count)


_MODES: dict[str, Callable[[torch.Tensor, Queries, Pixels, BranchConfig, float, "DistanceBranch | None"], Distances]] = {
    "learned": _learned,
    "euclidean": lambda f, q, px, c, r, branch: euclidean_distances(q, px, r),
    "feature-cosine": lambda f, q, px, c, r, branch: cosine_distances(f, q, px, c.support, r),
}
DISTANCE_MODES = tuple(_MODES)


def pseudo_labels(
    mode: str, features: torch.Tensor, q: Queries, config: BranchConfig, bg_radius: float, branch: DistanceBranch | None = None
) -> Assignment:
    """The assignment rule on the distances of ``mode`` (learned: the branch's last
    prediction; the hand-crafted ones have no rounds and no trainable part)."""
    px = support_pixels(q, config.support)
    target, background = _MODES[mode](features, q, px, config, bg_radius, branch)
    return assign(target, background, q, px, config.support)
