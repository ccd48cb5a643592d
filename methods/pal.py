"""PAL: progressive active learning with single point supervision (Yu et al., ICCV 2025).

Field-notes 3.2; public code YuChuang1205/PAL @e89262fc (``train_model.py``,
``utilts.py``, ``loss/Edge_loss.py``). Three ideas on top of label evolution:

1. Easy samples first. Before training, each point gets a tiny pseudo-mask from its
   20x20 neighbourhood (high-pass, Canny, closing, the filled contour around the
   point if it is at most 50 px). An image whose points are >= 80% "correct" joins
   the TRAIN pool with those masks; the others wait in the HARD pool.
2. Phases over N epochs: pre-start (e <= 0.2N, no update), enhancement (0.2N < e <=
   0.8N, every 5 epochs: refine the TRAIN labels, then admit the HARD images whose
   prediction misses at most a growing share of their points and adds at most 5 false
   components per point), refinement (e > 0.8N, every 5 epochs: refine only).
3. Refinement = the LESPS candidates of every region (a lone component off the core
   dropped too) combined into one mask; inside it label and prediction are averaged,
   outside it the label decays by 0.97, pixels at 1 stay 1. Labels are stored as uint8
   (PAL writes PNGs) and binarized at 0.5 for training, with PAL's OHEM BCE (the code
   means to weight boundary pixels x4 but weights every pixel x4; we follow the code).

The update PAL runs at the start of its epoch ``e`` (with the model trained for ``e``
epochs) runs here in ``end_epoch(e - 1)``: the same model, the same labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from scipy import ndimage

from benchmark.data.points import point_map
from benchmark.data.split import Sample
from benchmark.errors import ConfigError
from benchmark.lazy import lazy_module
from methods._evolution import EIGHT, binary_growth, label_regions, region_candidates
from methods.base import Method, MethodContext, register_method

losses = lazy_module("benchmark.losses")  # torch loads with the first loss, not on import (listing, status)
if TYPE_CHECKING:
    import torch

# easy-sample initialization (utilts.data_inital_make_add_points) ---------------------
ROI_HALF = 10  # the ROI is [p - 10, p + 10) in each axis, clipped
CANNY_LOW, CANNY_HIGH = 20, 40
MAX_AREA = 50.0  # OpenCV contourArea of the filled contour around the point
EASY_RATIO = 0.8  # share of 'correct' points that makes an image easy
_TG22 = int(0.4142135623730950488016887242097 * (1 << 15) + 0.5)  # OpenCV's fixed-point tan(22.5)
_CCW = ((0, -1), (1, -1), (1, 0), (1, 1), (0, 1), (-1, 1), (-1, 0), (-1, -1))  # W, SW, S, SE, E, NE, N, NW


def blur3(image: np.ndarray) -> np.ndarray:
    """OpenCV ``GaussianBlur(img, (3, 3), 0)`` on uint8: kernel [1 2 1]/4 per axis,
    reflect-101 border, exact sum rounded half up (OpenCV's fixed-point path)."""
    acc = ndimage.correlate1d(image.astype(np.int32), [1, 2, 1], axis=0, mode="mirror")
    acc = ndimage.correlate1d(acc, [1, 2, 1], axis=1, mode="mirror")
    return ((acc + 8) >> 4).astype(np.uint8)


def canny(image: np.ndarray, low: int = CANNY_LOW, high: int = CANNY_HIGH) -> np.ndarray:
    """OpenCV ``Canny(img, low, high)`` (aperture 3, L1 magnitude) on uint8, as a bool map.

    Sobel with replicated borders; non-maximum suppression in four directions with
    OpenCV's integer tan(22.5)/tan(67.5) tests and its mix of strict and non-strict
    comparisons, magnitudes outside the image counted as 0; hysteresis = the
    8-connected groups of suppressed-maximum pixels above ``low`` that hold one above
    ``high``.
    """
    img = image.astype(np.int64)
    dx = ndimage.correlate(img, [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], mode="nearest")
    dy = ndimage.correlate(img, [[-1, -2, -1], [0, 0, 0], [1, 2, 1]], mode="nearest")
    mag = np.abs(dx) + np.abs(dy)
    p = np.pad(mag, 1)
    left, right, up, down = p[1:-1, :-2], p[1:-1, 2:], p[:-2, 1:-1], p[2:, 1:-1]
    ax, ay = np.abs(dx), np.abs(dy) << 15
    tg22 = ax * _TG22
    horizontal = ay < tg22
    vertical = ~horizontal & (ay > tg22 + (ax << 16))
    diagonal = ~horizontal & ~vertical
    same_sign = (dx ^ dy) >= 0
    diag_max = np.where(
        same_sign, (mag > p[:-2, :-2]) & (mag > p[2:, 2:]), (mag > p[:-2, 2:]) & (mag > p[2:, :-2])
    )
    maxima = (
        (horizontal & (mag > left) & (mag >= right))
        | (vertical & (mag > up) & (mag >= down))
        | (diagonal & diag_max)
    )
    weak = maxima & (mag > low)
    groups, n = ndimage.label(weak, structure=EIGHT)
    strong = np.unique(groups[weak & (mag > high)])
    return np.isin(groups, strong[strong > 0])


def close3(edges: np.ndarray) -> np.ndarray:
    """OpenCV dilate then erode with a 3x3 square: outside the image counts as
    background for the dilation and as foreground for the erosion."""
    dilated = ndimage.binary_dilation(edges, EIGHT, border_value=0)
    return ndimage.binary_erosion(dilated, EIGHT, border_value=1)


def outer_contour(region: np.ndarray) -> np.ndarray:
    """The outer border of one 8-connected region as OpenCV's ``findContours`` traces it
    (Suzuki-Abe border following): (n, 2) row/col, from the raster-first pixel."""
    padded = np.pad(region.astype(bool), 1)
    rows, cols = np.nonzero(padded)
    start = (int(rows[0]), int(cols[0]))
    first = _next_clockwise(padded, start, (start[0], start[1] - 1))
    if first is None:  # a lone pixel
        return np.array([start]) - 1
    contour, previous, current = [], first, start
    while True:
        contour.append(current)
        following = _next_counterclockwise(padded, current, previous)
        if following == start and current == first:
            return np.array(contour) - 1
        previous, current = current, following


def _direction(center: tuple[int, int], other: tuple[int, int]) -> int:
    return _CCW.index((other[0] - center[0], other[1] - center[1]))


def _next_clockwise(img: np.ndarray, center: tuple[int, int], after: tuple[int, int]) -> tuple[int, int] | None:
    d = _direction(center, after)
    for step in range(8):
        dr, dc = _CCW[(d - step) % 8]
        if img[center[0] + dr, center[1] + dc]:
            return center[0] + dr, center[1] + dc
    return None


def _next_counterclockwise(img: np.ndarray, center: tuple[int, int], after: tuple[int, int]) -> tuple[int, int]:
    d = _direction(center, after)
    for step in range(1, 9):
        dr, dc = _CCW[(d + step) % 8]
        if img[center[0] + dr, center[1] + dc]:
            return center[0] + dr, center[1] + dc
    raise AssertionError("a traced pixel has a neighbour")  # pragma: no cover


def contour_area(contour: np.ndarray) -> float:
    """OpenCV ``contourArea``: the shoelace area of the polygon through the pixel centres."""
    y, x = contour[:, 0].astype(np.float64), contour[:, 1].astype(np.float64)
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def point_target(roi: np.ndarray, point: tuple[int, int]) -> np.ndarray | None:
    """The filled external contour of the ROI's closed high-pass edges that holds the point,
    if its area is at most 50 px ('a correct point'); None otherwise."""
    high_pass = np.clip(roi.astype(np.int16) - blur3(roi), 0, 255).astype(np.uint8)
    edges = close3(canny(high_pass))
    filled = ndimage.binary_fill_holes(edges)  # external contours, filled, as 8-connected groups
    groups, _ = ndimage.label(filled, structure=EIGHT)
    group = groups[point]
    if group == 0:
        return None
    region = groups == group
    return region if contour_area(outer_contour(region)) <= MAX_AREA else None


def easy_sample(image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, bool]:
    """PAL's initial label of one image and whether it is easy (TRAIN pool).

    Easy: no points, or >= 80% of the points correct; its label is the union of the
    correct points' contours and all points. A hard image's label is its points.
    """
    label = point_map(points, image.shape)
    if len(points) == 0:
        return label, True
    found = np.zeros(image.shape, dtype=bool)
    correct = 0
    for y, x in points:
        y1, x1 = max(y - ROI_HALF, 0), max(x - ROI_HALF, 0)
        y2, x2 = min(y + ROI_HALF, image.shape[0]), min(x + ROI_HALF, image.shape[1])
        target = point_target(image[y1:y2, x1:x2], (y - y1, x - x1))
        if target is not None:
            found[y1:y2, x1:x2] |= target
            correct += 1
    if correct / len(points) >= EASY_RATIO:
        return np.maximum(label, found.astype(np.float32)), True
    return label, False


# hard-sample admission (utilts.nc_pred_mask, nc_correct_pred_mask) --------------------
def _filled_groups(binary: np.ndarray) -> tuple[np.ndarray, int]:
    """External contours of a binary map, filled: 8-connected groups after hole filling."""
    return ndimage.label(ndimage.binary_fill_holes(binary), structure=EIGHT)


def admit(pred: np.ndarray, points: np.ndarray, lose_ratio: float, alarm_ratio: float) -> bool:
    """Does a HARD image join the TRAIN pool? ``pred`` is the binary prediction (> 0.5).

    'Points' are the external contours of the point map (touching points merge); a point
    is covered when its filled contour meets a filled predicted contour. Admit unless
    missed/points > ``lose_ratio`` or (predicted contours - covered)/points > ``alarm_ratio``.
    """
    if len(points) == 0:
        return True
    point_groups, n_points = _filled_groups(point_map(points, pred.shape) > 0)
    pred_groups, n_pred = _filled_groups(pred)
    hit = np.unique(point_groups[pred_groups > 0])
    covered = int(np.count_nonzero(hit))
    return (n_points - covered) / n_points <= lose_ratio and (n_pred - covered) / n_points <= alarm_ratio


def admitted_label(pred: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The label of an admitted image: the filled predicted contours that meet a point's
    contour, plus the points."""
    marks = point_map(points, pred.shape)
    point_groups, _ = _filled_groups(marks > 0)
    pred_groups, _ = _filled_groups(pred)
    keep = np.unique(pred_groups[point_groups > 0])
    return np.maximum(np.isin(pred_groups, keep[keep > 0]).astype(np.float32), marks)


# label refinement (utilts.update_gt_update_degen_corr) --------------------------------
def as_png(label: np.ndarray) -> np.ndarray:
    """The label as PAL stores it: a uint8 PNG (OpenCV rounds half to even), read back / 255."""
    return (np.rint(np.clip(label, 0.0, 1.0) * 255) / 255).astype(np.float32)


def refine(label: np.ndarray, prob: np.ndarray, tb: float, k: float, decay: float) -> np.ndarray:
    """One PAL update of one label: the union of every region's candidates averages label
    and prediction; elsewhere the label decays; pixels that were 1 stay 1."""
    combined = np.zeros(label.shape, dtype=bool)
    for coords in label_regions(label):
        cand = region_candidates(prob, coords, tb, k, drop_lone=True)
        combined[cand.rows, cand.cols] |= cand.mask
    prev = np.rint(label.astype(np.float64) * 255) / 255  # exactly what PAL reads back from its PNG
    new = np.where(combined, (prev + prob) / 2, prev * decay)
    return as_png(np.maximum(new, prev == 1))


# schedule ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    """PAL's phases over ``epochs`` (0-based PAL epoch ``e``, updates before training ``e``)."""

    epochs: int
    pre: float = 0.2
    final: float = 0.8
    gap: int = 5
    lose_init: float = 0.2
    start: int | None = None  # epoch the enhancement began when the pre-start ran longer (None: pre * epochs)

    def phase(self, e: int) -> str | None:
        """'enhance' or 'refine' when an update runs before epoch ``e``, else None."""
        if e >= self.epochs or e % self.gap != 0:
            return None
        if int(self.epochs * self.pre) < e <= int(self.epochs * self.final):
            return "enhance"
        if e > int(self.epochs * self.final):
            return "refine"
        return None

    def lose_ratio(self, e: int) -> float:
        """The share of points a HARD image may miss, growing from 0.2 to ~1 over enhancement."""
        start = self.epochs * self.pre if self.start is None else self.start
        span = self.epochs * self.final - start
        return self.lose_init + (e - start + 1) / span * (1 - self.lose_init)


# the method ----------------------------------------------------------------------------
@register_method
class PAL(Method):
    name = "pal"
    description = "PAL (ICCV'25): easy-to-hard pools, label refinement with decay, OHEM BCE"
    protocol = "\n".join(
        [
            "PAL @e89262fc (train_model.py, utilts.py, loss/Edge_loss.py, components/*) and the ICCV'25 paper; deviations:",
            "- OpenCV's GaussianBlur, Canny, dilate/erode, findContours and contourArea re-implemented in numpy (same rules)",
            "- the loss follows the code, not the paper: 4 x OHEM BCE on every pixel (Edge_loss.py sets edge[edge==0]=1 before edge[edge>0]=4, "
            "so its boundary weighting is a no-op)",
            "- updates predict whole images (the code tiles images larger than 1024 px)",
            "- labels and pools live in the cell's checkpoint, not in a timestamped workspace folder",
            "- HARD-pool images keep their point maps in the label list (never trained on) so label IoU covers every image",
            "- augmentation (Profile.augmentation='pal'): warps without OpenCV's 1/32-px sampling grid; noise drawn once for the "
            "replicated grey channels; brightness/contrast after noise clip to 0-255 (albumentations clips a float image to 0-1)",
            "- bf16 autocast on CUDA (the code: fp16 AMP with a grad scaler); every random choice is seeded (the code has no seed)",
        ]
    )
    label_types = ("centroid", "coarse")
    defaults = {"tb": 0.5, "k": 0.5, "decay": 0.97, "pre": 0.2, "final": 0.8, "gap": 5, "lose_init": 0.2, "alarm": 5.0}

    def __init__(self, **options: Any):
        super().__init__(**options)
        if int(self.options["gap"]) < 1 or not 0 <= float(self.options["pre"]) <= float(self.options["final"]) <= 1:
            raise ConfigError(f"pal: need gap >= 1 and 0 <= pre <= final <= 1, got {self.options}")
        self.train_pool: list[int] = []
        self.steps = 0  # optimizer steps trained so far
        self.held = False  # an update was held back by Profile.pre_start_steps
        self.enhance_from: int | None = None

    def paper_overrides(self) -> dict[str, Any]:
        # train_model.py: AdamW lr 1e-3 (default weight decay 0.01), constant LR, grey
        # replicated to 3 channels, plain random crops, its albumentations list, DNANet
        # and UIUNet output losses summed (ISNet: mask only, no side outputs here).
        return {
            "optimizer": "adamw",
            "lr": 1e-3,
            "weight_decay": 0.01,
            "scheduler": "constant",
            "in_channels": 3,
            "deep_supervision": "sum",
            "pos_prob": 0.0,
            "augmentation": "pal",
        }

    def schedule(self, epochs: int) -> Schedule:
        o = self.options
        return Schedule(epochs, float(o["pre"]), float(o["final"]), int(o["gap"]), float(o["lose_init"]), self.enhance_from)

    def _pre_start_done(self, ctx: MethodContext) -> bool:
        """Count this epoch's optimizer steps; True once ``Profile.pre_start_steps`` are done
        (always with the papers' 0). A reduced profile's few epochs are too few steps for
        the detector to pass 0.5 on the targets, and below 0.5 no label can change."""
        batch = ctx.profile.batch_size
        self.steps += -(-int(ctx.last_epoch.get("train_images", 0)) // batch)
        return self.steps >= ctx.profile.pre_start_steps

    # labels and pools -----------------------------------------------------------------
    @staticmethod
    def _easy_split(samples: Sequence[Sample], label_type: str) -> list[tuple[np.ndarray, bool]]:
        return [easy_sample(s.image, s.points(label_type)) for s in samples]

    def initial_labels(
        self, samples: Sequence[Sample], label_type: str, rng: np.random.Generator, progress: bool = False
    ) -> list[np.ndarray]:
        return [label for label, _ in self._easy_split(samples, label_type)]

    def setup(self, ctx: MethodContext) -> None:
        split = self._easy_split(ctx.samples, ctx.label_type)
        ctx.labels[:] = [label for label, _ in split]
        self.train_pool = [i for i, (_, easy) in enumerate(split) if easy]

    def epoch_indices(self, epoch: int, ctx: MethodContext) -> np.ndarray:
        return np.asarray(self.train_pool, dtype=np.int64)

    # loss -----------------------------------------------------------------------------
    def output_loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor], ctx: MethodContext) -> torch.Tensor:
        return losses.edge_ohem_bce(logits, (batch["label"] > 0.5).float())

    # updates --------------------------------------------------------------------------
    def end_epoch(self, epoch: int, ctx: MethodContext) -> dict[str, Any]:
        e = epoch + 1  # PAL's update before its epoch e = ours after epoch e - 1
        ready = self._pre_start_done(ctx)
        phase = self.schedule(ctx.profile.epochs).phase(e)
        if phase is None:
            return {}
        if not ready:
            self.held = True
            return {"phase": "pre-start", "steps": self.steps}
        if self.held and self.enhance_from is None and phase == "enhance":
            self.enhance_from = e  # a late start: the loss ratio ramps from here to the end of enhancement
        schedule = self.schedule(ctx.profile.epochs)
        pool = set(self.train_pool)
        hard = [i for i in range(len(ctx.labels)) if i not in pool] if phase == "enhance" else []
        indices = sorted(pool) + hard
        probs = dict(zip(indices, ctx.predict(indices)))
        before = [ctx.labels[i] for i in sorted(pool)]
        changed = self._refine(ctx, sorted(pool), probs)
        log: dict[str, Any] = {"labels_changed": True, "phase": phase, "changed_labels": changed}
        log.update(binary_growth(before, [ctx.labels[i] for i in sorted(pool)]))  # refinement only, before admissions
        if phase == "enhance":
            lose = schedule.lose_ratio(e)
            admitted = self._admit(ctx, hard, probs, lose)
            self.train_pool = sorted(pool | set(admitted))
            log.update(lose_ratio=round(lose, 6), admitted=len(admitted))
        log["train_pool"] = len(self.train_pool)
        return log

    def _refine(self, ctx: MethodContext, indices: list[int], probs: dict[int, np.ndarray]) -> int:
        o = self.options
        changed = 0
        for i in indices:
            new = refine(ctx.labels[i], probs[i], float(o["tb"]), float(o["k"]), float(o["decay"]))
            changed += not np.array_equal(new, ctx.labels[i])
            ctx.labels[i] = new
        return changed

    def _admit(self, ctx: MethodContext, hard: list[int], probs: dict[int, np.ndarray], lose: float) -> list[int]:
        admitted = []
        for i in hard:
            pred, points = probs[i] > 0.5, ctx.points(i)
            if admit(pred, points, lose, float(self.options["alarm"])):
                ctx.labels[i] = admitted_label(pred, points)
                admitted.append(i)
        return admitted

    # resume ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"train_pool": list(self.train_pool), "steps": self.steps, "held": self.held, "enhance_from": self.enhance_from}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.train_pool = [int(i) for i in state.get("train_pool", [])]
        self.steps = int(state.get("steps", 0))
        self.held = bool(state.get("held", False))
        self.enhance_from = state.get("enhance_from")
