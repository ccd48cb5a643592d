"""Seed spread: every seed's value (dots) and the mean (bar) per scheme, one panel per
detector, so a reader sees whether a gap between schemes is larger than the seeds'."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from reports.figures.ink import Ink
from reports.figures.style import grid, save, scheme_styles
from reports.naming import METRIC_LABELS, dataset_sort_key, detector_sort_key, ordered


def _panel(ax, part: pd.DataFrame, specs: list[str], styles: dict, metric: str) -> None:
    by_spec = {spec: group[metric].dropna().to_numpy() for spec, group in part.groupby("method_spec", sort=False)}
    ink = Ink()
    for x, spec in enumerate(specs):
        values = by_spec.get(spec, np.zeros(0))
        if not len(values):
            continue
        ink.bar(x, values.mean(), styles[spec]["color"], alpha=0.35)
        jitter = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(1)
        ink.markers(x + jitter, values, styles[spec])
    ink.draw(ax)


def seeds_figure(rows: pd.DataFrame, folder: Path, name: str, title: str, metric: str = "iou") -> list[Path]:
    """``rows``: tidy rows of one suite, one selection, pooled subset; a row of panels
    per training dataset, a column per detector."""
    datasets = ordered(rows["dataset"], dataset_sort_key)
    detectors = ordered(rows["detector"], detector_sort_key)
    styles = scheme_styles(rows["method_spec"])
    specs = list(styles)
    labels = [styles[s]["label"] for s in specs]
    fig, axes = grid(len(datasets), len(detectors), width=max(2.0, 0.3 * len(specs) + 0.4), height=2.0, sharex=True,
                     sharey=True, wspace=0.08, below=0.3 + 0.04 * max(map(len, labels)),
                     title=f"{title}: each seed (dots) and their mean (bar)")
    cells = {key: part for key, part in rows.groupby(["dataset", "detector"], sort=False)}
    empty = rows.iloc[0:0]
    for r, dataset in enumerate(datasets):
        for col, detector in enumerate(detectors):
            ax = axes[r][col]
            _panel(ax, cells.get((dataset, detector), empty), specs, styles, metric)
            ax.set_title(detector if r == 0 else "")
            ax.set_ylabel(f"{dataset}\n{METRIC_LABELS[metric]} (%)" if col == 0 else "")
    axes[-1][0].set_xticks(range(len(specs)), labels)  # shared by every panel
    axes[-1][0].set_xlim(-0.6, len(specs) - 0.4)
    for ax in axes[-1]:
        ax.tick_params(axis="x", labelrotation=50)
        for label in ax.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
    return save(fig, folder, name)
