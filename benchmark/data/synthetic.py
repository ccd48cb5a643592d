"""The embedded default dataset: infrared-like scenes made from a seed, no download.

Each image is a cluttered background (fractal clouds, a horizon edge, bright extended
structures, hot pixels, sensor noise) with 0-3 small targets: point-spread blobs from
a single pixel to extended flat-topped ellipses, at signal-to-clutter ratios from faint
to bright. Masks are the pixels where a target's profile exceeds half its peak; point
labels come from the masks by the field's own rules (``benchmark.data.points``). The
same seed gives byte-identical files on every machine (NumPy's PCG64 + PNG).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from benchmark.data import points as pointlib

NAME = "synthetic"
VERSION = "1"  # bump whenever the generator's output changes


@dataclass(frozen=True)
class SyntheticConfig:
    size: int = 128
    train: int = 192
    test: int = 96
    seed: int = 0


def _fractal_clouds(rng: np.random.Generator, size: int) -> np.ndarray:
    """Sum of upsampled random grids (octaves): smooth, cloud-like structure in [-1, 1]."""
    out = np.zeros((size, size))
    for cells, weight in ((3, 1.0), (6, 0.5), (12, 0.25), (24, 0.125)):
        grid = rng.normal(size=(cells + 1, cells + 1))
        out += weight * ndimage.zoom(grid, size / cells, order=3)[:size, :size]
    return out / (np.abs(out).max() + 1e-9)


def _background(rng: np.random.Generator, size: int) -> tuple[np.ndarray, float]:
    """A clutter image and its noise standard deviation."""
    img = rng.uniform(60, 140) + rng.uniform(8, 40) * _fractal_clouds(rng, size)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    if rng.random() < 0.5:  # horizon / ground edge at a random angle
        angle = rng.uniform(-0.4, 0.4)
        offset = rng.uniform(0.3, 0.8) * size
        side = (yy - offset - np.tan(angle) * (xx - size / 2)) / rng.uniform(0.7, 2.0)
        img += rng.uniform(-50, 50) / (1 + np.exp(-np.clip(side, -30, 30)))
    for _ in range(rng.integers(0, 4)):  # bright extended structures (buildings, cloud edges)
        cy, cx = rng.uniform(0, size, 2)
        ay, ax = rng.uniform(5, 18, 2)
        theta = rng.uniform(0, np.pi)
        u = (yy - cy) * np.cos(theta) + (xx - cx) * np.sin(theta)
        v = -(yy - cy) * np.sin(theta) + (xx - cx) * np.cos(theta)
        img += rng.uniform(15, 60) * np.exp(-((u / ay) ** 2 + (v / ax) ** 2) ** 2)
    noise = rng.uniform(2.0, 6.0)
    img += rng.normal(0, noise, (size, size))
    for _ in range(rng.integers(0, 4)):  # hot pixels: single sharp spikes, not targets
        img[rng.integers(0, size), rng.integers(0, size)] += rng.uniform(20, 60)
    return img, noise


def _target_profile(rng: np.random.Generator, size: int, cy: float, cx: float) -> np.ndarray:
    """A target's intensity profile peaking at 1: Gaussian spot or flat-topped ellipse."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    kind = rng.choice(["point", "spot", "extended"], p=[0.3, 0.45, 0.25])
    if kind == "point":
        s = rng.uniform(0.5, 0.9)
        return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    if kind == "spot":
        sy, sx = rng.uniform(0.9, 2.2, 2)
        return np.exp(-((yy - cy) ** 2 / (2 * sy * sy) + (xx - cx) ** 2 / (2 * sx * sx)))
    ay, ax = rng.uniform(2.5, 7.0, 2)
    theta = rng.uniform(0, np.pi)
    u = (yy - cy) * np.cos(theta) + (xx - cx) * np.sin(theta)
    v = -(yy - cy) * np.sin(theta) + (xx - cx) * np.cos(theta)
    return np.exp(-(((u / ay) ** 2 + (v / ax) ** 2) ** 2))


def make_scene(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One (image, mask) pair, both uint8 (H, W)."""
    img, noise = _background(rng, size)
    mask = np.zeros((size, size), dtype=bool)
    n_targets = rng.choice([0, 1, 2, 3], p=[0.08, 0.6, 0.22, 0.1])
    centres: list[tuple[float, float]] = []
    while len(centres) < n_targets:
        cy, cx = rng.uniform(6, size - 6, 2)
        if all((cy - y) ** 2 + (cx - x) ** 2 > 14**2 for y, x in centres):
            centres.append((cy, cx))
    for cy, cx in centres:
        profile = _target_profile(rng, size, cy, cx)
        snr = rng.uniform(3.0, 12.0)
        img += snr * noise * 1.5 * profile
        mask |= profile > 0.5
    image = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return image, mask.astype(np.uint8) * 255


def write_dataset(folder: Path, config: SyntheticConfig = SyntheticConfig()) -> None:
    """Write the dataset in the common layout (images, masks, both point labels, splits)."""
    for sub in ("images", "masks", "masks_centroid", "masks_coarse", "img_idx"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(config.seed)
    ids = [f"syn_{i:04d}" for i in range(config.train + config.test)]
    for sample_id in ids:
        image, mask = make_scene(rng, config.size)
        shape = mask.shape
        centroid = pointlib.point_map(pointlib.centroid_points(mask), shape)
        coarse = pointlib.point_map(pointlib.coarse_points(mask, rng), shape)
        for sub, arr in (("images", image), ("masks", mask), ("masks_centroid", centroid * 255), ("masks_coarse", coarse * 255)):
            Image.fromarray(arr.astype(np.uint8), mode="L").save(folder / sub / f"{sample_id}.png")
    (folder / "img_idx" / f"train_{NAME}.txt").write_text("\n".join(ids[: config.train]) + "\n")
    (folder / "img_idx" / f"test_{NAME}.txt").write_text("\n".join(ids[config.train :]) + "\n")


def ensure_synthetic_root(cache_dir: Path, config: SyntheticConfig = SyntheticConfig()) -> Path:
    """A data root holding ``synthetic/``, generated once per cache folder."""
    root = Path(cache_dir) / f"synthetic-v{VERSION}-s{config.seed}-{config.size}-{config.train}-{config.test}"
    if (root / NAME / "img_idx" / f"test_{NAME}.txt").is_file():
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".synthetic-", dir=root.parent))
    write_dataset(scratch / NAME, config)
    try:
        os.replace(scratch, root)
    except OSError:  # generated concurrently by another process: identical content
        shutil.rmtree(scratch, ignore_errors=True)
    return root
