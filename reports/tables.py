"""Summary tables from the tidy records frame: mean (± std over seeds) per cell group.

Reads only records (pandas, tabulate); never imports torch, so reports regenerate from
stored results on any machine.
"""

from __future__ import annotations

import math

import pandas as pd
from tabulate import tabulate

from benchmark.metrics import METRICS
from reports.naming import scheme_sort_key

# one row per variant (the key less the seed); the rest describe it for a reader
GROUP = ["variant"]
DESCRIBE = ["detector", "method_spec", "dataset", "labels", "suite", "profile", "profile_changes", "protocol_version"]
METRIC_COLUMNS = [m.name for m in METRICS]
LABELS = {m.name: f"{m.label} ({m.unit})" for m in METRICS}


def summarize(frame: pd.DataFrame, selection: str = "last", subset: str = "all") -> pd.DataFrame:
    """Mean, std and count of distinct seeds of each metric per variant.

    A seed recorded twice for one variant (the same configuration in two suites) counts
    once: its runs are averaged first, then the seeds.
    """
    empty = pd.DataFrame(columns=DESCRIBE + GROUP + ["seeds"])
    if frame.empty or "selection" not in frame:
        return empty
    done = frame[(frame["status"] == "done") & (frame["selection"] == selection) & (frame["subset"] == subset)]
    if done.empty:
        return empty
    per_seed = done.groupby(GROUP + ["seed"], sort=False)[METRIC_COLUMNS].mean()
    grouped = per_seed.groupby(level=GROUP, sort=False)
    out = grouped.mean()
    std = grouped.std(ddof=1)
    for name in METRIC_COLUMNS:
        out[f"{name}_std"] = std[name]
    out["seeds"] = grouped.size()
    described = done.groupby(GROUP, sort=False)[DESCRIBE].agg(_joined)
    out = described.join(out).reset_index()
    # stable whatever the load order; schemes in the papers' order (full, point, LESPS, PAL, ...), not alphabetical
    return out.sort_values(DESCRIBE[:7], kind="stable", key=_paper_order).reset_index(drop=True)


def _paper_order(column: pd.Series) -> pd.Series:
    return column.map(scheme_sort_key) if column.name == "method_spec" else column


def _joined(values: pd.Series) -> str | int | None:
    """The one value a variant has (several suites may hold it: all of them, joined)."""
    unique = sorted({v for v in values.dropna()}, key=str)
    if len(unique) == 1:
        return unique[0]
    return ", ".join(str(v) for v in unique) if unique else None


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
        row = {"detector": r["detector"], "method": r["method_spec"], "dataset": r["dataset"], "labels": r["labels"],
               "suite": r["suite"], "profile": r["profile"], "changes": r["profile_changes"] or "-"}
        if summary["protocol_version"].nunique() > 1:
            row["protocol"] = r["protocol_version"]
        for name in METRIC_COLUMNS:
            row[LABELS[name]] = _fmt(r[name], r[f"{name}_std"])
        row["seeds"] = int(r["seeds"])
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(summary: pd.DataFrame) -> str:
    if summary.empty:
        return "(no finished cells)"
    return tabulate(display_frame(summary), headers="keys", tablefmt="github", showindex=False)
