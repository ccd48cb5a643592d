"""Ours against the published numbers: one panel per metric, a dot per compared cell
(x: published, y: ours), the diagonal where they would agree; colour by source."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D

from reports.figures.style import MARKERS, grid, legend_below, log_scale, save
from reports.naming import METRIC_LABELS

METRICS = ["iou", "niou", "pd", "fa", "seconds_per_target"]
LABELS = {**METRIC_LABELS, "seconds_per_target": "s/target"}


def published_figure(comparison: pd.DataFrame, folder: Path, name: str) -> list[Path]:
    metrics = [m for m in METRICS if (comparison["metric"] == m).any()]
    sources = list(dict.fromkeys(comparison["source"]))
    colours = dict(zip(sources, sns.color_palette("colorblind", len(sources))))
    markers = {s: MARKERS[i % len(MARKERS)] for i, s in enumerate(sources)}
    fig, axes = grid(1, len(metrics), width=2.2, height=2.2, legend=sources, left=0.6, wspace=0.4,
                     title="Ours vs published (dashed: equal); protocols differ, see the comparison table")
    for ax, metric in zip(axes[0], metrics):
        part = comparison[comparison["metric"] == metric]
        for source, rows in part.groupby("source", sort=False):
            ax.plot(rows["theirs"], rows["ours"], linestyle="none", marker=markers[source], color=colours[source],
                    markersize=4, alpha=0.8)
        values = np.concatenate([part["theirs"].to_numpy(float), part["ours"].to_numpy(float)])
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        ax.plot([low, high], [low, high], color="grey", linewidth=0.8, linestyle="--")
        if metric == "fa" and high > 100 * max(low, 1e-3):
            log_scale(ax, "x", "symlog", linthresh=1.0)
            log_scale(ax, "y", "symlog", linthresh=1.0)
        ax.set_xlabel(f"published {LABELS[metric]}")
        ax.set_ylabel(f"ours {LABELS[metric]}")
        ax.set_title(LABELS[metric])
    entries = [Line2D([], [], linestyle="none", marker=markers[s], color=colours[s]) for s in sources]
    legend_below(fig, entries, sources)
    return save(fig, folder, name)
