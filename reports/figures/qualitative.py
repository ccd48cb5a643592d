"""Qualitative grid from the small PNGs the engine saves beside a record: for a few fixed
test images, the image, its ground truth, the points, and each scheme's prediction; for a
few fixed training images, the same with each scheme's training labels at the last epoch
(its pseudo-labels). One detector, one dataset, the lowest seed of each scheme.

The grid is one mosaic image in one axes (cells composed with numpy, the maps coloured
by the colour bar's own colormap), not an axes per cell: a 6 x 12 grid of axes cost
about 3 s of drawing, the mosaic a tenth of that. A labelled colour bar gives the maps'
scale (0 to 1: probability in test rows, label value in training rows).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize

from reports.figures.source import WindowSource
from reports.figures.style import save, wrap
from reports.naming import scheme_name, scheme_sort_key

FIXED = ["image", "ground truth", "points"]
CELL = 1.05  # inches per image
PIXELS = 96  # side of a mosaic cell (the engine's crops are 96 px)
GAP = 3  # white pixels between cells
COLORMAP = "magma"
COLOURBAR_LABEL = "map value: probability (test rows), label (train rows)"
NOT_STORED = ("Image and ground truth are blank: records keep no pixels of a real dataset; "
              "pass --data-root to draw them from the data")


def _read(folder: Path, name: str) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(folder / name).convert("L"))


def _entries(manifests: dict[str, tuple[Path, list[dict]]], kind: str) -> tuple[list[str], dict]:
    """Image names every scheme saved (in the first scheme's order) and their entries."""
    by_spec = {spec: {e["name"]: (folder, e) for e in entries if e["kind"] == kind}
               for spec, (folder, entries) in manifests.items()}
    names = None
    for found in by_spec.values():
        names = [n for n in (names if names is not None else found) if n in found]
    return names or [], by_spec


def _fit(gray: np.ndarray) -> tuple[np.ndarray, float, tuple[int, int]]:
    """``gray`` scaled to fit a ``PIXELS`` square (aspect kept, nearest pixels, white
    padding); returns it, the scale and the (row, column) offset for point markers."""
    from PIL import Image

    h, w = gray.shape
    scale = PIXELS / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resized = np.asarray(Image.fromarray(gray).resize(size, Image.NEAREST)) if scale != 1 else gray
    cell = np.full((PIXELS, PIXELS), -1, np.int16)  # -1: padding (white)
    top, left = (PIXELS - resized.shape[0]) // 2, (PIXELS - resized.shape[1]) // 2
    cell[top:top + resized.shape[0], left:left + resized.shape[1]] = resized
    return cell, scale, (top, left)


def _rgb(cell: np.ndarray, colours: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """8-bit values of a cell through a 256-entry RGB table; padding white; ``alpha`` < 1
    fades toward white (the points column's backdrop)."""
    out = colours[np.clip(cell, 0, 255)]
    out = alpha * out + (1 - alpha)
    out[cell < 0] = 1.0
    return out


def _tables() -> tuple[np.ndarray, np.ndarray]:
    ramp = np.linspace(0, 1, 256)
    return np.repeat(ramp[:, None], 3, axis=1), matplotlib.colormaps[COLORMAP](ramp)[:, :3]


def _source_pixels(folder: Path, entry: dict, source: WindowSource | None) -> tuple[np.ndarray | None, ...]:
    """Image and ground-truth crops: stored beside the record (the embedded set), else read
    from the data root (real datasets), else (None, None)."""
    files = entry["files"]
    if "image" in files:
        return _read(folder, files["image"]), _read(folder, files["gt"]) if "gt" in files else None
    return source.window(entry) if source is not None else (None, None)


def _row_cells(specs: list[str], by_spec: dict, image_name: str, tables,
               source: WindowSource | None = None) -> tuple[list[np.ndarray], np.ndarray, bool]:
    """The RGB cells of one image row, its points in mosaic-cell pixels, and whether its
    image column is blank (no pixels stored or found in the data root)."""
    gray, colour = tables
    folder, entry = by_spec[specs[0]][image_name]
    image_px, gt_px = _source_pixels(folder, entry, source)
    image, scale, (top, left) = _fit(image_px if image_px is not None else _read(folder, entry["files"]["map"]))
    blank = np.full_like(image, -1)
    if image_px is None:
        image = blank  # not stored and no data root: the column stays white (the title says why)
    gt = _fit(gt_px)[0] if gt_px is not None else blank
    cells = [_rgb(image, gray), _rgb(gt, gray), _rgb(image, gray, alpha=0.6)]
    for spec in specs:
        spec_folder, spec_entry = by_spec[spec][image_name]
        cells.append(_rgb(_fit(_read(spec_folder, spec_entry["files"]["map"]))[0], colour))
    points = np.asarray(entry["points"], float).reshape(-1, 2) * scale + [top, left]
    return cells, points, image_px is None


def mosaic(rows: list[list[np.ndarray]]) -> np.ndarray:
    """Equal-sized RGB cells as one image, ``GAP`` white pixels apart."""
    step = PIXELS + GAP
    out = np.ones((len(rows) * step - GAP, len(rows[0]) * step - GAP, 3))
    for r, cells in enumerate(rows):
        for c, cell in enumerate(cells):
            out[r * step:r * step + PIXELS, c * step:c * step + PIXELS] = cell
    return out


def _compose(specs: list[str], blocks: list,
             source: WindowSource | None) -> tuple[np.ndarray, list[str], np.ndarray, bool]:
    """The mosaic, a label per row, every point marker in mosaic pixels (x, y), and whether
    some row's image column is blank."""
    tables = _tables()
    rows, labels, marks, blank = [], [], [], False
    for kind, names, by_spec in blocks:
        for image_name in names:
            cells, points, row_blank = _row_cells(specs, by_spec, image_name, tables, source)
            blank = blank or row_blank
            step = PIXELS + GAP
            marks += [(2 * step + c, len(rows) * step + r) for r, c in points]
            rows.append(cells)
            labels.append(f"{kind}\n{image_name}")
    return mosaic(rows), labels, np.asarray(marks, float).reshape(-1, 2), blank


def qualitative_figure(manifests: dict[str, tuple[Path, list[dict]]], folder: Path, name: str,
                       title: str, source: WindowSource | None = None) -> list[Path] | None:
    """``manifests``: method_spec -> (PNG folder, manifest entries) of one record each;
    ``source``: where a real dataset's image and ground truth are read (its data root)."""
    specs = sorted(manifests, key=scheme_sort_key)
    blocks = [(kind, *_entries({s: manifests[s] for s in specs}, kind)) for kind in ("test", "train")]
    blocks = [b for b in blocks if b[1]]
    if not blocks:
        return None
    image, row_labels, marks, blank = _compose(specs, blocks, source)
    n_rows, n_cols = len(row_labels), len(FIXED) + len(specs)
    headers = [textwrap.fill(h, 16) for h in FIXED + [scheme_name(s) for s in specs]]
    caption = f"{title}: test rows show predictions, train rows the labels each scheme trained on at the last epoch"
    if blank:
        caption += f". {NOT_STORED}"
    lines = wrap(caption, CELL * n_cols - 0.3)
    top = 0.25 + 0.15 * len(lines) + 0.12 * max(h.count("\n") + 1 for h in headers)
    width, bottom = CELL * n_cols + 0.5, 0.75  # room for the colour bar and its label
    height = CELL * n_rows + top + bottom
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0.45 / width, bottom / height, CELL * n_cols / width, CELL * n_rows / height))
    ax.imshow(image, interpolation="nearest")
    if len(marks):
        ax.plot(marks[:, 0], marks[:, 1], "x", color="#d55e00", markersize=5, markeredgewidth=1.2)
    step = PIXELS + GAP
    ax.set_xticks([c * step + PIXELS / 2 for c in range(n_cols)], headers, fontsize=6)
    ax.xaxis.tick_top()
    ax.set_yticks([r * step + PIXELS / 2 for r in range(n_rows)], row_labels, fontsize=6)
    ax.tick_params(length=0, pad=2)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
    bar = fig.add_axes((0.45 / width + CELL * n_cols * 0.25 / width, 0.38 / height, CELL * n_cols * 0.5 / width,
                        0.12 / height))
    mappable = ScalarMappable(norm=Normalize(0, 1), cmap=matplotlib.colormaps[COLORMAP])
    colourbar = fig.colorbar(mappable, cax=bar, orientation="horizontal")
    colourbar.set_label(COLOURBAR_LABEL, fontsize=6)
    colourbar.ax.tick_params(labelsize=6)
    fig.suptitle("\n".join(lines), fontsize=7, y=1 - 0.05 / height, va="top")
    return save(fig, folder, name)
