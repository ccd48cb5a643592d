"""Ablation bars (Table 3's variants): mean over seeds with a ±1 std error bar and each
seed as a dot; one panel per metric. The y-axis starts near the data, not at 0, so one-
or two-point differences stay visible (the axis says where it starts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from reports.figures.ink import Ink
from reports.figures.style import FA_UNIT, grid, save, scheme_styles
from benchmark.cells import parse_spec
from reports.naming import METRIC_LABELS, scheme_name, scheme_sort_key

METRICS = ["iou", "niou", "pd", "fa"]


def variant_label(spec: str, method: str) -> str:
    """Short tick labels: the options a variant changes (the scheme is in the title)."""
    name, options = parse_spec(spec)
    if name != method:
        return scheme_name(spec)
    shown = {k: ("on" if v else "off") if isinstance(v, bool) else v for k, v in options.items()}
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or "all parts (default)"


def ablation_figure(rows: pd.DataFrame, folder: Path, name: str, title: str, method: str) -> list[Path]:
    """``rows``: tidy rows (one selection, pooled subset) of one scheme's variants (+ floor)."""
    specs = sorted(set(rows["method_spec"]), key=scheme_sort_key)
    styles = scheme_styles(specs)
    labels = [variant_label(s, method) for s in specs]
    fig, axes = grid(1, len(METRICS), width=max(2.0, 0.3 * len(specs) + 0.7), height=2.2, wspace=0.45,
                     below=0.3 + 0.04 * max(map(len, labels)), title=f"{title}: mean ± std over seeds, dots: seeds")
    for ax, metric in zip(axes[0], METRICS):
        tops, ink = [], Ink()
        for x, spec in enumerate(specs):
            values = rows.loc[rows["method_spec"] == spec, metric].dropna().to_numpy()
            if not len(values):
                continue
            ink.bar(x, values.mean(), styles[spec]["color"], alpha=0.45)
            if len(values) > 1:
                spread = values.std(ddof=1)
                ink.error_bar(x, values.mean() - spread, values.mean() + spread)
            ink.markers(x + np.linspace(-0.12, 0.12, len(values)), values, {"color": "black", "marker": "o"}, points=2)
            tops += list(values)
        ink.draw(ax)
        if tops:
            low, high = min(tops), max(tops)
            pad = 0.15 * (high - low) if high > low else 1.0
            ax.set_ylim(max(0.0, low - pad) if metric != "fa" else 0.0, high + pad)
        ax.set_xticks(range(len(specs)), labels, rotation=50, ha="right", rotation_mode="anchor")
        ax.set_ylabel(METRIC_LABELS[metric] + (f" ({FA_UNIT})" if metric == "fa" else " (%)"))
        ax.set_title(METRIC_LABELS[metric] + (" (lower is better)" if metric == "fa" else ""))
    return save(fig, folder, name)
