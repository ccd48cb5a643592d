"""Training augmentations by name: the profile's ``augmentation`` field (which a method
sets in its ``paper_overrides``, as PAL does) picks one from ``AUGMENTATIONS``.

An augmentation turns one training image (uint8 grey), its current label and its point
map into a normalized crop of each, and says where the crop came from (:class:`Geometry`),
so in-batch methods can write what they compute on a crop back into the full image.
Third-party packages add their own through the ``pointbench.augmentations`` entry points
or ``@register_augmentation("name")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np

from benchmark.data import augment_pal, transforms
from benchmark.profiles import Profile
from benchmark.registry import Registry


@dataclass(frozen=True)
class Geometry:
    """Where a training crop lies in its image: window corner, then the flips applied to
    it (``transforms.apply_flips`` order). ``warped``: a rotation, shift or scale also
    moved pixels (PAL's list), so the crop is not an exact window of the image."""

    top: int
    left: int
    flips: transforms.Flips = (False, False, False)
    warped: bool = False

    def to_image(self, crop: np.ndarray, shape: tuple[int, int]) -> tuple[tuple[slice, slice], np.ndarray]:
        """(window, values): the crop's values in image orientation, for ``image[window]``
        (the part of a padded crop beyond the image dropped). Undefined when ``warped``."""
        if self.warped:
            raise ValueError("a warped crop has no exact place in its image; skip samples with batch['warped']")
        values = transforms.undo_flips(crop, self.flips)
        h = min(values.shape[-2], shape[0] - self.top)
        w = min(values.shape[-1], shape[1] - self.left)
        window = (slice(self.top, self.top + h), slice(self.left, self.left + w))
        return window, values[..., :h, :w]


class Augmented(NamedTuple):
    image: np.ndarray  # float32, normalized
    label: np.ndarray
    points: np.ndarray
    geometry: Geometry


Augmentation = Callable[[np.ndarray, np.ndarray, np.ndarray, tuple[float, float], Profile, np.random.Generator], Augmented]
AUGMENTATIONS: Registry[Augmentation] = Registry("augmentation", None, "pointbench.augmentations")


def register_augmentation(name: str) -> Callable[[Augmentation], Augmentation]:
    """Decorator: ``f(image, label, points, norm, profile, rng) -> Augmented`` under ``name``."""
    return AUGMENTATIONS.register(name)


def normalized_crop(image: np.ndarray, label: np.ndarray, points: np.ndarray, norm: tuple[float, float],
                    profile: Profile, rng: np.random.Generator) -> tuple[list[np.ndarray], tuple[int, int]]:
    """BasicIRSTD's first two steps: normalize, then the random crop (positive with ``pos_prob``)."""
    image = transforms.normalize(image, *norm)
    return transforms.random_crop_at([image, label, points], label > 0, profile.crop_size, profile.pos_prob, rng)


@register_augmentation("basic")
def basic(image: np.ndarray, label: np.ndarray, points: np.ndarray, norm: tuple[float, float], profile: Profile,
          rng: np.random.Generator) -> Augmented:
    """BasicIRSTD/LESPS: normalize, random crop (positive with ``pos_prob``), flips and transpose."""
    (image, label, points), (top, left) = normalized_crop(image, label, points, norm, profile, rng)
    flips = transforms.draw_flips(rng)
    image, label, points = transforms.apply_flips([image, label, points], flips)
    return Augmented(image, label, points, Geometry(top, left, flips))


@register_augmentation("pal")
def pal(image: np.ndarray, label: np.ndarray, points: np.ndarray, norm: tuple[float, float], profile: Profile,
        rng: np.random.Generator) -> Augmented:
    """PAL: crop the grey image, its albumentations list on grey levels, then normalize."""
    (image, label, points), (top, left) = transforms.random_crop_at(
        [image.astype(np.float32), label, points], label > 0, profile.crop_size, profile.pos_prob, rng
    )
    probe = np.arange(label.size, dtype=np.float32).reshape(label.shape)  # where each crop pixel ends up
    image, (label, points, probe) = augment_pal.augment(image, [label, points, probe], rng)
    return Augmented(transforms.normalize(image, *norm), label, points, _geometry_of(probe, top, left))


def _geometry_of(probe: np.ndarray, top: int, left: int) -> Geometry:
    """The flips that map the index grid onto ``probe``, or ``warped`` if none does
    (PAL's 90-degree rotations are flips too; its other warps are not)."""
    grid = np.arange(probe.size, dtype=np.float32).reshape(probe.shape)
    for code in range(8):
        flips = (bool(code & 4), bool(code & 2), bool(code & 1))
        moved = transforms.apply_flips([grid], flips)[0]
        if moved.shape == probe.shape and np.array_equal(moved, probe):
            return Geometry(top, left, flips)
    return Geometry(top, left, warped=True)


def augmentation(name: str) -> Augmentation:
    """The registered augmentation, or an error naming the known ones."""
    return AUGMENTATIONS.get(name)
