"""What every renderer of a ``Table`` shares: numbers as text, the seed count that
needs no note, and the notes under a table."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from reports.layout import Table
from reports.naming import HIGHER_IS_BETTER, METRIC_LABELS

DECIMALS = {"seconds_per_target": 4}
HEADER = {**METRIC_LABELS, "seconds_per_target": "s/target"}
SELECTIONS = {"last": "last epoch", "best": "best test IoU over evaluated epochs (as PAL and D2D select)"}


def number(value: float, metric: str) -> str:
    return f"{value:.{DECIMALS.get(metric, 2)}f}"


def typical_seeds(table: Table) -> int | None:
    """The most common seed count over filled cells (cells with another count get a note)."""
    counts = Counter(int(v) for v in table.values["seeds"].ravel() if np.isfinite(v))
    return counts.most_common(1)[0][0] if counts else None


@dataclass(frozen=True)
class CellText:
    """A table cell as parts: ``mean`` and ``std`` (None: not shown), ``seeds`` (None:
    the typical count, no note), or ``missing`` for a dash."""

    missing: bool
    mean: str = ""
    std: str | None = None
    seeds: int | None = None


def cell_text(table: Table, row: int, j: int, typical: int | None) -> CellText:
    """Cell ``row`` x column index ``j``."""
    mean = table.values["mean"][row, j]
    if not np.isfinite(mean):
        return CellText(True)
    std, seeds, metric = table.values["std"][row, j], int(table.values["seeds"][row, j]), table.metrics[j % len(table.metrics)]
    shown_std = number(std, metric) if seeds >= 2 and np.isfinite(std) else None
    return CellText(False, number(mean, metric), shown_std, seeds if seeds != typical else None)


def arrow(metric: str) -> bool:
    return HIGHER_IS_BETTER[metric]


def notes(table: Table, dagger: str, approx: str) -> list[str]:
    """Sentences under a table; symbols passed in their renderer's markup."""
    typical = typical_seeds(table)
    out = []
    if typical is not None:
        seeds = "one seed (no std)" if typical == 1 else f"{typical} seeds"
        other = " A superscript (k) marks a cell averaged over k seeds." if _has_other_counts(table, typical) else ""
        out.append(f"Mean ± std over {seeds}; a dash: no record.{other}")
    if table.selection in SELECTIONS:
        out.append(f"Model selection: {SELECTIONS[table.selection]}.")
    if any(table.privileged):
        out.append(f"{dagger} privileged: uses the full masks of the training images; not ranked.")
    lower = [HEADER[m] for m in table.metrics if not HIGHER_IS_BETTER[m]]
    ranked = "Bold: best, underlined: second among the point-supervised rows of each column"
    out.append(ranked + (f" ({', '.join(lower)}: lower is better)." if lower else "."))
    kinds = sorted(k for k in table.intervals if k != "none")
    if kinds:
        out.append(f"{approx}: the lead over the next rank lies inside the row's 95% bootstrap interval "
                   f"(resampled over {' / '.join(kinds)}), so it is flagged, not marked.")
    else:
        out.append("No intervals (one seed, no per-image counts): marks follow the means alone.")
    return out + list(table.notes)


def _has_other_counts(table: Table, typical: int) -> bool:
    seeds = table.values["seeds"].ravel()
    return any(np.isfinite(v) and int(v) != typical for v in seeds)


def block_starts(table: Table) -> list[bool]:
    """Whether each row opens a new block (its first label is then shown)."""
    return [i == 0 or table.blocks[i] != table.blocks[i - 1] for i in range(len(table.rows))]
