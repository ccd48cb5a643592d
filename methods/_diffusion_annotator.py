"""The diffusion annotator of one split, prepared once and re-run for each ``theta``.

``Annotator(images, priors, ...)`` does all the work that the physical parameters do not
change (CLAHE crops, gradients, entropies, superpixels, sources); ``labels(theta)`` then
costs one walk, the fusion and the post-processing. ``walk="pde"`` is deterministic; for ``walk="particles"`` the random
stream is fixed at construction (``walk_seed``): the same ``theta`` gives the same
labels, and two values of ``theta`` are compared under the same noise (common random
numbers), so the labels move only because the physics moved.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from methods._diffusion_field import Physics, crop_fields, grown_box, image_fields, prepare_targets
from methods._diffusion_options import WALKS
from methods._diffusion_post import BoxRefiner, box_foregrounds
from methods.mclc import TargetPrior


class Annotator:
    def __init__(
        self,
        images: Sequence[np.ndarray],
        priors: Sequence[Sequence[TargetPrior]],
        prior: str = "both",
        walk: str = "pde",
        crf: str = "exact",
        walk_seed: int = 0,
    ):
        if walk not in WALKS:
            raise ValueError(f"walk must be one of {WALKS}, not {walk!r}")
        self.images = list(images)
        self.priors = [list(p) for p in priors]
        self.prior, self.walk, self.crf, self.walk_seed = prior, walk, crf, int(walk_seed)
        self.targets = prepare_targets(self.images, self.priors, prior)
        self.refiner = BoxRefiner(self.images, [[p.box for p in ps] for ps in self.priors], crf)

    def fields(self, theta: Sequence[float] = (0.0, 0.0, 0.0, 0.0)) -> list[np.ndarray]:
        """Per image, the fused field in [0, 1] before post-processing."""
        rng = np.random.default_rng(self.walk_seed)
        shapes = [im.shape for im in self.images]
        return image_fields(shapes, self.targets, Physics.from_theta(theta), self.prior, self.walk, rng)

    def labels(self, theta: Sequence[float] = (0.0, 0.0, 0.0, 0.0)) -> list[np.ndarray]:
        """Per image, the pseudo-mask (float32 0/1): the field thresholded on the crops only
        (``box_foregrounds``), then the CRF per box."""
        rng = np.random.default_rng(self.walk_seed)
        pieces = crop_fields(self.targets, Physics.from_theta(theta), self.prior, self.walk, rng)
        fgs = []
        for image_pieces, image, priors in zip(pieces, self.images, self.priors, strict=True):
            boxes = [p.box for p in priors]
            fgs.extend(box_foregrounds(image.shape, image_pieces, [grown_box(b, image.shape) for b in boxes], boxes))
        return self.refiner.refine(fgs)
