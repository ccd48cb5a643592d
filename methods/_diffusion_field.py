"""The physics-induced annotator of Diffuse to Detect: per target, heat diffused from the
point, fused with the superpixel under it (``utils/diffusion_annotation.py``,
``Diffusion_Annotation``, called from ``train.py`` with its own settings).

Per target (a size prior: class and box, see ``methods/mclc.py``):

* crop = the box grown by up to 4 px per side, on the CLAHE grey image (clip 1, 4x4 tiles);
* diffusivity ``D = D0 exp(-beta (alpha |grad| + (1 - alpha) E))``, ``E`` the 5x5 rank
  entropy of the crop / 8;
* superpixel prior: the SLIC segment (16 segments, compactness 0.32) under the point;
* sources: the point and up to 5 local maxima (7x7) brighter than mean + 1.5 std of the crop
  that lie in that segment;
* heat: the walk of ``WALKS[class]`` walkers per source (``methods/_diffusion_walk.py``), or
  their expected density (``methods/_diffusion_pde.py``), 3x3 Gaussian blur, divided by
  its maximum;
* fused ``rho heat + (1 - rho) segment``; point targets times ``0.75 + 0.25 exp(-d^2 / 2 s^2)``
  (``s = max(1, max(h, w) / 4)``) around the point; the image field is the maximum over
  targets. ``methods/_diffusion_post.py`` turns it into the mask.

``prior="diffusion"`` drops the segment from the fusion and does not compute it (sources
then come from the crop's Otsu foreground, the public code's own fallback);
``prior="superpixel"`` drops the heat (no walk). Everything that does not depend on the
physical parameters is prepared once (``prepare_targets``), so a new ``theta`` only reruns
the walk and the fusion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from methods._diffusion_options import PRIORS
from methods._diffusion_pde import pde_heat
from methods._diffusion_walk import DiffusionField, WalkSpec, particle_heat
from methods._grey_slic import grey_slic
from methods._imageops import Clahe, blur3, clahe_crops, gradient2, otsu_threshold, rank_entropy, rank_maxima
from methods.mclc import TargetPrior

# train.py's call: dt 0.2; points 20 walkers, 3 steps, dt x 0.9; spots 260, 40; extended 400, 120, dt x 2
WALKS: dict[str, WalkSpec] = {
    "point": WalkSpec(20, 3, 0.2 * 0.9),
    "spot": WalkSpec(260, 40, 0.2),
    "extended": WalkSpec(400, 120, 0.2 * 2.0),
}
CROP_MARGIN = 4
SEGMENTS, COMPACTNESS = 16, 0.32
EXTRA_SOURCES, PEAK_WINDOW, PEAK_SIGMAS = 5, 7, 1.5
CENTRE_WEIGHT, CENTRE_SIGMA = 0.25, 0.25  # point_center_prior_w, point_center_prior_sigma


def physical_parameters(theta: Sequence[Any], tanh: Any = np.tanh) -> tuple[Any, Any, Any, Any]:
    """``(D0, beta, rho, alpha)`` from ``theta`` as ``train.py`` maps them; with ``torch.tanh``
    and a tensor ``theta`` the result carries gradients (the outer step's surrogate)."""
    t1, t2, t3, t4 = (tanh(t) for t in theta)
    return 3.2 * (1.0 + 0.3 * t1), 6.0 * (1.0 + 0.3 * t2), 0.84 + 0.05 * t3, 0.6 + 0.05 * t4


@dataclass(frozen=True)
class Physics:
    """The four physical parameters of one annotation run (theta = 0: 3.2, 6, 0.84, 0.6)."""

    d0: float
    beta: float
    rho: float
    alpha: float

    @classmethod
    def from_theta(cls, theta: Sequence[float] = (0.0, 0.0, 0.0, 0.0)) -> "Physics":
        # Python floats: NumPy keeps the float32 maps float32 in products, as in the public code
        return cls(*(float(v) for v in physical_parameters(theta)))


@dataclass
class Target:
    """One target, with everything of its crop that the physical parameters do not change."""

    prior: TargetPrior
    crop: tuple[int, int, int, int]  # y0, y1, x0, x1 of the grown box
    grey: np.ndarray  # CLAHE grey / 255, float32
    point: tuple[int, int] | None  # the seed in crop coordinates (None: outside the crop)
    grad: np.ndarray | None = None  # |gradient|, float32
    entropy: np.ndarray | None = None  # rank entropy / 8
    gy: np.ndarray | None = None
    gx: np.ndarray | None = None
    segment: np.ndarray | None = None  # float32 0/1: the superpixel under the point
    sources: np.ndarray | None = None  # (S, 2)

    @property
    def walkable(self) -> bool:
        """The public code skips crops with a side under 2 px (its gradient needs two)."""
        h, w = self.grey.shape
        return h >= 2 and w >= 2


def grown_box(box: tuple[int, int, int, int], shape: tuple[int, int]) -> tuple[int, int, int, int]:
    y0, y1, x0, x1 = box
    h, w = shape
    return y0 - min(CROP_MARGIN, y0), y1 + min(CROP_MARGIN, h - y1), x0 - min(CROP_MARGIN, x0), x1 + min(CROP_MARGIN, w - x1)


def prepare_targets(images: Sequence[np.ndarray], priors: Sequence[Sequence[TargetPrior]], prior: str) -> list[list[Target]]:
    """Crops, gradients, entropies, segments and sources of every target of every image."""
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {PRIORS}, not {prior!r}")
    out: list[list[Target]] = []
    boxes = [[grown_box(p.box, image.shape) for p in ps] for image, ps in zip(images, priors, strict=True)]
    for image_priors, image_boxes, image_crops in zip(priors, boxes, clahe_crops([Clahe(im) for im in images], boxes)):
        targets = []
        for p, crop, clahe_crop in zip(image_priors, image_boxes, image_crops):
            grey = clahe_crop.astype(np.float32) / np.float32(255.0)
            ry, rx = p.seed[0] - crop[0], p.seed[1] - crop[2]
            inside = 0 <= ry < grey.shape[0] and 0 <= rx < grey.shape[1]
            targets.append(Target(p, crop, grey, (ry, rx) if inside else None))
        out.append(targets)
    walkable = [t for ts in out for t in ts if t.walkable]
    u8 = [_as_u8(t.grey) for t in walkable]
    for t, e in zip(walkable, rank_entropy(u8)):
        t.entropy = e / 8.0
        t.gy, t.gx = gradient2(t.grey)
        t.grad = np.sqrt(t.gx**2 + t.gy**2)
    if prior != "diffusion":
        with_point = [t for t in walkable if t.point is not None]
        for t, seg in zip(with_point, grey_slic([t.grey for t in with_point], SEGMENTS, COMPACTNESS)):
            t.segment = (seg == seg[t.point]).astype(np.float32)
        for t in walkable:
            if t.point is None:  # the public code's fallback when the point is off the crop
                t.segment = _otsu_foreground(t.grey)
    for t, grey, peak in zip(walkable, u8, rank_maxima(u8, PEAK_WINDOW)):
        t.sources = _sources(t, grey, peak)
    return out


def _as_u8(grey: np.ndarray) -> np.ndarray:
    return (grey * np.float32(255.0)).astype(np.uint8)  # as the public code re-quantizes its crop


def _otsu_foreground(grey: np.ndarray) -> np.ndarray:
    return (grey > otsu_threshold(grey)).astype(np.float32)


def _sources(t: Target, u8: np.ndarray, peak: np.ndarray) -> np.ndarray:
    """The point, then up to 5 bright local maxima in the segment (raster order); ``u8`` the
    re-quantized crop, ``peak`` its 7x7 rank maximum."""
    region = t.segment if t.segment is not None else _otsu_foreground(t.grey)
    peaks = np.argwhere((peak == u8) & (t.grey > np.mean(t.grey) + PEAK_SIGMAS * np.std(t.grey)))
    extra = [tuple(p) for p in peaks[region[peaks[:, 0], peaks[:, 1]] > 0][:EXTRA_SOURCES].tolist()]
    points = ([t.point] if t.point is not None else []) + extra
    if not points:
        points = [(t.grey.shape[0] // 2, t.grey.shape[1] // 2)]
    return np.array(points, dtype=np.float64)


def diffusivity(t: Target, physics: Physics) -> np.ndarray:
    return physics.d0 * np.exp(-physics.beta * (physics.alpha * t.grad + (1.0 - physics.alpha) * t.entropy))


def heat_maps(targets: Sequence[Target], physics: Physics, walk: str, rng: np.random.Generator) -> list[np.ndarray]:
    """Blurred, max-normalized heat of each (walkable) target, walked per size class together."""
    heat: list[np.ndarray | None] = [None] * len(targets)
    for cls, spec in WALKS.items():
        members = [i for i, t in enumerate(targets) if t.prior.size_class == cls]
        fields = [DiffusionField(targets[i].gy, targets[i].gx, diffusivity(targets[i], physics), targets[i].sources)
                  for i in members]
        raw = particle_heat(fields, spec, rng) if walk == "particles" else pde_heat(fields, spec)
        for i, counts in zip(members, raw):
            blurred = blur3(counts)
            top = blurred.max()
            heat[i] = blurred / top if top > 0 else blurred
    return heat  # type: ignore[return-value]


def fused(t: Target, heat: np.ndarray | None, physics: Physics, prior: str) -> np.ndarray:
    """The target's field on its crop, in [0, 1]."""
    segment = t.segment if t.segment is not None else np.zeros_like(t.grey)
    if prior == "superpixel":
        field = segment.copy()
    elif prior == "diffusion":
        field = heat.astype(np.float32)  # type: ignore[union-attr]
    else:
        field = np.float32(physics.rho) * heat + np.float32(1.0 - physics.rho) * segment
    if t.prior.size_class == "point" and t.point is not None:
        h, w = t.grey.shape
        yy, xx = np.ogrid[:h, :w]
        s = max(1.0, CENTRE_SIGMA * float(max(h, w)))
        d2 = (yy - float(t.point[0])) ** 2 + (xx - float(t.point[1])) ** 2
        field = field * (np.float32(1.0 - CENTRE_WEIGHT) + np.float32(CENTRE_WEIGHT) * np.exp(-0.5 * d2 / (s * s)).astype(np.float32))
    return np.clip(field, 0.0, 1.0).astype(np.float32)


Piece = tuple[tuple[int, int, int, int], np.ndarray]  # a crop (y0, y1, x0, x1) and the field on it


def crop_fields(
    targets: Sequence[Sequence[Target]], physics: Physics, prior: str, walk: str, rng: np.random.Generator,
) -> list[list[Piece]]:
    """Per image, each walkable target's crop and its field there (float32, in [0, 1])."""
    flat = [t for ts in targets for t in ts if t.walkable]
    heat = heat_maps(flat, physics, walk, rng) if prior != "superpixel" else [None] * len(flat)
    by_target = {id(t): h for t, h in zip(flat, heat)}
    return [[(t.crop, fused(t, by_target[id(t)], physics, prior)) for t in ts if t.walkable] for ts in targets]


def paste(shape: tuple[int, int], pieces: Sequence[Piece]) -> np.ndarray:
    """The image's field: the maximum of its pieces (float32, zero off the crops)."""
    field = np.zeros(shape, np.float32)
    for (y0, y1, x0, x1), piece in pieces:
        np.maximum(field[y0:y1, x0:x1], piece, out=field[y0:y1, x0:x1])
    return field


def image_fields(
    shapes: Sequence[tuple[int, int]], targets: Sequence[Sequence[Target]], physics: Physics, prior: str,
    walk: str, rng: np.random.Generator,
) -> list[np.ndarray]:
    """Each image's field: the maximum of its targets' fields (float32, zero off the crops)."""
    return [paste(shape, pieces) for shape, pieces in zip(shapes, crop_fields(targets, physics, prior, walk, rng), strict=True)]
