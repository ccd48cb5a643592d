"""Seed spread: every seed's value (dots) and the mean (bar) per scheme, one panel per
detector, so a reader sees whether a gap between schemes is larger than the seeds'."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from reports.figures.style import grid, save, scheme_styles
from reports.naming import METRIC_LABELS


def seeds_figure(rows: pd.DataFrame, folder: Path, name: str, title: str, metric: str = "iou") -> list[Path]:
    """``rows``: tidy rows of one selection, pooled subset, one dataset."""
    detectors = list(dict.fromkeys(rows["detector"]))
    styles = scheme_styles(rows["method_spec"])
    specs = list(styles)
    labels = [styles[s]["label"] for s in specs]
    fig, axes = grid(1, len(detectors), width=max(2.0, 0.3 * len(specs) + 0.4), height=2.2, sharey=True, wspace=0.08,
                     below=0.3 + 0.05 * max(map(len, labels)), title=f"{title}: each seed (dots) and their mean (bar)")
    for col, (ax, detector) in enumerate(zip(axes[0], detectors)):
        part = rows[rows["detector"] == detector]
        for x, spec in enumerate(specs):
            values = part.loc[part["method_spec"] == spec, metric].dropna().to_numpy()
            if not len(values):
                continue
            colour = styles[spec]["color"]
            ax.bar(x, values.mean(), color=colour, alpha=0.35, width=0.7)
            jitter = np.linspace(-0.15, 0.15, len(values)) if len(values) > 1 else np.zeros(1)
            ax.plot(x + jitter, values, linestyle="none", marker=styles[spec]["marker"], color=colour, markersize=3.5)
        ax.set_xticks(range(len(specs)), labels, rotation=50, ha="right", rotation_mode="anchor")
        ax.set_xlim(-0.6, len(specs) - 0.4)
        ax.set_title(detector)
        ax.set_ylabel(f"{METRIC_LABELS[metric]} (%)" if col == 0 else "")
        ax.set_xlabel("")
    return save(fig, folder, name)
