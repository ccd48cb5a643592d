"""What a record keeps beyond its aggregate metrics, so that reports can do statistics
and figures without retraining: the threshold sweep at the last epoch (Pd-Fa curves) and
small PNGs of a few fixed images (qualitative grids). Per-image counts (for the
bootstrap over test images) are ``benchmark.metrics.per_image_breakdown``.

Torch-free (numpy + Pillow): the engine calls these with the numpy maps it already has;
the reports read what they wrote.

Record fields (all optional; a report falls back where one is missing):
- ``metrics[selection]["per_image"]``: ``metrics.breakdown`` columns, at that epoch;
- ``sweep``: ``threshold_sweep`` at the last epoch (pooled over all test images);
- ``predictions``: ``{"dir": "<key>.pngs", "test": [...], "train": [...]}``, the manifest
  entries ``save_prediction_pngs`` returns (one folder beside the record).

Only what pointbench made is stored: the maps and labels of every cell, and the image and
mask crops of the embedded synthetic set. A real dataset's pixels are never copied into the
results (their licences; the data stays in the data root): the report reads those windows
from ``--data-root`` (``reports/figures/source.py``).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from benchmark.metrics import binarize_mask, pd_fa_curve

SWEEP_THRESHOLDS: tuple[float, ...] = tuple(round(float(t), 2) for t in np.linspace(0.05, 0.95, 19))
SWEEP_FIELDS = ("threshold", "iou", "niou", "pd", "fa")
CROP = 96  # side of the saved window: small targets stay visible at a readable size
SAVED_IMAGES = 4  # fixed images of each split a cell saves by default
# profiles that save no PNGs unless asked (--save-images N): the papers' full protocol,
# run at scale where a person looks at tables; every reduced profile saves SAVED_IMAGES
NO_PNGS_BY_DEFAULT = ("paper",)


def saved_images(profile: Any, requested: int | None = None) -> int:
    """How many fixed images of each split a cell saves: ``requested`` when given (the
    run's ``--save-images``), else ``SAVED_IMAGES`` for reduced profiles and 0 for the
    full protocol. A run option, not a profile field: PNGs change no result, so they
    stay out of the key (a profile field would move every reduced cell's key)."""
    if requested is not None:
        if requested < 0:
            raise ValueError(f"save_images must be 0 or more, got {requested}")
        return requested
    return 0 if profile.name in NO_PNGS_BY_DEFAULT else SAVED_IMAGES


def threshold_sweep(
    probs: Sequence[np.ndarray], masks: Sequence[np.ndarray], thresholds: Sequence[float] = SWEEP_THRESHOLDS
) -> dict[str, list[float]]:
    """Metrics at every threshold as columns (``metrics.pd_fa_curve``), for Pd-Fa curves."""
    curve = pd_fa_curve(probs, masks, thresholds)
    return {name: [float(point[name]) for point in curve] for name in SWEEP_FIELDS}


def fixed_images(masks: Sequence[np.ndarray | None], count: int = 4) -> list[int]:
    """``count`` image indices spread evenly over the images that have a target.

    Depends only on the split, so every cell of a dataset saves the same images and the
    qualitative grid can set schemes side by side.
    """
    with_target = [i for i, m in enumerate(masks) if m is not None and binarize_mask(m).any()]
    if not with_target or count <= 0:
        return []
    picks = np.linspace(0, len(with_target) - 1, min(count, len(with_target)))
    return sorted({with_target[int(round(p))] for p in picks})


def crop_box(shape: tuple[int, int], mask: np.ndarray | None, points: np.ndarray, side: int = CROP) -> list[int]:
    """``[top, left, bottom, right]`` of a ``side``-pixel window centred on the first target."""
    h, w = shape
    if mask is not None and binarize_mask(mask).any():
        rows, cols = np.nonzero(binarize_mask(mask))
        centre = (int(rows.mean()), int(cols.mean()))
    elif len(points):
        centre = (int(points[0][0]), int(points[0][1]))
    else:
        centre = (h // 2, w // 2)
    top = int(np.clip(centre[0] - side // 2, 0, max(h - side, 0)))
    left = int(np.clip(centre[1] - side // 2, 0, max(w - side, 0)))
    return [top, left, min(top + side, h), min(left + side, w)]


def _to_uint8(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        return np.clip(np.rint(array * 255.0), 0, 255).astype(np.uint8)
    return array.astype(np.uint8)


def _write_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(_to_uint8(array)).save(path, optimize=True)


def save_prediction_pngs(
    folder: Path,
    kind: str,
    names: Sequence[str],
    images: Sequence[np.ndarray],
    maps: Sequence[np.ndarray],
    masks: Sequence[np.ndarray | None],
    points: Sequence[np.ndarray],
    epoch: int,
    side: int = CROP,
    source_pixels: bool = True,
) -> list[dict[str, Any]]:
    """Crops of image, ground truth and ``maps`` (test: probabilities; train: the method's
    pseudo-labels) as 8-bit PNGs in ``folder``, plus ``manifest.json``; returns its entries.

    ``kind`` is "test" or "train"; points are kept as crop coordinates in the manifest
    (drawn as markers by the report, not burnt into pixels). ``source_pixels=False``
    (every dataset pointbench did not make): only the maps are written; the dataset's own
    image and mask stay in the data root, and the report reads the window from there
    (``"source": "data-root"`` in the entry).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, image, prob, mask, pts in zip(names, images, maps, masks, points, strict=True):
        top, left, bottom, right = box = crop_box(image.shape, mask, pts, side)
        window = (slice(top, bottom), slice(left, right))
        stem = f"{kind}_{name}"
        files = {"map": f"{stem}_map.png"}
        _write_png(folder / files["map"], np.asarray(prob)[window])
        if source_pixels:
            files["image"] = f"{stem}_image.png"
            _write_png(folder / files["image"], image[window])
        if source_pixels and mask is not None:
            files["gt"] = f"{stem}_gt.png"
            _write_png(folder / files["gt"], binarize_mask(mask)[window])
        inside = [[int(r) - top, int(c) - left] for r, c in np.asarray(pts).reshape(-1, 2)
                  if top <= r < bottom and left <= c < right]
        entry = {"kind": kind, "name": str(name), "box": box, "points": inside, "epoch": int(epoch), "files": files}
        entries.append(entry if source_pixels else {**entry, "source": "data-root"})
    manifest_path = folder / "manifest.json"
    old = json.loads(manifest_path.read_text()) if manifest_path.is_file() else []
    manifest = [e for e in old if e.get("kind") != kind] + entries
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return entries


def save_cell_pngs(
    folder: Path, test: Sequence[Any], probs: Sequence[np.ndarray], train: Sequence[Any], labels: Sequence[np.ndarray],
    label_type: str, epoch: int, count: int = 4, source_pixels: bool = True,
) -> dict[str, Any]:
    """What the engine saves at a cell's last epoch: ``count`` fixed test images with their
    predictions and ``count`` fixed training images with the labels the method trained on
    (``Sample``s: ``name``, ``image``, ``mask``, ``points()``). Returns the record's
    ``predictions`` entry. Replaces whatever an earlier run of the cell left there.
    ``source_pixels``: also the image and mask crops (the embedded dataset only)."""
    clear_pngs(folder)
    points_of = label_type if label_type != "full" else "centroid"  # full masks: show where the points would be

    def one(kind: str, samples: Sequence[Any], maps: Sequence[np.ndarray]) -> list[dict[str, Any]]:
        picks = fixed_images([s.mask for s in samples], count)
        return save_prediction_pngs(folder, kind, [samples[i].name for i in picks], [samples[i].image for i in picks],
                                    [maps[i] for i in picks], [samples[i].mask for i in picks],
                                    [samples[i].points(points_of) for i in picks], epoch,
                                    source_pixels=source_pixels)

    entries = one("test", test, probs) + one("train", train, labels)
    return {"dir": Path(folder).name, "images": [f"{e['kind']}/{e['name']}" for e in entries]}


def clear_pngs(folder: Path) -> None:
    """Remove a cell's PNG folder (a rerun that saves none must not leave the old ones)."""
    shutil.rmtree(folder, ignore_errors=True)


def predictions_dir(suite_dir: Path, key: str) -> Path:
    """The folder beside a record that holds its PNGs (``<suite>/<key>.pngs``)."""
    return Path(suite_dir) / f"{key}.pngs"


def read_manifest(suite_dir: Path, key: str) -> list[dict[str, Any]]:
    """The saved PNG entries of one record (empty when it saved none)."""
    path = predictions_dir(suite_dir, key) / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else []
