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


def _pair(r: dict) -> str:
    digits = 4 if r["metric"] == "seconds_per_target" else 2
    ours = _num(r["ours"], digits) + (f" ± {_num(r['ours_std'], digits)}" if r["seeds"] >= 2 else "")
    return f"{ours} / {_num(r['theirs'], digits)} ({r['difference']:+.{digits}f})"


def comparison_rows(comparison: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    """One row per compared cell, a column per metric: ``ours / theirs (ours − theirs)``."""
    metrics = [m for m in METRIC_ORDER if (comparison["metric"] == m).any()]
    headers = ["source", "detector", "scheme", "labels", "train → test", "selection"] + [LABELS[m] for m in metrics] + [
        "protocol differences"]
    rows = []
    groups: dict[tuple, list[dict]] = {}
    for r in comparison.to_dict("records"):
        groups.setdefault(tuple(r[k] for k in IDENTITY), []).append(r)
    for key, group in groups.items():
        ident = dict(zip(IDENTITY, key))
        by_metric = {r["metric"]: _pair(r) for r in group}
        named = list(dict.fromkeys(d for r in group for d in r["differences"].split("; ") if d))
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
    """One row per number (ours, theirs, the difference) under its cell's identity, and
    the cell's protocol differences on a full-width line after them."""
    headers = ["source", "detector", "scheme", "train $\\to$ test", "metric", "ours", "theirs", "$\\Delta$"]
    lines = [r"{\scriptsize", r"\begin{longtable}{>{\raggedright\arraybackslash}p{3.2cm}l>{\raggedright\arraybackslash}p{3.2cm}llrrr}",
             r"\caption{Ours against the published numbers ($\Delta$: ours $-$ theirs); under each cell, the protocol "
             r"differences.}\\", r"\toprule", " & ".join(headers) + r" \\", r"\midrule", r"\endhead",
             r"\bottomrule", r"\endfoot"]
    groups: dict[tuple, list[dict]] = {}
    for r in comparison.to_dict("records"):
        groups.setdefault(tuple(r[k] for k in IDENTITY), []).append(r)
    for rows in groups.values():
        first = rows[0]
        at = f", {first['selection']} epoch" if first["selection"] in ("last", "best") else ""  # the two "ours" of one cell
        head = [first["source"].replace("_", " "), first["detector"] or "-", scheme_name(first["scheme"])
                + f" ({first['labels']})", f"{first['train']} → {first['test']}{at}"]
        for i, r in enumerate(rows):
            digits = 4 if r["metric"] == "seconds_per_target" else 2
            ours = _num(r["ours"], digits) + (f" ± {_num(r['ours_std'], digits)}" if r["seeds"] >= 2 else "")
            cells = (head if i == 0 else [""] * 4) + [LABELS[r["metric"]], ours, _num(r["theirs"], digits),
                                                      f"{r['difference']:+.{digits}f}"]
            lines.append(" & ".join(escape(c) for c in cells) + r" \\")
        named = list(dict.fromkeys(d for r in rows for d in r["differences"].split("; ") if d))
        lines.append(r"\multicolumn{8}{p{13cm}}{\quad\emph{" + escape("; ".join(named) or "no difference named")
                     + r"}} \\[2pt]")
    lines += [r"\end{longtable}", "}", ""]
    return "\n".join(lines)


def paired_markdown(paired: pd.DataFrame, pair: tuple[str, str] | None = None) -> str:
    if paired.empty:
        if pair:
            return f"No detector x dataset x labels block has records of both {pair[0]} and {pair[1]}.\n"
        return "No block has two point-supervised schemes to compare.\n"
    headers = ["suite", "detector", "dataset", "labels", "A", "B", "metric", "P(A better)", "A − B", "95% interval",
               "seeds", "images", "resampled"]
    rows = [[r["suite"], r["detector"], r["dataset"], r["labels"], scheme_name(r["a"]), scheme_name(r["b"]),
             LABELS[r["metric"]], _num(r["p_a_better"], 3), f"{r['difference']:+.2f}",
             f"[{_num(r['low'])}, {_num(r['high'])}]", str(r["seeds"]), str(r["images"] or "-"), r["resampled"]]
            for r in paired.to_dict("records")]
    return ("**Paired comparisons**: probability that A beats B on the same seeds and test images (bootstrap; "
            "Fa: lower is better). With one seed and no per-image counts there is nothing to resample.\n\n"
            + tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True) + "\n")
