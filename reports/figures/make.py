"""Every figure of a report: per suite x training dataset the per-epoch curves; per suite
the Pd-Fa curves (records with a threshold sweep) and the seed spread; an ablation figure per scheme with
option variants; ours against the published numbers; qualitative grids where records
saved PNGs. Returns (caption, PNG path) pairs for the index."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence
import pandas as pd

from benchmark.evidence import predictions_dir, read_manifest
from reports.figures.ablation import ablation_figure
from reports.figures.curves import curves_figure
from reports.figures.pdfa import pdfa_figure
from reports.figures.published import published_figure
from reports.figures.qualitative import qualitative_figure
from reports.figures.source import WindowSource
from reports.figures.seeds import seeds_figure
from reports.figures.style import apply_style
from reports.frames import Frames, done
from reports.layout import ablation_groups
from reports.naming import dataset_sort_key, ordered, scheme_name, slug

MAX_QUALITATIVE = 4  # grids per report (one per suite x dataset x detector that saved PNGs)


def _slug(*parts: str) -> str:
    return slug("-".join(parts))


def _per_suite(frames: Frames, folder: Path, selection: str, suite: str) -> list[tuple[str, Path]]:
    """Curves for each training dataset of a suite; Pd-Fa and seed spread for all of them."""
    out = []
    history = frames.history
    if not history.empty:
        mine = history[history["suite"] == suite]
        for dataset in ordered(mine["dataset"], dataset_sort_key):
            where = f"suite {suite}, {dataset}"
            part = mine[mine["dataset"] == dataset]
            out.append((f"Per-epoch curves, {where}", curves_figure(part, folder, _slug("curves", suite, dataset), where)[0]))
    sweeps = frames.sweeps
    if not sweeps.empty and (sweeps["suite"] == suite).any():
        part = sweeps[sweeps["suite"] == suite]
        out.append((f"Pd-Fa curves, suite {suite}", pdfa_figure(part, folder, _slug("pdfa", suite), f"suite {suite}")[0]))
    rows = done(frames.tidy, selection, "all")
    rows = rows[rows["suite"] == suite]
    if not rows.empty:
        out.append((f"Seed spread of IoU, suite {suite}", seeds_figure(rows, folder, _slug("seeds", suite), f"suite {suite}")[0]))
    return out


def _ablations(frames: Frames, folder: Path, selection: str) -> list[tuple[str, Path]]:
    out = []
    rows = done(frames.tidy, selection, "all")
    for suite, part in rows.groupby("suite", sort=True):
        for (detector, dataset, labels, method), group in ablation_groups(part).items():
            title = f"Ablation of {scheme_name(method)}, {detector}, {dataset}, {labels} (suite {suite})"
            name = _slug("ablation", suite, method, detector, dataset, labels)
            out.append((title, ablation_figure(group, folder, name, title, method)[0]))
    return out


def _manifest(roots: list[Path], suite: str, key: str) -> tuple[Path, list[dict]] | None:
    """The PNG folder and entries of one record, in the first results folder that has them."""
    for root in roots:
        entries = read_manifest(root / suite, key)
        if entries:
            return predictions_dir(root / suite, key), entries
    return None


def _qualitative(frames: Frames, folder: Path, selection: str, roots: list[Path],
                 data_root: Path | None = None) -> list[tuple[str, Path]]:
    rows = done(frames.tidy, selection, "all").sort_values(["suite", "dataset", "detector", "seed"], kind="stable")
    first = rows.drop_duplicates(["suite", "dataset", "detector", "method_spec"])  # each scheme's lowest seed
    blocks: dict[tuple, dict[str, str]] = {}
    for suite, dataset, detector, spec, key in first[["suite", "dataset", "detector", "method_spec", "key"]].itertuples(
            index=False):
        blocks.setdefault((suite, dataset, detector), {})[spec] = key
    out = []
    for (suite, dataset, detector), keys in blocks.items():
        manifests = {spec: found for spec, key in keys.items() if (found := _manifest(roots, suite, key))}
        if not manifests:
            continue
        title = f"{detector}, {dataset} (suite {suite})"
        paths = qualitative_figure(manifests, folder, _slug("qualitative", suite, dataset, detector), title,
                                   WindowSource(data_root, dataset))
        if paths:
            out.append((f"Qualitative grid, {title}", paths[0]))
        if len(out) >= MAX_QUALITATIVE:
            break
    return out


def make_figures(frames: Frames, folder: Path, selection: str, results_root: Path | Sequence[Path] | None,
                 comparison: pd.DataFrame, data_root: Path | None = None) -> list[tuple[str, Path]]:
    """``results_root``: the results folder(s) the records came from (their PNGs lie there);
    ``data_root``: the datasets, for the qualitative grids' image and ground-truth columns."""
    roots = [] if results_root is None else [Path(results_root)] if isinstance(results_root, (str, Path)) else [
        Path(r) for r in results_root]
    apply_style()
    out: list[tuple[str, Path]] = []
    tidy = frames.tidy
    if not tidy.empty:
        for suite in sorted(set(tidy["suite"].dropna())):
            out += _per_suite(frames, folder, selection, suite)
        out += _ablations(frames, folder, selection)
        out += _qualitative(frames, folder, selection, roots, data_root)
    if not comparison.empty:
        out.append(("Ours against the published numbers", published_figure(comparison, folder, "published-comparison")[0]))
    return out
