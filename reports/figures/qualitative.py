"""Qualitative grid from the small PNGs the engine saves beside a record: for a few fixed
test images, the image, its ground truth, the points, and each scheme's prediction; for a
few fixed training images, the same with each scheme's training labels at the last epoch
(its pseudo-labels). One detector, one dataset, the lowest seed of each scheme."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from reports.figures.style import save, wrap
from reports.naming import scheme_name, scheme_sort_key

FIXED = ["image", "ground truth", "points"]
CELL = 1.05  # inches per image


def _read(folder: Path, name: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(folder / name))


def _entries(manifests: dict[str, tuple[Path, list[dict]]], kind: str) -> tuple[list[str], dict]:
    """Image names every scheme saved (in the first scheme's order) and their entries."""
    by_spec = {spec: {e["name"]: (folder, e) for e in entries if e["kind"] == kind}
               for spec, (folder, entries) in manifests.items()}
    names = None
    for found in by_spec.values():
        names = [n for n in (names if names is not None else found) if n in found]
    return names or [], by_spec


def _fixed_cells(axes, folder: Path, entry: dict) -> None:
    image = _read(folder, entry["files"]["image"])
    axes[0].imshow(image, cmap="gray", vmin=0, vmax=255)
    if "gt" in entry["files"]:
        axes[1].imshow(_read(folder, entry["files"]["gt"]), cmap="gray", vmin=0, vmax=255)
    axes[2].imshow(image, cmap="gray", vmin=0, vmax=255, alpha=0.6)
    points = np.asarray(entry["points"]).reshape(-1, 2)
    if len(points):
        axes[2].plot(points[:, 1], points[:, 0], "x", color="#d55e00", markersize=5, markeredgewidth=1.2)


def qualitative_figure(manifests: dict[str, tuple[Path, list[dict]]], folder: Path, name: str,
                       title: str) -> list[Path] | None:
    """``manifests``: method_spec -> (PNG folder, manifest entries) of one record each."""
    import matplotlib.pyplot as plt

    specs = sorted(manifests, key=scheme_sort_key)
    blocks = [(kind, *_entries({s: manifests[s] for s in specs}, kind)) for kind in ("test", "train")]
    blocks = [b for b in blocks if b[1]]
    if not blocks:
        return None
    n_rows, n_cols = sum(len(b[1]) for b in blocks), len(FIXED) + len(specs)
    headers = [textwrap.fill(h, 16) for h in FIXED + [scheme_name(s) for s in specs]]
    lines = wrap(f"{title}: test rows show predictions, train rows the labels each scheme trained on at the last epoch "
                 "(colour: 0 to 1)", CELL * n_cols - 0.3)
    top = 0.25 + 0.15 * len(lines) + 0.12 * max(h.count("\n") + 1 for h in headers)
    height = CELL * n_rows + top + 0.05
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(CELL * n_cols + 0.4, height), squeeze=False)
    fig.subplots_adjust(left=0.4 / (CELL * n_cols + 0.4), right=0.99, top=1 - top / height, bottom=0.05 / height,
                        wspace=0.04, hspace=0.06)
    row = 0
    for kind, names, by_spec in blocks:
        for image_name in names:
            folder0, entry0 = by_spec[specs[0]][image_name]
            _fixed_cells(axes[row], folder0, entry0)
            for j, spec in enumerate(specs):
                spec_folder, entry = by_spec[spec][image_name]
                axes[row][len(FIXED) + j].imshow(_read(spec_folder, entry["files"]["map"]), cmap="magma", vmin=0, vmax=255)
            axes[row][0].set_ylabel(f"{kind}\n{image_name}", fontsize=6)
            row += 1
    for ax in np.asarray(axes).ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    for j, header in enumerate(headers):
        axes[0][j].set_title(header, fontsize=6)
    fig.suptitle("\n".join(lines), fontsize=7, y=1 - 0.05 / height, va="top")
    return save(fig, folder, name)
