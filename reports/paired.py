"""Paired comparisons: the probability that scheme A beats scheme B on the same seeds and
the same test images (``stats.paired_comparison``), per detector x dataset x labels.

A pair is chosen by the user (``--compare A,B``, method specs) or, by default, the two
best point-supervised schemes by mean IoU in each block.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from benchmark.cells import format_spec, parse_spec
from benchmark.metrics import METRIC_NAMES
from reports import stats
from reports.frames import ImageCounts

BLOCK = ["suite", "detector", "dataset", "labels", "profile", "profile_changes"]


def _aligned(a: pd.DataFrame, b: pd.DataFrame, counts: Mapping[str, ImageCounts], subset: str):
    """Per-image counts (S, N, F) of A and B on their common seeds, or per-seed values."""
    seeds = sorted(set(a["seed"]) & set(b["seed"]))
    a = a.set_index("seed").loc[seeds]
    b = b.set_index("seed").loc[seeds]
    found = [counts.get(k) for k in list(a["key"]) + list(b["key"])]
    same_images = a["test_fingerprint"].nunique() == 1 and set(a["test_fingerprint"]) == set(b["test_fingerprint"])
    if seeds and same_images and all(c is not None for c in found):
        arrays = [c.only(subset).counts for c in found]
        if len({x.shape for x in arrays}) == 1:
            return seeds, np.stack(arrays[: len(seeds)]), np.stack(arrays[len(seeds):])
    return seeds, None, (a, b)


def compare_pair(rows: pd.DataFrame, spec_a: str, spec_b: str, counts: Mapping[str, ImageCounts],
                 subset: str = "all") -> list[dict]:
    """One row per metric: P(A better), mean difference and its 95% interval."""
    a, b = rows[rows["method_spec"] == spec_a], rows[rows["method_spec"] == spec_b]
    if a.empty or b.empty:
        return []
    seeds, ca, cb = _aligned(a, b, counts, subset)
    block = dict(zip(BLOCK, rows[BLOCK].iloc[0]))
    rng = stats.rng_for("paired", spec_a, spec_b, *block.values())
    metrics = list(METRIC_NAMES)
    if ca is not None:
        results = stats.paired_comparisons(metrics, ca, cb, rng)
    else:
        values = [{m: side[m].to_numpy(float) for m in metrics} for side in cb]
        results = stats.paired_comparisons(metrics, values[0], values[1], rng)
    return [{**block, "a": spec_a, "b": spec_b, "metric": m, "p_a_better": r.probability, "difference": r.difference,
             "low": r.low, "high": r.high, "seeds": r.seeds, "images": r.images, "resampled": r.method}
            for m, r in results.items()]


def default_pair(rows: pd.DataFrame) -> tuple[str, str] | None:
    """The two best point-supervised schemes by mean IoU in a block."""
    ranked = rows[~rows["privileged"]].groupby("method_spec")["iou"].mean().sort_values(ascending=False)
    return (ranked.index[0], ranked.index[1]) if len(ranked) >= 2 else None


def canonical(spec: str) -> str:
    """One spelling per spec (``lesps[start=epoch:1,f=1]`` == ``lesps[f=1,start=epoch:1]``)."""
    return format_spec(*parse_spec(spec))


def paired_frame(tidy: pd.DataFrame, counts: Mapping[str, ImageCounts], selection: str,
                 pair: Sequence[str] | None = None) -> pd.DataFrame:
    wanted = (tidy["status"] == "done") & (tidy["selection"] == selection) & (tidy["subset"] == "all")
    columns = BLOCK + ["method_spec", "privileged", "seed", "key", "test_fingerprint", *METRIC_NAMES]
    rows = tidy.loc[wanted, columns]
    rows = rows.assign(method_spec=rows["method_spec"].map(canonical))
    pair = tuple(canonical(p) for p in pair) if pair else None
    out: list[dict] = []
    for _, block in rows.groupby(BLOCK, sort=True):
        chosen = tuple(pair) if pair else default_pair(block)
        if chosen:
            out += compare_pair(block, chosen[0], chosen[1], counts)
    return pd.DataFrame(out)
