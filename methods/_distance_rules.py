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
import torch.nn.functional as F

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


def _pad_ragged(image: torch.Tensor, values: torch.Tensor, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows ``values`` (M, ...) of images ``image`` (M,), sorted by image, padded per image:
    (B, max count, ...) with zeros, and the (B, max count) mask of real rows."""
    counts = torch.bincount(image, minlength=batch)
    width = int(counts.max()) if image.numel() else 0
    rank = torch.arange(image.numel(), device=image.device) - (torch.cumsum(counts, 0) - counts)[image]
    padded = values.new_zeros(batch, width, *values.shape[1:])
    valid = torch.zeros(batch, width, dtype=torch.bool, device=image.device)
    padded[image, rank], valid[image, rank] = values, True
    return padded, valid


def queries_from_point_maps(point_maps: torch.Tensor) -> Queries:
    """Queries from point maps (B, 1, H, W) or (B, H, W): every pixel > 0.5 is a point,
    in raster order per image (as ``benchmark.data.points`` orders them)."""
    maps = point_maps.reshape(point_maps.shape[0], *point_maps.shape[-2:])
    b, y, x = torch.nonzero(maps > 0.5, as_tuple=True)
    points, valid = _pad_ragged(b, torch.stack([y, x], dim=1), maps.shape[0])
    return Queries(points, valid, (maps.shape[1], maps.shape[2]))


@dataclass(frozen=True)
class Pixels:
    """The pixels the distance is computed at, padded per image: ``flat`` (B, P) indices
    into H*W, ``valid`` (B, P). Only pixels of some point's support matter (no label is
    made outside them), so a batch costs its supports, not its image size."""

    flat: torch.Tensor
    valid: torch.Tensor
    shape: tuple[int, int]

    @property
    def rows(self) -> torch.Tensor:
        return self.flat // self.shape[1]

    @property
    def cols(self) -> torch.Tensor:
        return self.flat % self.shape[1]

    def locate(self, q: Queries) -> torch.Tensor:
        """(B, N): the position of each point among these pixels (0 for padding)."""
        b, p = torch.nonzero(self.valid, as_tuple=True)
        where = torch.zeros(self.flat.shape[0], self.shape[0] * self.shape[1], dtype=torch.long, device=self.flat.device)
        where[b, self.flat[b, p]] = p
        return where.gather(1, q.flat) * q.valid

    def scatter(self, values: torch.Tensor, fill: float) -> torch.Tensor:
        """Values (B, ..., P) at these pixels onto the whole image: (B, ..., H*W), ``fill``
        elsewhere."""
        b, p = torch.nonzero(self.valid, as_tuple=True)
        moved = values.movedim(-1, 1)
        out = moved.new_full((moved.shape[0], self.shape[0] * self.shape[1], *moved.shape[2:]), fill)
        out[b, self.flat[b, p]] = moved[b, p]
        return out.movedim(1, -1)


def _offsets(q: Queries, rows: torch.Tensor, cols: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column offsets (B, N, P) of pixels (B, P) from every point."""
    return rows[:, None, :] - q.points[..., :1], cols[:, None, :] - q.points[..., 1:]


def _square(q: Queries, rows: torch.Tensor, cols: torch.Tensor, radius: int) -> torch.Tensor:
    dr, dc = _offsets(q, rows, cols)
    return (dr.abs() <= radius) & (dc.abs() <= radius) & q.valid[..., None]


def support_pixels(q: Queries, radius: int) -> Pixels:
    """The union of the points' supports (a (2r+1)^2 square around each point), as Pixels."""
    batch, (height, width) = q.points.shape[0], q.shape
    marks = torch.zeros(batch, height * width, device=q.points.device)
    b, j = torch.nonzero(q.valid, as_tuple=True)
    marks[b, q.flat[b, j]] = 1.0
    union = F.max_pool2d(marks.view(batch, 1, height, width), 2 * radius + 1, stride=1, padding=radius) > 0
    b, flat = torch.nonzero(union.view(batch, -1), as_tuple=True)
    index, valid = _pad_ragged(b, flat, batch)
    return Pixels(index, valid, q.shape)


def supports(q: Queries, px: Pixels, radius: int) -> torch.Tensor:
    """(B, N, P) bool: which pixels lie in each point's support."""
    return _square(q, px.rows, px.cols, radius) & px.valid[:, None, :]


def point_distances(q: Queries, px: Pixels) -> torch.Tensor:
    """(B, N, P) Euclidean pixel distance to each point (inf for padded points)."""
    dr, dc = _offsets(q, px.rows, px.cols)
    dist = torch.sqrt((dr * dr + dc * dc).float())
    return dist.masked_fill(~q.valid[..., None], INF)


def background_pixels(q: Queries, px: Pixels, radius: int, bg_radius: float) -> torch.Tensor:
    """(B, P) bool, the background rule: pixels inside some point's support that lie
    farther than ``bg_radius`` from every point (targets are small: IRSTD's are < 9x9 px)."""
    inside = supports(q, px, radius).any(dim=1)
    if q.count == 0:
        return inside
    return inside & (point_distances(q, px).min(dim=1).values > bg_radius)


def _at_points(dist: torch.Tensor, at: torch.Tensor) -> torch.Tensor:
    """(B, Q, N): distance of query ``j`` at point ``i`` (``at``: the points' pixel positions)."""
    return dist.gather(2, at[:, None, :].expand(-1, dist.shape[1], -1))


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def distance_loss(
    dist: torch.Tensor, q: Queries, px: Pixels, radius: int, bg_radius: float, margin: float
) -> dict[str, torch.Tensor]:
    """Point supervision of one prediction ``dist`` (B, N+K, P): the N target queries
    first, then the K background queries. Four means, so one positive pixel per query is
    not drowned by the many background pixels:

    - ``pos``: a target query's distance at its own point -> 0;
    - ``neg``: a target query at the other points of its support, plus at the background
      pixels of its support -> at least ``margin`` (squared hinges);
    - ``bg_pos``: the nearest background query at each background pixel -> 0;
    - ``bg_neg``: every background query at every point -> at least ``margin``.
    """
    n = q.count
    target, background = dist[:, :n], dist[:, n:]
    windows = supports(q, px, radius)
    bg_pixels = background_pixels(q, px, radius, bg_radius)
    at = px.locate(q)
    at_points = _at_points(target, at)  # (B, N, N)
    eye = torch.eye(n, dtype=torch.bool, device=dist.device)
    pair = q.valid[:, :, None] & q.valid[:, None, :]
    other_in_support = pair & ~eye & _at_points(windows, at)
    hinge = lambda d: torch.relu(margin - d).square()  # noqa: E731
    bg_at_points = q.valid[:, None, :].expand(-1, background.shape[1], -1)
    return {
        "pos": _masked_mean(at_points.diagonal(dim1=1, dim2=2), q.valid),
        "neg": _masked_mean(hinge(at_points), other_in_support) + _masked_mean(hinge(target), windows & bg_pixels[:, None]),
        "bg_pos": _masked_mean(background.min(dim=1).values, bg_pixels),
        "bg_neg": _masked_mean(hinge(_at_points(background, at)), bg_at_points),
    }


@dataclass(frozen=True)
class Assignment:
    """The pseudo-label of a batch: ``labels`` (B, H, W) float {0, 1} and ``owner``
    (B, H, W) long, the index of the point each target pixel belongs to (-1: background)."""

    labels: torch.Tensor
    owner: torch.Tensor


def assign(target: torch.Tensor, background: torch.Tensor, q: Queries, px: Pixels, radius: int) -> Assignment:
    """The assignment rule: a pixel is target when it is nearer a target query than every
    background query, within the support of that query; it belongs to the nearest target
    query (ties: the first point in raster order). ``target`` (B, N, P), ``background``
    (B, P) (the nearest background query's distance). Each point pixel stays its own
    query's target, whatever the distance says (the annotation is trusted)."""
    batch, (height, width) = q.points.shape[0], q.shape
    owner = torch.full((batch, height * width), -1, dtype=torch.long, device=q.points.device)
    if q.count:
        best, nearest = target.masked_fill(~supports(q, px, radius), INF).min(dim=1)
        owner = px.scatter(torch.where(best < background, nearest, -1), -1)
        b, j = torch.nonzero(q.valid, as_tuple=True)
        owner[b, q.flat[b, j]] = j
    owner = owner.view(batch, height, width)
    return Assignment((owner >= 0).float(), owner)


def euclidean_distances(q: Queries, px: Pixels, bg_radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Hand-crafted: pixel-to-point Euclidean distance; the background sits on the ring at
    ``bg_radius`` around the nearest point (distance ``bg_radius - d``), so a pixel is target
    when nearer its point than that ring: discs of radius ``bg_radius / 2``, split by the
    nearest point."""
    target = point_distances(q, px)
    if q.count == 0:
        return target, torch.full(px.flat.shape, INF, device=target.device)
    return target, bg_radius - target.min(dim=1).values


def cosine_distances(
    features: torch.Tensor, q: Queries, px: Pixels, radius: int, bg_radius: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Hand-crafted: 1 - cosine similarity of the detector's features (B, C, H, W) to the
    feature at each point; one background query per image, the mean feature of its
    background-rule pixels (none: distance 1, an orthogonal feature)."""
    flat = F.normalize(features.flatten(2).float(), dim=1)  # (B, C, HW)
    f = flat.gather(2, px.flat[:, None, :].expand(-1, flat.shape[1], -1))  # (B, C, P)
    at = flat.gather(2, q.flat[:, None, :].expand(-1, flat.shape[1], -1))  # (B, C, N)
    target = 1.0 - torch.einsum("bcn,bcp->bnp", at, f)
    bg_pixels = background_pixels(q, px, radius, bg_radius).to(f.dtype)  # (B, P)
    mean = F.normalize((f * bg_pixels[:, None]).sum(2), dim=1)  # (B, C)
    background = 1.0 - torch.einsum("bc,bcp->bp", mean, f)
    has = bg_pixels.sum(1, keepdim=True) > 0
    return target, torch.where(has, background, torch.ones_like(background))
