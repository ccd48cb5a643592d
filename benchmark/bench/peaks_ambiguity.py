"""How many pixels a floored-centroid label can occupy once flips have been applied.

Why: the field's centroid label is ``floor`` of the mask's centroid. Flipping image and
label together moves that pixel to ``ceil`` of the flipped target's centroid, so under
BasicIRSTD/LESPS's flips and transpose the same-looking target carries its label on
``floor`` or ``ceil`` of each non-integral centroid coordinate: 1, 2 or 4 candidate
pixels. A detector that cannot tell a flipped image from an unflipped one minimizes the
focal loss with P ~ 1, 0.5 or 0.40 on them (``plateau``), so only targets with an
integral centroid can pass 0.5 before it memorizes the training images.

``basic-noflip`` (BasicIRSTD's crop without the flips) exists for the probe only: it
isolates that effect; no profile or method uses it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from benchmark.data.augmentation import Augmented, Geometry, normalized_crop, register_augmentation
from benchmark.profiles import Profile

EIGHT = np.ones((3, 3), dtype=bool)


def flip_candidates(mask: np.ndarray, points: np.ndarray) -> list[int]:
    """Per point, 2 ** (number of non-integral coordinates of its target's centroid):
    the pixels its label occupies over the flips; 0 where the point is on no target."""
    labels, n = ndimage.label(mask > 127, EIGHT)
    if n == 0:
        return [0] * len(points)
    centres = np.asarray(ndimage.center_of_mass(np.ones_like(labels), labels, range(1, n + 1)))
    out = []
    for r, c in points:
        k = labels[r, c]
        if k == 0:
            out.append(0)
            continue
        frac = np.abs(centres[k - 1] - np.round(centres[k - 1])) > 1e-6
        out.append(int(2 ** frac.sum()))
    return out


def plateau(k: int, alpha: float = 2.0) -> float:
    """The constant P on k equally likely label pixels that minimizes the focal loss
    ``-(1-P)^a log P - (k-1) P^a log(1-P)`` (a grid search; k = 1 gives 1)."""
    p = np.linspace(1e-4, 1 - 1e-4, 100_000)
    loss = -((1 - p) ** alpha) * np.log(p) - (k - 1) * p**alpha * np.log(1 - p)
    return float(p[loss.argmin()])


@register_augmentation("basic-noflip")
def basic_noflip(image: np.ndarray, label: np.ndarray, points: np.ndarray, norm: tuple[float, float], profile: Profile,
                 rng: np.random.Generator) -> Augmented:
    """The probe's control: BasicIRSTD's normalize and crop, no flips or transpose."""
    (image, label, points), (top, left) = normalized_crop(image, label, points, norm, profile, rng)
    return Augmented(image, label, points, Geometry(top, left))
