"""Best and second per column among the point-supervised rows, direction-aware, with the
statistics the field's habit skips: a rank whose lead over the next rank is smaller than
its own 95% interval is flagged, not bolded or underlined.

Rule, per column of each block (a detector's rows in Table 1; the whole table
otherwise): rank the means of the non-privileged rows (dense ranks, so tied means
share a rank; Fa and seconds rank lower-first). Rank-1 rows are ``best`` and rank-2 rows
``second``, each unless the next rank's mean lies inside the row's interval: then the
row is ``best~``/``second~`` (shown with a flag). Without an interval (one seed and no
per-image counts) the marks follow the means alone, as papers do. A column with fewer
than two ranked values is not marked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from reports.layout import Table
from reports.naming import HIGHER_IS_BETTER

BEST, SECOND = "best", "second"
FLAG = "~"


def _column_marks(mean: pd.Series, low: pd.Series, high: pd.Series, eligible: np.ndarray, higher: bool) -> list[str]:
    marks = [""] * len(mean)
    ranked = mean[eligible].dropna()
    if len(ranked) < 2:
        return marks
    ranks = ranked.rank(ascending=not higher, method="dense")
    level_values = {int(r): ranked[ranks == r].iloc[0] for r in sorted(set(ranks))}
    for i, r in ranks.items():
        if r > 2:
            continue
        mark = BEST if r == 1 else SECOND
        nxt = level_values.get(int(r) + 1)
        lo, hi = low.loc[i], high.loc[i]
        if nxt is not None and np.isfinite(lo) and np.isfinite(hi) and lo <= nxt <= hi:
            mark += FLAG
        marks[mean.index.get_loc(i)] = mark
    return marks


def rank_marks(table: Table) -> pd.DataFrame:
    """"best", "second", "best~", "second~" or "" for every cell of the table; schemes
    compete within a block (one detector of a Table 1), as in the papers."""
    mean, low, high = table.values["mean"], table.values["low"], table.values["high"]
    out = pd.DataFrame("", index=mean.index, columns=mean.columns)
    blocks = np.asarray(table.blocks)
    for block in dict.fromkeys(table.blocks):
        rows = mean.index[blocks == block]
        eligible = ~np.asarray(table.privileged, dtype=bool)[blocks == block]
        for column in mean.columns:
            higher = HIGHER_IS_BETTER[column[1]]
            marks = _column_marks(mean.loc[rows, column], low.loc[rows, column], high.loc[rows, column], eligible, higher)
            out.loc[rows, column] = marks
    return out
