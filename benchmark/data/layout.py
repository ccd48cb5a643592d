"""Reading one dataset folder in the common layout, with errors that name the file and the fix.

    <root>/<NAME>/images/<id>.png          any PIL mode; converted to 8-bit grey
    <root>/<NAME>/masks/<id>.png           0/255 (soft grey pixels allowed; > 127 is target)
    <root>/<NAME>/masks_centroid/<id>.png  one 255 pixel per target (optional: derived)
    <root>/<NAME>/masks_coarse/<id>.png    one 255 pixel per target (optional: derived)
    <root>/<NAME>/img_idx/train_<NAME>.txt one id per line (and test_<NAME>.txt)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from benchmark.data import points as pointlib
from benchmark.errors import DataError
from benchmark.seeding import seed_hash

log = logging.getLogger(__name__)

SPLITS = ("train", "test")
POINT_FOLDERS = {"centroid": "masks_centroid", "coarse": "masks_coarse"}
LAYOUT_HINT = (
    "expected <data root>/<NAME>/{images,masks,masks_centroid,masks_coarse}/<id>.png and "
    "<NAME>/img_idx/{train,test}_<NAME>.txt"
)


@dataclass
class RawSample:
    """One sample as read from the folder, before caching."""

    name: str
    image: np.ndarray
    mask: np.ndarray | None
    centroid: np.ndarray
    coarse: np.ndarray
    centroid_source: str  # "file" | "derived"
    coarse_source: str


def check_data_root(root: Path) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(
            f"data root {str(root)!r} does not exist. Pass --data-root DIR (the folder that holds "
            f"SIRST/, NUDT-SIRST/, IRSTD-1K/, SIRST3/) or set POINTBENCH_DATA; {LAYOUT_HINT}"
        )
    return root.resolve()


def dataset_folder(root: Path, name: str) -> Path:
    folder = check_data_root(root) / name
    if not folder.is_dir():
        present = sorted(p.name for p in Path(root).iterdir() if p.is_dir())
        raise DataError(
            f"dataset folder {str(folder)!r} not found (the data root has: {', '.join(present) or 'nothing'}). "
            f"Check --data-root; {LAYOUT_HINT}"
        )
    return folder


def split_file(folder: Path, name: str, split: str) -> Path:
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; use one of {SPLITS}")
    return folder / "img_idx" / f"{split}_{name}.txt"


def read_split_ids(path: Path) -> list[str]:
    """Ids listed in a split file, one per line; blank lines ignored."""
    if not path.is_file():
        raise DataError(
            f"split file {str(path)!r} not found: every dataset needs img_idx/train_<NAME>.txt and "
            f"img_idx/test_<NAME>.txt listing one image id (file name without .png) per line"
        )
    ids = [line.strip() for line in path.read_text(encoding="utf-8-sig").splitlines() if line.strip()]
    if not ids:
        raise DataError(f"split file {str(path)!r} is empty: list one image id (file name without .png) per line")
    duplicates = sorted({i for i in ids if ids.count(i) > 1}) if len(set(ids)) != len(ids) else []
    if duplicates:
        raise DataError(f"split file {str(path)!r} lists ids more than once: {', '.join(duplicates[:5])}; remove the repeats")
    return ids


FILE_FOLDERS = {"image": "images", "mask": "masks", **POINT_FOLDERS}


def relative_paths(sample_id: str) -> dict[str, str]:
    """Each kind's file of one id, relative to the dataset folder (plain strings: SIRST3's
    11,000 paths are built on every fingerprint)."""
    return {kind: f"{sub}/{sample_id}.png" for kind, sub in FILE_FOLDERS.items()}


def file_paths(folder: Path, sample_id: str) -> dict[str, Path]:
    return {kind: folder / rel for kind, rel in relative_paths(sample_id).items()}


def read_grey_png(path: Path, mode: str = "L") -> np.ndarray:
    """8-bit pixels of one PNG (16-bit or float grey scaled to 0..255 by its maximum)."""
    with Image.open(path) as img:
        img.load()
        if img.mode in ("I", "I;16", "I;16B", "F"):  # 16-bit/float grey: scale to 8 bits
            arr = np.asarray(img, dtype=np.float64)
            top = arr.max() or 1.0
            return np.clip(arr / top * 255.0, 0, 255).astype(np.uint8)
        return np.asarray(img.convert(mode), dtype=np.uint8)


def _read_png(path: Path, what: str, split_path: Path, mode: str = "L") -> np.ndarray:
    try:
        return read_grey_png(path, mode)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise DataError(
            f"cannot read {what} {str(path)!r}: {exc}. Re-save it as a PNG, or remove its id from {str(split_path)!r}"
        ) from exc


def read_sample(folder: Path, dataset: str, sample_id: str, split_path: Path, repairs: list[str]) -> RawSample:
    """Read one id's files, check sizes, and read or derive its point labels."""
    paths = file_paths(folder, sample_id)
    if not paths["image"].is_file():
        raise DataError(
            f"image id {sample_id!r} listed in {str(split_path)!r} has no image: expected {str(paths['image'])!r}. "
            f"Add the image or remove the id from the split file"
        )
    image = _read_png(paths["image"], "image", split_path)
    mask = None
    if paths["mask"].is_file():
        mask = _read_png(paths["mask"], "mask", split_path)
        if mask.shape != image.shape:
            raise DataError(
                f"image {str(paths['image'])!r} is {image.shape[1]}x{image.shape[0]} (WxH) but its mask "
                f"{str(paths['mask'])!r} is {mask.shape[1]}x{mask.shape[0]}: a mask must have its image's size"
            )
    labels: dict[str, np.ndarray] = {}
    sources: dict[str, str] = {}
    for kind in ("centroid", "coarse"):
        path = paths[kind]
        if path.is_file():
            label_image = _read_png(path, f"{kind} point label", split_path)
            pts = pointlib.points_from_label_image(label_image)
            if label_image.shape != image.shape:
                fixed = pointlib.rescale_points(pts, label_image.shape, image.shape)
                message = (
                    f"repaired {path}: point label is {label_image.shape[1]}x{label_image.shape[0]} for a "
                    f"{image.shape[1]}x{image.shape[0]} image; points scaled by nearest neighbour "
                    f"{pts.tolist()} -> {fixed.tolist()}"
                )
                log.warning(message)
                repairs.append(message)
                pts = fixed
            labels[kind], sources[kind] = pts, "file"
        elif mask is not None:
            if kind == "centroid":
                labels[kind] = pointlib.centroid_points(mask)
            else:
                rng = np.random.default_rng(seed_hash("coarse-points", dataset, sample_id))
                labels[kind] = pointlib.coarse_points(mask, rng)
            sources[kind] = "derived"
        else:
            raise DataError(
                f"image id {sample_id!r} ({str(split_path)!r}) has neither a mask ({str(paths['mask'])!r}) nor a "
                f"{kind} point label ({str(path)!r}): add the mask, from which points are derived"
            )
    return RawSample(sample_id, image, mask, labels["centroid"], labels["coarse"], sources["centroid"], sources["coarse"])
