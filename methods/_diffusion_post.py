"""Post-processing of the diffusion annotator's field (``post_process`` of the public code).

The field of the whole image (0 off the crops) is scaled to 0..255 (truncated), split
by one global Otsu threshold (``> 127`` when at most 10 pixels are nonzero), and then,
per prior box (the box, not the grown crop; outside every box the mask is 0), the
binary crop is the unary of a dense CRF guided by the image: bilateral kernel only
(``sxy`` 8, ``srgb`` 10 on the grey image as RGB, Potts weight 110), 5 mean-field
iterations, argmax. A later box overwrites an earlier one where they overlap, as the
public code pastes them.

The threshold only needs the crops: where the grown boxes do not overlap,
``box_foregrounds`` computes it from the crops' own fields, never the whole image's.

The CRF (``crf``): ``lattice`` evaluates the kernel on pydensecrf's permutohedral lattice,
which is what the public code ran (``methods/_permutohedral.py``), all boxes of a split at
once; ``exact`` sums it exactly (``methods/_crf_batch.py``: the kernel as a matrix on small
boxes, a factorized colour Gaussian on large ones), box by box; ``off`` keeps the
thresholded crop (the public code's ``disable_crf``). A box whose crop is all 0 or all 1
stays so under this CRF (the Potts term only pulls towards the neighbours' labels), so
those are not run through the exact one. ``exact`` is the default: on the three train
splits it is 0.3 to 0.5 IoU points better than the lattice, seed for seed.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from methods._crf_batch import crop_lattice, exact_crf_batch, lattice_crf_batch
from methods._diffusion_options import CRF_KERNELS
from methods._imageops import otsu_level

CRF_SETTINGS = dict(iterations=5, bilateral_sxy=8.0, bilateral_srgb=10.0, bilateral_compat=110.0)  # train.py
FEW_PIXELS = 10

Box = tuple[int, int, int, int]


def binarize(field: np.ndarray, crops: Sequence[Box] = ()) -> np.ndarray:
    """Global threshold of the 0..255 field: Otsu, or > 127 for a nearly empty field.

    ``crops``: the regions outside of which the field is 0; when they do not overlap, only
    they are scaled and counted (everything else adds to bin 0 and stays background).
    """
    if not crops or _overlap(crops):
        raw = (field * np.float32(255.0)).astype(np.uint8)
        return raw > _level(np.bincount(raw.ravel(), minlength=256))
    parts = [(field[y0:y1, x0:x1] * np.float32(255.0)).astype(np.uint8) for y0, y1, x0, x1 in crops]
    level = _level(_histogram(parts, field.size))
    out = np.zeros(field.shape, bool)
    for (y0, y1, x0, x1), part in zip(crops, parts):
        out[y0:y1, x0:x1] = part > level
    return out


def box_foregrounds(shape: tuple[int, int], pieces: Sequence[tuple[Box, np.ndarray]], crops: Sequence[Box],
                    boxes: Sequence[Box]) -> list[np.ndarray]:
    """``binarize(paste(shape, pieces), crops)`` cut to each nonempty box (``BoxRefiner.items``
    order), without the whole image when the crops (the grown boxes, one per box) do not
    overlap: each box then sees only its own crop's piece (a crop without one is 0)."""
    if not crops or _overlap(crops):
        from methods._diffusion_field import paste

        binary = binarize(paste(shape, pieces), crops)
        return [binary[y0:y1, x0:x1] for y0, y1, x0, x1 in boxes if nonempty((y0, y1, x0, x1))]
    parts = [(crop, (piece * np.float32(255.0)).astype(np.uint8)) for crop, piece in pieces]
    level = _level(_histogram([part for _, part in parts], shape[0] * shape[1]))
    of_crop = dict(parts)  # the crops do not overlap, so they are distinct
    out = []
    for crop, box in zip(crops, boxes, strict=True):
        if not nonempty(box):
            continue
        (y0, y1, x0, x1), part = box, of_crop.get(crop)
        out.append(np.zeros((y1 - y0, x1 - x0), bool) if part is None
                   else part[y0 - crop[0] : y1 - crop[0], x0 - crop[2] : x1 - crop[2]] > level)
    return out


def _histogram(parts: Sequence[np.ndarray], size: int) -> np.ndarray:
    """The 256-bin histogram of an image of ``size`` pixels that is 0 outside ``parts``."""
    hist = sum((np.bincount(p.ravel(), minlength=256) for p in parts), np.zeros(256, np.int64))
    hist[0] += size - hist.sum()
    return hist


def _level(hist: np.ndarray) -> int:
    return otsu_level(hist) if hist[1:].sum() > FEW_PIXELS else 127


def _overlap(boxes: Sequence[Box]) -> bool:
    return any(a[0] < b[1] and b[0] < a[1] and a[2] < b[3] and b[2] < a[3] for i, a in enumerate(boxes) for b in boxes[:i])


def nonempty(box: Box) -> bool:
    """A box the CRF step sees (the others stay background)."""
    return box[1] > box[0] and box[3] > box[2]


class BoxRefiner:
    """The CRF step for every prior box of a split; the guide (image) side is prepared once."""

    def __init__(self, images: Sequence[np.ndarray], boxes: Sequence[Sequence[Box]], crf: str = "lattice"):
        if crf not in CRF_KERNELS:
            raise ValueError(f"crf must be one of {CRF_KERNELS}, not {crf!r}")
        self.shapes = [im.shape for im in images]
        self.crf = crf
        self.items = [(i, b) for i, bs in enumerate(boxes) for b in bs if nonempty(b)]
        self.greys = [images[i][b[0] : b[1], b[2] : b[3]] for i, b in self.items]
        self._lattice = None

    def __call__(self, binaries: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The masks (float32 0/1) from each image's thresholded field."""
        return self.refine([binaries[i][y0:y1, x0:x1] for i, (y0, y1, x0, x1) in self.items])

    def refine(self, fgs: list[np.ndarray]) -> list[np.ndarray]:
        """The masks (float32 0/1) from the thresholded field of each (nonempty) box, in ``items`` order."""
        refined = self._refine(fgs)
        out = [np.zeros(shape, np.float32) for shape in self.shapes]
        for (i, (y0, y1, x0, x1)), mask in zip(self.items, refined):
            out[i][y0:y1, x0:x1] = mask
        return out

    def _refine(self, fgs: list[np.ndarray]) -> list[np.ndarray]:
        if self.crf == "off" or not fgs:
            return fgs
        settings = {k: v for k, v in CRF_SETTINGS.items()}
        if self.crf == "lattice":  # the grey image as RGB, as the public code hands it to pydensecrf
            guides = [np.repeat(g[..., None], 3, axis=2) for g in self.greys]
            if self._lattice is None:
                self._lattice = crop_lattice(guides, settings["bilateral_sxy"], settings["bilateral_srgb"])
            return [m > 0 for m in lattice_crf_batch(fgs, guides, lattice=self._lattice, **settings)]
        mixed = [k for k, f in enumerate(fgs) if f.any() and not f.all()]
        margins = exact_crf_batch([fgs[k] for k in mixed], [self.greys[k] for k in mixed], channels=3, **settings)
        out = list(fgs)
        for k, d in zip(mixed, margins):
            out[k] = d > 0
        return out
