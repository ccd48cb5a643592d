"""Per-epoch curves: training loss, test IoU at evaluated epochs and the IoU of the
training labels against the ground truth (for schemes whose labels change: LESPS, PAL,
GSACP, Learnable distance), one column per detector; seeds as a band (mean ± std).
The named parts of a scheme's loss (``history[].loss_parts``) are a row of their own:
the scheme's colour, a dash per part.

The mean/std/count over seeds of every series is computed once per figure (one
``groupby``), and panels only draw: per-panel ``groupby`` calls cost more than drawing.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from benchmark.cells import parse_spec
from reports.figures.grouped import runs
from reports.figures.ink import Ink
from reports.figures.style import DASHES, grid, handles, legend_below, log_scale, save, scheme_styles
from reports.naming import detector_sort_key, ordered, scheme_name, scheme_sort_key

PANELS = [("loss", "training loss"), ("test_iou", "test IoU (%)"), ("label_iou", "training-label IoU (%)")]


def seed_stats(history: pd.DataFrame, series: list[str]) -> dict[tuple[str, str], dict]:
    """(detector, method_spec) -> {"epoch": epochs, series: (mean, std, count)} over seeds,
    as numpy arrays: one ``groupby`` for the figure, split by position (indexing the
    grouped frame per panel and series cost more than drawing the panels)."""
    grouped = history.groupby(["detector", "method_spec", "epoch"], sort=True)[series]
    means = grouped.mean()
    mean, std, count = (frame.to_numpy(float) for frame in (means, grouped.std(), grouped.count()))
    epochs = means.index.get_level_values(2).to_numpy()
    return {key: {"epoch": epochs[rows], **{y: (mean[rows, j], std[rows, j], count[rows, j]) for j, y in enumerate(series)}}
            for key, rows in runs(means.index, 2)}


def band(ink: Ink, stats: dict, y: str, style: dict, linestyle: str | None = None) -> bool:
    """Mean over seeds as a line and mean ± std as a band (std only where 2+ seeds);
    False when the series has no value. Markers where a series has 12 points or fewer."""
    mean, std, count = stats[y]
    keep = count > 0
    if not keep.any():
        return False
    epochs, mean, spread = stats["epoch"][keep], mean[keep], std[keep]
    spread = np.where(count[keep] >= 2, spread, np.nan)
    ink.line(epochs, mean, style, linestyle=linestyle)
    if len(epochs) <= 12:
        ink.markers(epochs, mean, style, points=3)
    ink.band(epochs, mean - spread, mean + spread, style["color"])
    return True


def _panel(ax, stats: dict, detector: str, specs: list[str], y: str, styles: dict) -> None:
    ink = Ink()
    drawn = [band(ink, stats[(detector, s)], y, styles[s]) for s in specs if (detector, s) in stats]
    ink.draw(ax)
    if not any(drawn):
        ax.text(0.5, 0.5, "no scheme here changes its labels" if y == "label_iou" else "no data",
                ha="center", va="center", transform=ax.transAxes, fontsize=6)


def curve_rows(history: pd.DataFrame, detectors: list[str]) -> list[tuple[str, str, str | None]]:
    """(series, y label, scheme family) per row: loss, test IoU, label IoU where some
    scheme's labels change, then the named loss parts: one row for every family when
    there are several detector columns, a row per family with one column (an ablation's
    many variants would crowd one panel)."""
    rows = [(y, label, None) for y, label in PANELS if y != "label_iou" or (history["label_changes"] > 0).any()]
    parts = [c for c in history.columns if c.startswith("loss_")]
    if not parts:
        return rows
    logged = history.dropna(subset=parts, how="all")
    families = ordered((parse_spec(s)[0] for s in set(logged["method_spec"])), scheme_sort_key)
    if len(detectors) > 1 or len(families) == 1:
        return rows + [("parts", "loss parts", None)]
    return rows + [("parts", f"{scheme_name(f)}\nloss parts", f) for f in families]


def _parts_panel(ax, stats: dict, detector: str, styles: dict, parts: dict[str, str], family: str | None) -> None:
    """Each scheme's loss parts in its colour, a dash per part name."""
    ink = Ink()
    for spec, style in styles.items():
        if (detector, spec) in stats and (family is None or parse_spec(spec)[0] == family):
            for part, dash in parts.items():
                band(ink, stats[(detector, spec)], part, style, linestyle=dash)
    ink.draw(ax)


def _part_handles(parts: dict[str, str]) -> tuple[list, list[str]]:
    return ([Line2D([], [], color="0.35", linestyle=d) for d in parts.values()],
            [f"loss part: {p[len('loss_'):]}" for p in parts])


def curves_figure(history: pd.DataFrame, folder: Path, name: str, title: str) -> list[Path]:
    """One figure for one suite x dataset (rows: loss, test IoU, label IoU, loss parts)."""
    detectors = ordered(history["detector"], detector_sort_key)
    styles = scheme_styles(history["method_spec"])
    rows = curve_rows(history, detectors)
    parts = {p: DASHES[i % len(DASHES)] for i, p in enumerate(sorted(c for c in history.columns if c.startswith("loss_")))}
    frame = history.assign(label_iou=history["label_iou"].where(history["label_changes"] > 0))  # only where labels change
    stats = seed_stats(frame, [y for y, _, _ in rows if y != "parts"] + list(parts))
    entries, labels = handles(styles)
    if any(y == "parts" for y, _, _ in rows):
        entries, labels = entries + _part_handles(parts)[0], labels + _part_handles(parts)[1]
    fig, axes = grid(len(rows), len(detectors), legend=labels, sharex=True, sharey="row", wspace=0.12,
                     title=title + " (bands: mean ± std over seeds)")
    log_loss = bool((history["loss"] > 0).all() and np.ptp(np.log10(history["loss"])) > 1.5)
    for col, detector in enumerate(detectors):
        for row, (y, label, family) in enumerate(rows):
            ax = axes[row][col]
            if y == "parts":
                _parts_panel(ax, stats, detector, styles, parts, family)
            else:
                _panel(ax, stats, detector, list(styles), y, styles)
            ax.set_xlabel("epoch" if row == len(rows) - 1 else "")
            ax.set_ylabel(label if col == 0 else "")
            if y == "loss" and log_loss:
                log_scale(ax, "y")
            if row == 0:
                ax.set_title(detector)
    axes[-1][0].xaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))  # shared by every panel
    legend_below(fig, entries, labels)
    return save(fig, folder, name)
