"""Summary tables from the tidy records frame: mean (± std over seeds) per cell group.

Reads only records (pandas, tabulate); never imports torch, so reports regenerate from
stored results on any machine.
"""

from __future__ import annotations

import math

import pandas as pd
from tabulate import tabulate

from benchmark.metrics import METRICS

GROUP = ["detector", "method_spec", "dataset", "labels"]
METRIC_COLUMNS = [m.name for m in METRICS]
LABELS = {m.name: f"{m.label} ({m.unit})" for m in METRICS}


def summarize(frame: pd.DataFrame, selection: str = "last", subset: str = "all") -> pd.DataFrame:
    """Mean, std and seed count of each metric per detector x method x dataset x labels."""
    if frame.empty or "selection" not in frame:
        return pd.DataFrame(columns=GROUP + ["seeds"])
    done = frame[(frame["status"] == "done") & (frame["selection"] == selection) & (frame["subset"] == subset)]
    if done.empty:
        return pd.DataFrame(columns=GROUP + ["seeds"])
    grouped = done.groupby(GROUP, sort=True)  # a stable order, whatever order the record files load in
    out = grouped[METRIC_COLUMNS].mean()
    std = grouped[METRIC_COLUMNS].std(ddof=1)
    for name in METRIC_COLUMNS:
        out[f"{name}_std"] = std[name]
    out["seeds"] = grouped.size()
    return out.reset_index()


def _fmt(mean: float, std: float) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {std:.2f}"


def display_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """Strings for humans: 'mean ± std' per metric."""
    rows = []
    for _, r in summary.iterrows():
        row = {"detector": r["detector"], "method": r["method_spec"], "dataset": r["dataset"], "labels": r["labels"]}
        for name in METRIC_COLUMNS:
            row[LABELS[name]] = _fmt(r[name], r[f"{name}_std"])
        row["seeds"] = int(r["seeds"])
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(summary: pd.DataFrame) -> str:
    if summary.empty:
        return "(no finished cells)"
    return tabulate(display_frame(summary), headers="keys", tablefmt="github", showindex=False)
