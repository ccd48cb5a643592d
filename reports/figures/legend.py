"""The legend under a figure's panels, laid out on a fixed grid in inches.

matplotlib's ``Legend`` packs its entries in offset boxes and measures every label's
extent at each draw (the PNG's and again the PDF's): ~8% of a curves figure. Here the
columns are as wide as the longest label needs at an estimated 0.6 em per character
(DejaVu Sans averages less, so no label reaches the next column), the entries fill
column after column as matplotlib's do, and the handles of all entries are two
collections (lines, markers) whatever their number.
"""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.transforms import IdentityTransform

from reports.figures.ink import marker_path

COLUMN = 1.7  # inches per legend column at least
ROW = 0.2  # inches per legend row
HANDLE = 0.22  # inches of line in a handle
PAD = 0.08  # inches between a handle and its label
BOTTOM = 0.05  # inches from the figure's bottom edge to the last row's bottom
EM_PER_CHARACTER = 0.6


def shape(figure_width: float, labels: Sequence[str]) -> tuple[int, int, float]:
    """(columns, rows, column width in inches) of a legend of ``labels``."""
    if not labels:
        return 0, 0, COLUMN
    points = mpl.rcParams["legend.fontsize"]
    points = points if isinstance(points, (int, float)) else 7.0
    need = HANDLE + PAD + 0.1 + EM_PER_CHARACTER * points / 72 * max(map(len, labels))
    width = max(COLUMN, need)
    columns = max(1, min(len(labels), int(figure_width // width)))
    return columns, math.ceil(len(labels) / columns), width


def draw(fig, entries: list, labels: list[str]) -> None:
    """``entries``: Line2D handles (their colour, dash, marker and marker size are read)."""
    columns, rows, width = shape(fig.get_figwidth(), labels)
    if not columns:
        return
    left = (fig.get_figwidth() - columns * width) / 2
    lines, line_styles, marks, mark_styles = [], [], [], []
    for i, (entry, label) in enumerate(zip(entries, labels)):
        x = left + (i // rows) * width
        y = BOTTOM + (rows - i % rows - 0.5) * ROW
        if entry.get_linestyle() not in ("None", "none", "", " "):
            lines.append([(x, y), (x + HANDLE, y)])
            line_styles.append((entry.get_color(), entry.get_linestyle(), entry.get_linewidth()))
        if entry.get_marker() not in (None, "None", "none", "", " "):
            marks.append((x + HANDLE / 2, y))
            mark_styles.append((entry.get_color(), entry.get_marker(), entry.get_markersize()))
        fig.text(x + HANDLE + PAD, y, label, transform=fig.dpi_scale_trans, ha="left", va="center",
                 fontsize=mpl.rcParams["legend.fontsize"])
    if lines:
        colours, dashes, widths = zip(*line_styles)
        fig.add_artist(LineCollection(lines, colors=list(colours), linestyles=list(dashes), linewidths=list(widths),
                                      transform=fig.dpi_scale_trans))
    if marks:
        colours, markers, sizes = zip(*mark_styles)
        fig.add_artist(PathCollection([marker_path(m) for m in markers], sizes=np.square(sizes), offsets=np.asarray(marks),
                                      offset_transform=fig.dpi_scale_trans, transform=IdentityTransform(),
                                      facecolors=list(colours), edgecolors=list(colours), linewidths=0.5))
