"""Per-epoch curves: training loss, test IoU at evaluated epochs and the IoU of the
training labels against the ground truth (for schemes whose labels change: LESPS, PAL,
GSACP, Learnable distance), one column per detector; seeds as a band (mean ± std)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from reports.figures.style import grid, handles, legend_below, save, scheme_styles
from reports.naming import detector_sort_key, ordered, scheme_name, scheme_sort_key

PANELS = [("loss", "training loss"), ("test_iou", "test IoU (%)"), ("label_iou", "training-label IoU (%)")]


def band(ax, data: pd.DataFrame, y: str, style: dict) -> None:
    """Mean over seeds as a line, mean ± std as a band (std only where 2+ seeds)."""
    stats = data.groupby("epoch")[y].agg(["mean", "std", "count"]).reset_index()
    ax.plot(stats["epoch"], stats["mean"], color=style["color"], linestyle=style["linestyle"], linewidth=1.2,
            marker=style["marker"] if len(stats) <= 12 else None, markersize=3)
    spread = stats["std"].where(stats["count"] >= 2)
    if spread.notna().any():
        ax.fill_between(stats["epoch"], stats["mean"] - spread, stats["mean"] + spread, color=style["color"], alpha=0.2,
                        linewidth=0)


def _panel(ax, data: pd.DataFrame, y: str, styles: dict) -> None:
    data = data.dropna(subset=[y])
    for spec, part in data.groupby("method_spec", sort=False):
        band(ax, part, y, styles[spec])
    if data.empty:
        ax.text(0.5, 0.5, "no scheme here changes its labels" if y == "label_iou" else "no data",
                ha="center", va="center", transform=ax.transAxes, fontsize=6)


def curves_figure(history: pd.DataFrame, folder: Path, name: str, title: str) -> list[Path]:
    """One figure for one suite x dataset (rows: loss, test IoU, label IoU)."""
    detectors = list(dict.fromkeys(history["detector"]))
    styles = scheme_styles(history["method_spec"])
    changing = history[history["label_changes"] > 0]
    panels = [p for p in PANELS if p[0] != "label_iou" or not changing.empty]
    fig, axes = grid(len(panels), len(detectors), legend_entries=len(styles), sharex=True, sharey="row", wspace=0.12,
                     title=title + " (bands: mean ± std over seeds)")
    log_loss = bool((history["loss"] > 0).all() and np.ptp(np.log10(history["loss"])) > 1.5)
    for col, detector in enumerate(detectors):
        for row, (y, label) in enumerate(panels):
            source = changing if y == "label_iou" else history
            ax = axes[row][col]
            _panel(ax, source[source["detector"] == detector], y, styles)
            ax.set_xlabel("epoch" if row == len(panels) - 1 else "")
            ax.set_ylabel(label if col == 0 else "")
            if y == "loss" and log_loss:
                ax.set_yscale("log")
            if row == 0:
                ax.set_title(detector)
    axes[-1][0].xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))  # shared by every panel
    legend_below(fig, *handles(styles))
    return save(fig, folder, name)


def loss_parts_figure(history: pd.DataFrame, folder: Path, name: str, title: str) -> list[Path] | None:
    """The named parts of each scheme's loss (``history[].loss_parts``) over epochs: a
    panel per scheme that logs parts, a row per detector; seeds as bands."""
    parts = [c for c in history.columns if c.startswith("loss_")]
    if not parts:
        return None
    logged = history.dropna(subset=parts, how="all")
    specs = ordered(logged["method_spec"], scheme_sort_key)
    detectors = ordered(logged["detector"], detector_sort_key)
    styles = {p: {"color": c, "marker": "o", "linestyle": "-", "label": p[len("loss_"):]}
              for p, c in zip(parts, sns.color_palette("colorblind", len(parts)))}
    fig, axes = grid(len(detectors), len(specs), legend_entries=len(parts), sharex=True, wspace=0.3,
                     title=title + ": the named parts of each scheme's loss (bands: mean ± std over seeds)")
    for r, detector in enumerate(detectors):
        for c, spec in enumerate(specs):
            ax = axes[r][c]
            cell = logged[(logged["detector"] == detector) & (logged["method_spec"] == spec)]
            for part in parts:
                if cell[part].notna().any():
                    band(ax, cell.dropna(subset=[part]), part, styles[part])
            ax.set_title(f"{scheme_name(spec)}" if r == 0 else "")
            ax.set_ylabel(f"{detector}\nloss part" if c == 0 else "")
            ax.set_xlabel("epoch" if r == len(detectors) - 1 else "")
    legend_below(fig, *handles(styles))
    return save(fig, folder, name)
