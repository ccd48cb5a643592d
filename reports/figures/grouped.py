"""Per-group numpy slices of one sorted ``groupby`` result: a figure indexes its grouped
statistics once by position instead of a pandas frame per panel and series (that
indexing cost more than drawing the panels)."""

from __future__ import annotations

from typing import Iterator, Sequence

import pandas as pd


def runs(index: pd.MultiIndex, levels: int) -> Iterator[tuple[tuple, slice]]:
    """(key of the first ``levels`` levels, its rows) for each consecutive run of ``index``
    (sorted, as ``groupby(sort=True)`` leaves it)."""
    keys: Sequence[tuple] = list(zip(*(index.get_level_values(i) for i in range(levels))))
    start = 0
    for i in range(1, len(keys) + 1):
        if i == len(keys) or keys[i] != keys[start]:
            yield keys[start], slice(start, i)
            start = i
