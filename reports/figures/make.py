"""Every figure of a report: per suite x dataset the per-epoch curves, the Pd-Fa curves
(records with a threshold sweep) and the seed spread; an ablation figure per scheme with
option variants; ours against the published numbers; qualitative grids where records
saved PNGs. Returns (caption, PNG path) pairs for the index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.evidence import read_manifest
from reports.figures.ablation import ablation_figure
from reports.figures.curves import curves_figure
from reports.figures.pdfa import pdfa_figure
from reports.figures.published import published_figure
from reports.figures.qualitative import qualitative_figure
from reports.figures.seeds import seeds_figure
from reports.figures.style import apply_style
from reports.frames import done
from reports.layout import ablation_groups
from reports.naming import scheme_name

MAX_QUALITATIVE = 4  # grids per report (one per suite x dataset x detector that saved PNGs)


def _slug(*parts: str) -> str:
    from reports.build import slug

    return slug("-".join(parts))


def _per_dataset(frames: Any, folder: Path, selection: str, suite: str, dataset: str) -> list[tuple[str, Path]]:
    out = []
    where = f"suite {suite}, {dataset}"
    history = frames.history
    if not history.empty:
        part = history[(history["suite"] == suite) & (history["dataset"] == dataset)]
        if not part.empty:
            out.append((f"Per-epoch curves, {where}", curves_figure(part, folder, _slug("curves", suite, dataset), where)[0]))
    sweeps = frames.sweeps
    if not sweeps.empty:
        part = sweeps[(sweeps["suite"] == suite) & (sweeps["dataset"] == dataset)]
        if not part.empty:
            out.append((f"Pd-Fa curves, {where}", pdfa_figure(part, folder, _slug("pdfa", suite, dataset), where)[0]))
    rows = done(frames.tidy, selection, "all")
    rows = rows[(rows["suite"] == suite) & (rows["dataset"] == dataset)]
    if not rows.empty:
        out.append((f"Seed spread of IoU, {where}", seeds_figure(rows, folder, _slug("seeds", suite, dataset), where)[0]))
    return out


def _ablations(frames: Any, folder: Path, selection: str) -> list[tuple[str, Path]]:
    out = []
    rows = done(frames.tidy, selection, "all")
    for suite, part in rows.groupby("suite", sort=True):
        for (detector, dataset, labels, method), group in ablation_groups(part).items():
            title = f"Ablation of {scheme_name(method)}, {detector}, {dataset}, {labels} (suite {suite})"
            name = _slug("ablation", suite, method, detector, dataset, labels)
            out.append((title, ablation_figure(group, folder, name, title, method)[0]))
    return out


def _qualitative(frames: Any, folder: Path, selection: str, results_root: Path | None) -> list[tuple[str, Path]]:
    if results_root is None:
        return []
    rows = done(frames.tidy, selection, "all").sort_values("seed")
    out = []
    for (suite, dataset, detector), part in rows.groupby(["suite", "dataset", "detector"], sort=True):
        manifests = {}
        for spec, group in part.groupby("method_spec", sort=False):
            key = group.iloc[0]["key"]
            entries = read_manifest(Path(results_root) / suite, key)
            if entries:
                manifests[spec] = (Path(results_root) / suite / f"{key}.pngs", entries)
        if not manifests:
            continue
        title = f"{detector}, {dataset} (suite {suite})"
        paths = qualitative_figure(manifests, folder, _slug("qualitative", suite, dataset, detector), title)
        if paths:
            out.append((f"Qualitative grid, {title}", paths[0]))
        if len(out) >= MAX_QUALITATIVE:
            break
    return out


def make_figures(frames: Any, folder: Path, selection: str, results_root: Path | None,
                 comparison: pd.DataFrame) -> list[tuple[str, Path]]:
    apply_style()
    out: list[tuple[str, Path]] = []
    tidy = frames.tidy
    if not tidy.empty:
        pairs = tidy[["suite", "dataset"]].dropna().drop_duplicates().sort_values(["suite", "dataset"])
        for suite, dataset in pairs.itertuples(index=False):
            out += _per_dataset(frames, folder, selection, suite, dataset)
        out += _ablations(frames, folder, selection)
        out += _qualitative(frames, folder, selection, results_root)
    if not comparison.empty:
        out.append(("Ours against the published numbers", published_figure(comparison, folder, "published-comparison")[0]))
    return out
