"""A ``Table`` as GitHub Markdown and as a terminal table (tabulate), with the same
marks and notes as the LaTeX float; plus a long CSV of every number behind it."""

from __future__ import annotations

import numpy as np
import pandas as pd
from tabulate import tabulate

from reports.formatting import HEADER, CellText, arrow, block_starts, cell_text, notes, typical_seeds
from reports.layout import FIELDS, Table
from reports.marks import FLAG, rank_marks

STYLES = {
    # renderer: (best, second, flag suffix, dagger)
    "markdown": (("**", "**"), ("<ins>", "</ins>"), " ≈", "†"),
    "terminal": (("", " *"), ("", " +"), " ~", "†"),
}


def _cell(text: CellText, mark: str, style: str) -> str:
    if text.missing:
        return "-"
    best, second, flag, _ = STYLES[style]
    body = text.mean + (f" ± {text.std}" if text.std is not None else "")
    if text.seeds is not None:
        body += f" ({text.seeds})"
    if mark.endswith(FLAG):
        return body + flag
    wrap = {"best": best, "second": second}.get(mark)
    return f"{wrap[0]}{body}{wrap[1]}" if wrap else body


def _rows(table: Table, style: str) -> tuple[list[str], list[list[str]]]:
    marks = rank_marks(table)
    typical = typical_seeds(table)
    starts = block_starts(table)
    sep = "\n" if style == "terminal" else " "
    headers = list(table.row_levels) + [
        f"{g}{sep}{HEADER[m]} {'↑' if arrow(m) else '↓'}" for g in table.groups for m in table.metrics]
    rows = []
    for i, labels in enumerate(table.rows):
        shown = [lab if (j > 0 or starts[i] or len(labels) == 1) else "" for j, lab in enumerate(labels)]
        if table.privileged[i]:
            shown[-1] += STYLES[style][3]
        rows.append(shown + [_cell(cell_text(table, i, j, typical), marks[i, j], style) for j in range(len(table.columns))])
    return headers, rows


def markdown(table: Table) -> str:
    """Caption, GitHub table, notes (``<ins>`` underlines: GitHub Markdown has no underline)."""
    headers, rows = _rows(table, "markdown")
    body = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    legend = notes(table, dagger="†", approx="≈")
    return f"**{table.caption}**\n\n{body}\n\n" + "\n".join(f"- {n}" for n in legend) + "\n"


def terminal(table: Table) -> str:
    """For the terminal: ``*`` best, ``+`` second, ``~`` flagged."""
    headers, rows = _rows(table, "terminal")
    body = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)
    legend = notes(table, dagger="†", approx="~").copy()
    legend = [n.replace("Bold: best, underlined: second", "* best, + second") for n in legend]
    return f"{table.caption}\n{body}\n" + "\n".join(f"  {n}" for n in legend)


def intervals_markdown(table: Table) -> str:
    """The same layout with each cell's 95% bootstrap interval ``[low, high]``."""
    headers = list(table.row_levels) + [f"{g} {HEADER[m]}" for g in table.groups for m in table.metrics]
    low, high = table.values["low"], table.values["high"]
    rows = []
    for i, labels in enumerate(table.rows):
        cells = [f"[{lo:.2f}, {hi:.2f}]" if np.isfinite(lo) else "-" for lo, hi in zip(low[i], high[i])]
        rows.append(list(labels) + cells)
    body = tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True)
    return f"**95% bootstrap intervals: {table.caption}**\n\n{body}\n"


def long_frame(table: Table) -> pd.DataFrame:
    """Every number of the table, one row per cell (what the tests parse tables against)."""
    records = []
    for i, labels in enumerate(table.rows):
        for j, (group, metric) in enumerate(table.columns):
            if not np.isfinite(table.values["mean"][i, j]):
                continue
            row = dict(zip(table.row_levels, labels))
            row.update(group=group, metric=metric, privileged=table.privileged[i])
            row.update({f: float(table.values[f][i, j]) for f in FIELDS})
            records.append(row)
    return pd.DataFrame(records)
