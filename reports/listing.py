"""Long tables that are lists rather than grids: the published comparison and the paired
comparisons, as Markdown and as a booktabs ``longtable`` (it breaks across pages)."""

from __future__ import annotations

import math

import pandas as pd
from tabulate import tabulate

from reports.latex import escape
from reports.naming import METRIC_LABELS, scheme_name

LABELS = {**METRIC_LABELS, "seconds_per_target": "s/target"}


def _num(value: float, digits: int = 2) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


IDENTITY = ["source", "detector", "scheme", "labels", "train", "test", "selection"]
METRIC_ORDER = ["iou", "niou", "pd", "fa", "seconds_per_target"]


def _pair(r: pd.Series) -> str:
    digits = 4 if r["metric"] == "seconds_per_target" else 2
    ours = _num(r["ours"], digits) + (f" ± {_num(r['ours_std'], digits)}" if r["seeds"] >= 2 else "")
    return f"{ours} / {_num(r['theirs'], digits)} ({r['difference']:+.{digits}f})"


def comparison_rows(comparison: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """One row per compared cell, a column per metric: ``ours / theirs (ours − theirs)``."""
    metrics = [m for m in METRIC_ORDER if (comparison["metric"] == m).any()]
    headers = ["source", "detector", "scheme", "labels", "train → test", "selection"] + [LABELS[m] for m in metrics] + [
        "protocol differences"]
    rows = []
    for key, group in comparison.groupby(IDENTITY, sort=False):
        ident = dict(zip(IDENTITY, key))
        by_metric = {r["metric"]: _pair(r) for _, r in group.iterrows()}
        named = list(dict.fromkeys(d for text in group["differences"] for d in text.split("; ") if d))
        rows.append([ident["source"], ident["detector"] or "-", scheme_name(ident["scheme"]), ident["labels"],
                     f"{ident['train']} → {ident['test']}", ident["selection"]]
                    + [by_metric.get(m, "-") for m in metrics] + ["; ".join(named) or "none"])
    return headers, rows


def comparison_markdown(comparison: pd.DataFrame) -> str:
    if comparison.empty:
        return "No cell of these records has a published number (published tables use the real datasets).\n"
    headers, rows = comparison_rows(comparison)
    caveats = comparison.drop_duplicates("source")[["source", "caveat"]]
    notes = "\n".join(f"- `{s}`: {c}" for s, c in zip(caveats["source"], caveats["caveat"]))
    return (f"**Ours against the published numbers** ({len(comparison)} numbers in {len(rows)} cells; each metric as "
            "ours / theirs (ours − theirs))\n\n"
            + tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True) + "\n\nSources:\n" + notes + "\n")


def comparison_latex(comparison: pd.DataFrame) -> str:
    headers, rows = comparison_rows(comparison)
    n_metrics = len(headers) - 7
    spec = r"p{2.6cm}lp{2.2cm}l" + "l" * (1 + n_metrics) + r">{\raggedright\arraybackslash}p{5cm}"
    keep = [0, 1, 2, 3, 4] + list(range(6, len(headers)))  # selection: named among the differences where it differs
    head = " & ".join(escape(headers[i]) for i in keep)
    lines = [r"{\scriptsize", rf"\begin{{longtable}}{{{spec}}}",
             r"\caption{Ours against the published numbers: each metric as ours / theirs (ours $-$ theirs); the "
             r"protocol differences are named.}\\",
             r"\toprule", head + r" \\", r"\midrule", r"\endhead", r"\bottomrule", r"\endfoot"]
    for row in rows:
        cells = [escape(row[i].replace("_", " ") if i == 0 else row[i]) for i in keep]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\end{longtable}", "}", ""]
    return "\n".join(lines)


def paired_markdown(paired: pd.DataFrame) -> str:
    if paired.empty:
        return "No block has two point-supervised schemes to compare.\n"
    headers = ["suite", "detector", "dataset", "labels", "A", "B", "metric", "P(A better)", "A − B", "95% interval",
               "seeds", "images", "resampled"]
    rows = [[r["suite"], r["detector"], r["dataset"], r["labels"], scheme_name(r["a"]), scheme_name(r["b"]),
             LABELS[r["metric"]], _num(r["p_a_better"], 3), f"{r['difference']:+.2f}",
             f"[{_num(r['low'])}, {_num(r['high'])}]", str(r["seeds"]), str(r["images"] or "-"), r["resampled"]]
            for _, r in paired.iterrows()]
    return ("**Paired comparisons**: probability that A beats B on the same seeds and test images (bootstrap; "
            "Fa: lower is better). With one seed and no per-image counts there is nothing to resample.\n\n"
            + tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True) + "\n")
