"""Seeds of one variant averaged, nothing else: mean, std, distinct-seed count and a
95% bootstrap interval per variant x subset x metric."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from benchmark.metrics import METRIC_NAMES
from reports import stats
from reports.frames import ImageCounts, done

IDENTITY = ["variant", "suite", "detector", "method", "method_spec", "options", "dataset", "labels", "profile",
            "profile_changes", "protocol_version", "max_test_images", "privileged", "caveats"]  # those present
METRICS = list(METRIC_NAMES)


def _group_counts(group: pd.DataFrame, counts: Mapping[str, ImageCounts], subset: str) -> np.ndarray | None:
    """(S, N, F) per-image counts of a group's seeds, when every seed kept them for the
    same test images; otherwise None (seed-only bootstrap)."""
    if group["test_fingerprint"].nunique(dropna=False) != 1:
        return None
    found = [counts.get(k) for k in group["key"]]  # rows come sorted by seed (``_intervals``)
    if any(c is None for c in found):
        return None
    arrays = [c.only(subset).counts for c in found]
    if len({a.shape for a in arrays}) != 1 or arrays[0].shape[0] < 2:
        return None
    return np.stack(arrays)


def _aggregate(rows: pd.DataFrame) -> pd.DataFrame:
    grouped = rows.groupby(["variant", "subset"], sort=False)
    identity = grouped[[c for c in IDENTITY if c not in ("variant", "suite") and c in rows]].first()
    identity["suite"] = grouped["suite"].agg(lambda s: ", ".join(sorted(set(map(str, s)))))  # every suite holding it
    mean = grouped[METRICS].mean()
    std = grouped[METRICS].std(ddof=1).add_suffix("_std")
    out = identity.join(mean).join(std)
    out["seeds"] = grouped["seed"].nunique()
    out["seed_list"] = grouped["seed"].agg(lambda s: ",".join(str(v) for v in sorted(set(s))))
    out["images"] = grouped["images"].max() if "images" in rows else np.nan
    out["keys"] = grouped["key"].agg(list)
    return out.reset_index()


def _intervals(out: pd.DataFrame, rows: pd.DataFrame, counts: Mapping[str, ImageCounts], rng) -> pd.DataFrame:
    rows = rows.sort_values("seed", kind="stable")  # once, not per group
    groups = {name: g for name, g in rows.groupby(["variant", "subset"], sort=False)}
    crossed, crossed_at, seed_only_at = [], [], []
    for i, (variant, subset) in enumerate(zip(out["variant"], out["subset"])):
        array = _group_counts(groups[(variant, subset)], counts, subset)
        if array is not None:
            crossed.append(array)
            crossed_at.append(i)
        else:
            seed_only_at.append(i)
    lows = {m: np.full(len(out), np.nan) for m in METRICS}
    highs = {m: np.full(len(out), np.nan) for m in METRICS}
    how = np.array(["none"] * len(out), dtype=object)
    for i, found in zip(crossed_at, stats.crossed_intervals(crossed, METRICS, rng)):
        for m in METRICS:
            lows[m][i], highs[m][i], how[i] = found[m].low, found[m].high, found[m].method
    for m in METRICS:
        values = [groups[(out.at[i, "variant"], out.at[i, "subset"])][m].tolist() for i in seed_only_at]
        for i, found in zip(seed_only_at, stats.seed_intervals(values, rng)):
            lows[m][i], highs[m][i] = found.low, found.high
            if found.method != "none":
                how[i] = found.method
    for m in METRICS:
        out[f"{m}_lo"], out[f"{m}_hi"] = lows[m], highs[m]
    out["interval"] = how
    return out


def summarize_variants(
    tidy: pd.DataFrame, selection: str = "last", subset: str | None = "all",
    counts: Mapping[str, ImageCounts] | None = None, intervals: bool = True,
) -> pd.DataFrame:
    """One row per variant x subset: identity, ``<metric>``, ``<metric>_std`` (NaN for
    one seed), ``seeds`` (distinct), ``<metric>_lo``/``_hi`` (95% bootstrap interval),
    ``interval`` (how it was resampled)."""
    keep = [c for c in IDENTITY + METRICS + ["subset", "seed", "key", "test_fingerprint", "images", "status", "selection"]
            if c in tidy]
    rows = done(tidy[keep], selection, subset)  # only the columns a summary reads: filtering copies every column
    if rows.empty:
        return pd.DataFrame(columns=IDENTITY + ["subset", "seeds"] + METRICS)
    rows = rows.drop_duplicates(["variant", "seed", "subset"], keep="last")  # one run kept by two suites counts once
    out = _aggregate(rows)
    if intervals:
        out = _intervals(out, rows, counts or {}, stats.rng_for("summary", selection, subset))
    return out
