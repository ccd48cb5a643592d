"""Pd-Fa curves from the threshold sweep each record keeps at its last epoch: Pd (%)
against Fa (x1e-6) as the threshold moves, mean over seeds per threshold, one panel per
detector and a row per training dataset; the table's threshold (0.5) is the marker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from reports.figures.grouped import runs
from reports.figures.ink import Ink
from reports.figures.style import FA_UNIT, grid, handles, legend_below, log_scale, save, scheme_styles
from reports.naming import dataset_sort_key, detector_sort_key, ordered

TABLE_THRESHOLD = 0.5


def _curves(ax, means: dict, key: tuple[str, str], styles: dict) -> bool:
    ink = Ink()
    for spec, style in styles.items():
        if key + (spec,) not in means:
            continue
        threshold, pd_, fa = means[key + (spec,)]
        ink.line(fa, pd_, style, width=1.1)
        at = np.abs(threshold - TABLE_THRESHOLD) < 1e-6
        ink.markers(fa[at], pd_[at], style, points=4)
    ink.draw(ax)
    return bool(ink)


def _means(sweeps: pd.DataFrame) -> dict[tuple[str, str, str], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(dataset, detector, spec) -> (thresholds, mean Pd, mean Fa) over seeds: one groupby,
    split by position (a frame per curve cost more than drawing it)."""
    grouped = sweeps.groupby(["dataset", "detector", "method_spec", "threshold"], sort=True)[["pd", "fa"]].mean()
    values, thresholds = grouped.to_numpy(float), grouped.index.get_level_values(3).to_numpy(float)
    return {key: (thresholds[rows], values[rows, 0], values[rows, 1]) for key, rows in runs(grouped.index, 3)}


def pdfa_figure(sweeps: pd.DataFrame, folder: Path, name: str, title: str) -> list[Path]:
    """One suite: a row per training dataset, a column per detector."""
    datasets = ordered(sweeps["dataset"], dataset_sort_key)
    detectors = ordered(sweeps["detector"], detector_sort_key)
    styles = scheme_styles(sweeps["method_spec"])
    means = _means(sweeps)
    fig, axes = grid(len(datasets), len(detectors), legend=[s["label"] for s in styles.values()], height=2.0, sharex=True, sharey=True,
                     wspace=0.12, title=f"{title}: thresholds 0.05-0.95 at the last epoch (marker: 0.5), mean over seeds")
    for row, dataset in enumerate(datasets):
        for col, detector in enumerate(detectors):
            ax = axes[row][col]
            drawn = _curves(ax, means, (dataset, detector), styles)
            log_scale(ax, "x", "symlog", linthresh=1.0)
            ax.set_xlabel(f"Fa ({FA_UNIT}, symlog)" if row == len(datasets) - 1 else "")
            ax.set_ylabel(f"{dataset}\nPd (%)" if col == 0 else "")
            ax.set_title(detector if row == 0 else "")
            if not drawn:
                ax.text(0.5, 0.5, "no record", ha="center", va="center", transform=ax.transAxes, fontsize=6)
    legend_below(fig, *handles(styles))
    return save(fig, folder, name)
