"""Pd-Fa curves from the threshold sweep each record keeps at its last epoch: Pd (%)
against Fa (x1e-6) as the threshold moves, mean over seeds per threshold, one panel per
detector and a row per training dataset; the table's threshold (0.5) is the marker."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reports.figures.style import grid, handles, legend_below, save, scheme_styles
from reports.naming import dataset_sort_key, detector_sort_key, ordered

TABLE_THRESHOLD = 0.5


def _curves(ax, sweeps: pd.DataFrame, styles: dict) -> None:
    for spec, part in sweeps.groupby("method_spec", sort=False):
        mean = part.groupby("threshold")[["pd", "fa"]].mean().reset_index()
        style = styles[spec]
        ax.plot(mean["fa"], mean["pd"], color=style["color"], linestyle=style["linestyle"], linewidth=1.1)
        at = mean[(mean["threshold"] - TABLE_THRESHOLD).abs() < 1e-6]
        ax.plot(at["fa"], at["pd"], linestyle="none", marker=style["marker"], color=style["color"], markersize=4)


def pdfa_figure(sweeps: pd.DataFrame, folder: Path, name: str, title: str) -> list[Path]:
    """One suite: a row per training dataset, a column per detector."""
    datasets = ordered(sweeps["dataset"], dataset_sort_key)
    detectors = ordered(sweeps["detector"], detector_sort_key)
    styles = scheme_styles(sweeps["method_spec"])
    fig, axes = grid(len(datasets), len(detectors), legend_entries=len(styles), height=2.0, sharex=True, sharey=True,
                     wspace=0.12, title=f"{title}: thresholds 0.05-0.95 at the last epoch (marker: 0.5), mean over seeds")
    for row, dataset in enumerate(datasets):
        for col, detector in enumerate(detectors):
            ax = axes[row][col]
            part = sweeps[(sweeps["detector"] == detector) & (sweeps["dataset"] == dataset)]
            _curves(ax, part, styles)
            ax.set_xscale("symlog", linthresh=1.0)
            ax.set_xlabel(r"Fa ($\times10^{-6}$, symlog)" if row == len(datasets) - 1 else "")
            ax.set_ylabel(f"{dataset}\nPd (%)" if col == 0 else "")
            ax.set_title(detector if row == 0 else "")
            if part.empty:
                ax.text(0.5, 0.5, "no record", ha="center", va="center", transform=ax.transAxes, fontsize=6)
    legend_below(fig, *handles(styles))
    return save(fig, folder, name)
