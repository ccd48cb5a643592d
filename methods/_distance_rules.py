"""Learnable distance, the parameter-free parts: queries from points, local supports, the
background rule, the point supervision of a distance map, the assignment rule, and the
two hand-crafted distances of the paper's ablation (euclidean, feature-cosine).

Everything is dense over the pixels of a batch and padded over its points: a distance
tensor is ``(B, Q, H*W)`` (query ``j`` of image ``b`` to every pixel), never a loop over
pixels or points. Our transplant of the ECCV'24 panoptic method to IRSTD points
(reference/new-methods.md section 3); each choice is stated once, where it is made.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

INF = float("inf")


@dataclass(frozen=True)
class Queries:
    """The annotated points of a batch, padded per image: ``points`` (B, N, 2) long as
    (row, col), ``valid`` (B, N) bool; ``shape`` the (H, W) of the maps they index."""

    points: torch.Tensor
    valid: torch.Tensor
    shape: tuple[int, int]

    @property
    def flat(self) -> torch.Tensor:
        """(B, N) flat pixel index of each point (0 for padding)."""
        return self.points[..., 0] * self.shape[1] + self.points[..., 1]

    @property
    def count(self) -> int:
        return int(self.points.shape[1])


def queries_from_point_maps(point_maps: torch.Tensor) -> Queries:
    """Queries from point maps (B, 1, H, W) or (B, H, W): every pixel > 0.5 is a point,
    in raster order per image (as ``benchmark.data.points`` orders them)."""
    maps = point_maps.reshape(point_maps.shape[0], *point_maps.shape[-2:])
    batch, height, width = maps.shape
    b, y, x = torch.nonzero(maps > 0.5, as_tuple=True)
    counts = torch.bincount(b, minlength=batch)
    n = int(counts.max()) if b.numel() else 0
    rank = torch.arange(b.numel(), device=maps.device) - (torch.cumsum(counts, 0) - counts)[b]
    points = torch.zeros(batch, n, 2, dtype=torch.long, device=maps.device)
    valid = torch.zeros(batch, n, dtype=torch.bool, device=maps.device)
    points[b, rank] = torch.stack([y, x], dim=1)
    valid[b, rank] = True
    return Queries(points, valid, (height, width))


def _grid(shape: tuple[int, int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    rows = torch.arange(shape[0], device=device).repeat_interleave(shape[1])
    cols = torch.arange(shape[1], device=device).repeat(shape[0])
    return rows, cols


def pixel_offsets(q: Queries) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column offsets (B, N, H*W) of every pixel from every point."""
    rows, cols = _grid(q.shape, q.points.device)
    return rows - q.points[..., :1], cols - q.points[..., 1:]


def supports(q: Queries, radius: int) -> torch.Tensor:
    """(B, N, H*W) bool: the local support of each point, a (2r+1)^2 square around it."""
    dr, dc = pixel_offsets(q)
    return (dr.abs() <= radius) & (dc.abs() <= radius) & q.valid[..., None]


def point_distances(q: Queries) -> torch.Tensor:
    """(B, N, H*W) Euclidean pixel distance to each point (inf for padded points)."""
    dr, dc = pixel_offsets(q)
    dist = torch.sqrt((dr * dr + dc * dc).float())
    return dist.masked_fill(~q.valid[..., None], INF)


def background_pixels(q: Queries, radius: int, bg_radius: float) -> torch.Tensor:
    """(B, H*W) bool, the background rule: pixels inside some point's support that lie
    farther than ``bg_radius`` from every point (targets are small: IRSTD's are < 9x9 px)."""
    inside = supports(q, radius).any(dim=1)
    if q.count == 0:
        return inside
    return inside & (point_distances(q).min(dim=1).values > bg_radius)


def _at_points(dist: torch.Tensor, q: Queries) -> torch.Tensor:
    """(B, Q, N): distance of query ``j`` at point ``i``."""
    index = q.flat[:, None, :].expand(-1, dist.shape[1], -1)
    return dist.gather(2, index)


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def distance_loss(dist: torch.Tensor, q: Queries, radius: int, bg_radius: float, margin: float) -> dict[str, torch.Tensor]:
    """Point supervision of one prediction ``dist`` (B, N+K, H*W): the N target queries
    first, then the K background queries. Four means, so one positive pixel per query is
    not drowned by the many background pixels:

    - ``pos``: a target query's distance at its own point -> 0;
    - ``neg``: a target query at the other points of its support and at the background
      pixels of its support -> at least ``margin`` (squared hinge);
    - ``bg_pos``: the nearest background query at each background pixel -> 0;
    - ``bg_neg``: every background query at every point -> at least ``margin``.
    """
    n = q.count
    target, background = dist[:, :n], dist[:, n:]
    windows = supports(q, radius)
    bg_pixels = background_pixels(q, radius, bg_radius)
    at_points = _at_points(target, q)  # (B, N, N)
    eye = torch.eye(n, dtype=torch.bool, device=dist.device)
    pair = q.valid[:, :, None] & q.valid[:, None, :]
    other_in_support = pair & ~eye & windows.gather(2, q.flat[:, None, :].expand(-1, n, -1))
    hinge = lambda d: torch.relu(margin - d).square()  # noqa: E731
    neg_points = _masked_mean(hinge(at_points), other_in_support)
    neg_pixels = _masked_mean(hinge(target), windows & bg_pixels[:, None])
    return {
        "pos": _masked_mean(at_points.diagonal(dim1=1, dim2=2), q.valid),
        "neg": neg_points + neg_pixels,
        "bg_pos": _masked_mean(background.min(dim=1).values, bg_pixels),
        "bg_neg": _masked_mean(hinge(_at_points(background, q)), q.valid[:, None, :].expand(-1, background.shape[1], -1)),
    }


@dataclass(frozen=True)
class Assignment:
    """The pseudo-label of a batch: ``labels`` (B, H, W) float {0, 1} and ``owner``
    (B, H, W) long, the index of the point each target pixel belongs to (-1: background)."""

    labels: torch.Tensor
    owner: torch.Tensor


def assign(target: torch.Tensor, background: torch.Tensor, q: Queries, radius: int) -> Assignment:
    """The assignment rule: a pixel is target when it is nearer a target query than every
    background query, within the support of that query; it belongs to the nearest target
    query (ties: the first point in raster order). ``target`` (B, N, H*W), ``background``
    (B, H*W) (the nearest background query's distance). Each point pixel stays its own
    query's target, whatever the distance says (the annotation is trusted)."""
    batch = target.shape[0]
    height, width = q.shape
    owner = torch.full((batch, height * width), -1, dtype=torch.long, device=target.device)
    if q.count:
        masked = target.masked_fill(~supports(q, radius), INF)
        best, nearest = masked.min(dim=1)
        owner = torch.where(best < background, nearest, owner)
        b, j = torch.nonzero(q.valid, as_tuple=True)
        owner[b, q.flat[b, j]] = j
    labels = (owner >= 0).float()
    return Assignment(labels.view(batch, height, width), owner.view(batch, height, width))


def euclidean_distances(q: Queries, bg_radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Hand-crafted: pixel-to-point Euclidean distance; the background sits on the ring at
    ``bg_radius`` around the nearest point (distance ``bg_radius - d``), so a pixel is target
    when nearer its point than that ring: discs of radius ``bg_radius / 2``, split by the
    nearest point."""
    target = point_distances(q)
    if q.count == 0:
        return target, torch.full((target.shape[0], q.shape[0] * q.shape[1]), INF, device=target.device)
    return target, bg_radius - target.min(dim=1).values


def cosine_distances(features: torch.Tensor, q: Queries, radius: int, bg_radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Hand-crafted: 1 - cosine similarity of the detector's features (B, C, H, W) to the
    feature at each point; one background query per image, the mean feature of its
    background-rule pixels (none: distance 1, an orthogonal feature)."""
    f = torch.nn.functional.normalize(features.flatten(2).float(), dim=1)  # (B, C, HW)
    at = f.gather(2, q.flat[:, None, :].expand(-1, f.shape[1], -1))  # (B, C, N)
    target = 1.0 - torch.einsum("bcn,bcp->bnp", at, f)
    bg_pixels = background_pixels(q, radius, bg_radius).to(f.dtype)  # (B, HW)
    mean = torch.nn.functional.normalize((f * bg_pixels[:, None]).sum(2), dim=1)  # (B, C)
    background = 1.0 - torch.einsum("bc,bcp->bp", mean, f)
    has = bg_pixels.sum(1, keepdim=True) > 0
    return target, torch.where(has, background, torch.ones_like(background))
