"""The quick summary ``pointbench report`` prints without ``--out``: one row per variant
(seeds of one variant averaged, distinct seeds counted), as a Markdown table.

The papers' layouts (Tables 1-4 in LaTeX, Markdown and the terminal) are
``reports.layout`` and its renderers; this keeps the short form the CLI always had.
"""

from __future__ import annotations

import math

import pandas as pd
from tabulate import tabulate

from benchmark.metrics import METRICS
from reports.summary import summarize_variants

GROUP = ["suite", "detector", "method_spec", "dataset", "labels", "profile", "profile_diff"]
METRIC_COLUMNS = [m.name for m in METRICS]
LABELS = {m.name: f"{m.label} ({m.unit})" for m in METRICS}


def summarize(frame: pd.DataFrame, selection: str = "last", subset: str = "all") -> pd.DataFrame:
    """Mean, std and distinct-seed count of each metric per variant (``reports.frames.tidy_frame``)."""
    if frame.empty or "variant" not in frame:
        return pd.DataFrame(columns=GROUP + ["seeds"])
    summary = summarize_variants(frame, selection, subset, intervals=False)
    if summary.empty:
        return pd.DataFrame(columns=GROUP + ["seeds"])
    from reports.naming import detector_sort_key, scheme_sort_key

    order = sorted(range(len(summary)), key=lambda i: (
        str(summary.at[i, "suite"]), detector_sort_key(summary.at[i, "detector"]),
        scheme_sort_key(summary.at[i, "method_spec"]), str(summary.at[i, "dataset"]), str(summary.at[i, "labels"])))
    keep = ["variant"] + GROUP + ["profile_changes", "protocol_version"] + METRIC_COLUMNS + [
        f"{m}_std" for m in METRIC_COLUMNS] + ["seeds"]
    return summary.iloc[order][[c for c in keep if c in summary]].reset_index(drop=True)


def _fmt(mean: float, std: float) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "-"
    if std is None or (isinstance(std, float) and math.isnan(std)):
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {std:.2f}"


def display_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """Strings for humans: 'mean ± std' per metric; suite and profile tell variants apart."""
    rows = []
    for _, r in summary.iterrows():
        changes = r.get("profile_diff") or ""
        row = {"suite": r["suite"], "detector": r["detector"], "method": r["method_spec"], "dataset": r["dataset"],
               "labels": r["labels"], "profile": r["profile"] + (f" ({changes})" if changes else "")}
        for name in METRIC_COLUMNS:
            row[LABELS[name]] = _fmt(r[name], r[f"{name}_std"])
        row["seeds"] = int(r["seeds"])
        rows.append(row)
    return pd.DataFrame(rows)


def markdown_table(summary: pd.DataFrame) -> str:
    if summary.empty:
        return "(no finished cells)"
    return tabulate(display_frame(summary), headers="keys", tablefmt="github", showindex=False)
