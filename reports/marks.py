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

from reports.layout import Table
from reports.naming import HIGHER_IS_BETTER

BEST, SECOND = "best", "second"
FLAG = "~"


def _column_marks(mean: np.ndarray, low: np.ndarray, high: np.ndarray, eligible: np.ndarray, higher: bool) -> list[str]:
    marks = [""] * len(mean)
    ranked = np.flatnonzero(eligible & np.isfinite(mean))
    if len(ranked) < 2:
        return marks
    levels = np.unique(mean[ranked])[::-1] if higher else np.unique(mean[ranked])  # best level first
    for i in ranked:
        rank = int(np.flatnonzero(levels == mean[i])[0])
        if rank > 1:
            continue
        mark = BEST if rank == 0 else SECOND
        nxt = levels[rank + 1] if rank + 1 < len(levels) else None
        if nxt is not None and np.isfinite(low[i]) and np.isfinite(high[i]) and low[i] <= nxt <= high[i]:
            mark += FLAG
        marks[i] = mark
    return marks


def rank_marks(table: Table) -> np.ndarray:
    """"best", "second", "best~", "second~" or "" for every cell (rows x columns); schemes
    compete within a block (one detector of a Table 1), as in the papers."""
    mean, low, high = table.values["mean"], table.values["low"], table.values["high"]
    out = np.full(mean.shape, "", dtype=object)
    blocks = np.asarray(table.blocks)
    privileged = np.asarray(table.privileged, dtype=bool)
    for block in dict.fromkeys(table.blocks):
        rows = np.flatnonzero(blocks == block)
        for j, (_, metric) in enumerate(table.columns):
            out[rows, j] = _column_marks(mean[rows, j], low[rows, j], high[rows, j], ~privileged[rows],
                                         HIGHER_IS_BETTER[metric])
    return out
