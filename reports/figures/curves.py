"""Per-epoch curves: training loss, test IoU at evaluated epochs and the IoU of the
training labels against the ground truth (for schemes whose labels change: LESPS, PAL,
GSACP, Learnable distance), one column per detector; seeds as a band (mean ± std).
Also the named parts of a scheme's loss (``history[].loss_parts``).

The mean/std/count over seeds of every series is computed once per figure (one
``groupby``), and panels only draw: per-panel ``groupby`` calls cost more than drawing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import MaxNLocator

from reports.figures.style import grid, handles, legend_below, save, scheme_styles
from reports.naming import detector_sort_key, ordered, scheme_name, scheme_sort_key

PANELS = [("loss", "training loss"), ("test_iou", "test IoU (%)"), ("label_iou", "training-label IoU (%)")]


def seed_stats(history: pd.DataFrame, series: list[str]) -> dict[tuple[str, str], pd.DataFrame]:
    """(detector, method_spec) -> per-epoch mean, std and count of each series over seeds."""
    stats = history.groupby(["detector", "method_spec", "epoch"], sort=True)[series].agg(["mean", "std", "count"])
    return {key: part.droplevel([0, 1]) for key, part in stats.groupby(level=[0, 1], sort=False)}


def band(ax, stats: pd.DataFrame, y: str, style: dict) -> bool:
    """Mean over seeds as a line and mean ± std as a band (std only where 2+ seeds);
    False when the series has no value."""
    mean, std, count = stats[(y, "mean")], stats[(y, "std")], stats[(y, "count")]
    keep = count.to_numpy() > 0
    if not keep.any():
        return False
    epochs, mean, spread = stats.index.to_numpy()[keep], mean.to_numpy()[keep], std.to_numpy()[keep]
    spread = np.where(count.to_numpy()[keep] >= 2, spread, np.nan)
    ax.plot(epochs, mean, color=style["color"], linestyle=style["linestyle"], linewidth=1.2,
            marker=style["marker"] if len(epochs) <= 12 else None, markersize=3)
    ok = np.isfinite(spread)
    if ok.any():  # a polygon, not fill_between: that one re-autoscales every shared panel at each call
        x, low, high = epochs[ok], (mean - spread)[ok], (mean + spread)[ok]
        ax.fill(np.r_[x, x[::-1]], np.r_[low, high[::-1]], color=style["color"], alpha=0.2, linewidth=0)
    return True


def _panel(ax, stats: dict, detector: str, specs: list[str], y: str, styles: dict) -> None:
    drawn = [band(ax, stats[(detector, s)], y, styles[s]) for s in specs if (detector, s) in stats]
    if not any(drawn):
        ax.text(0.5, 0.5, "no scheme here changes its labels" if y == "label_iou" else "no data",
                ha="center", va="center", transform=ax.transAxes, fontsize=6)


def curves_figure(history: pd.DataFrame, folder: Path, name: str, title: str) -> list[Path]:
    """One figure for one suite x dataset (rows: loss, test IoU, label IoU)."""
    detectors = ordered(history["detector"], detector_sort_key)
    styles = scheme_styles(history["method_spec"])
    changing = history["label_changes"] > 0
    panels = [p for p in PANELS if p[0] != "label_iou" or changing.any()]
    frame = history.assign(label_iou=history["label_iou"].where(changing))  # label IoU only where labels change
    stats = seed_stats(frame, [p[0] for p in panels])
    fig, axes = grid(len(panels), len(detectors), legend_entries=len(styles), sharex=True, sharey="row", wspace=0.12,
                     title=title + " (bands: mean ± std over seeds)")
    log_loss = bool((history["loss"] > 0).all() and np.ptp(np.log10(history["loss"])) > 1.5)
    for col, detector in enumerate(detectors):
        for row, (y, label) in enumerate(panels):
            ax = axes[row][col]
            _panel(ax, stats, detector, list(styles), y, styles)
            ax.set_xlabel("epoch" if row == len(panels) - 1 else "")
            ax.set_ylabel(label if col == 0 else "")
            if y == "loss" and log_loss:
                ax.set_yscale("log")
            if row == 0:
                ax.set_title(detector)
    axes[-1][0].xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))  # shared by every panel
    legend_below(fig, *handles(styles))
    return save(fig, folder, name)


WRAP = 4  # panels per row of a one-detector loss-parts figure (an ablation's many variants)


def _part_panels(detectors: list[str], specs: list[str]) -> tuple[int, int, list[tuple[int, int, str, str]]]:
    """(rows, cols, [(row, col, detector, spec)]): a row per detector and a column per
    scheme; with one detector the schemes wrap over rows of ``WRAP``, not one long strip."""
    if len(detectors) > 1:
        return len(detectors), len(specs), [(r, c, d, s) for r, d in enumerate(detectors) for c, s in enumerate(specs)]
    cols = min(WRAP, len(specs))
    return -(-len(specs) // cols), cols, [(i // cols, i % cols, detectors[0], s) for i, s in enumerate(specs)]


def loss_parts_figure(history: pd.DataFrame, folder: Path, name: str, title: str) -> list[Path] | None:
    """The named parts of each scheme's loss over epochs: a panel per scheme that logs
    parts, a row per detector; seeds as bands."""
    parts = [c for c in history.columns if c.startswith("loss_")]
    if not parts:
        return None
    logged = history.dropna(subset=parts, how="all")
    specs = ordered(logged["method_spec"], scheme_sort_key)
    detectors = ordered(logged["detector"], detector_sort_key)
    stats = seed_stats(logged, parts)
    styles = {p: {"color": c, "marker": "o", "linestyle": "-", "label": p[len("loss_"):]}
              for p, c in zip(parts, sns.color_palette("colorblind", len(parts)))}
    rows, cols, panels = _part_panels(detectors, specs)
    fig, axes = grid(rows, cols, legend_entries=len(parts), sharex=True, wspace=0.3,
                     title=title + ": the named parts of each scheme's loss (bands: mean ± std over seeds)")
    for r, c, detector, spec in panels:
        ax = axes[r][c]
        for part in parts:
            if (detector, spec) in stats:
                band(ax, stats[(detector, spec)], part, styles[part])
        ax.set_title(scheme_name(spec) if r == 0 or len(detectors) == 1 else "")
        ax.set_ylabel(f"{detector}\nloss part" if c == 0 else "")
        ax.set_xlabel("epoch" if r == rows - 1 or (r == rows - 2 and c >= len(panels) % cols > 0) else "")
        ax.xaxis.set_tick_params(labelbottom=True)
    for r, c in [(r, c) for r in range(rows) for c in range(cols)][len(panels):]:
        axes[r][c].set_visible(False)
    axes[0][0].xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    legend_below(fig, *handles(styles))
    return save(fig, folder, name)
