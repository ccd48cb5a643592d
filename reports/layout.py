"""The tables of the Diffuse to Detect paper as data: rows, column groups x metrics, and
for every cell its mean, std, seed count and interval. Renderers (LaTeX, Markdown,
terminal) only format a ``Table``; ranks come from ``reports.marks``.

- Table 1/2 layout (``comparison_table``): detector blocks, schemes as rows, test sets x
  IoU/nIoU/Pd/Fa as columns (SIRST3-trained models under SIRST3 and its parts; models
  trained on each dataset alone under that dataset);
- Table 3 (``ablation_tables``): the variants of one scheme, with naive points as floor;
- Table 4 (``label_table``): pseudo-label IoU and seconds per target per method x
  dataset x label type.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from reports.naming import (column_label, dataset_sort_key, detector_sort_key, scheme_name, scheme_sort_key)

FIELDS = ("mean", "std", "seeds", "low", "high")
MAIN_METRICS = ["iou", "niou", "pd", "fa"]
LABEL_METRICS = ["iou", "seconds_per_target"]
ROW_FIELDS = ["detector", "method_spec", "labels", "profile", "profile_changes"]


@dataclass
class Table:
    name: str  # file stem
    caption: str
    row_levels: list[str]  # header of the label columns, e.g. ["Detector", "Scheme"]
    rows: list[tuple[str, ...]]  # plain-text labels of each row, one per level
    groups: list[str]  # column groups (test sets; dataset x label type)
    metrics: list[str]  # metrics inside every group
    values: dict[str, np.ndarray]  # FIELDS -> (rows, columns) array; columns: groups x metrics, group-major
    privileged: list[bool]
    blocks: list[int]  # block of each row (a rule between blocks)
    selection: str = "last"
    notes: list[str] = field(default_factory=list)
    intervals: set[str] = field(default_factory=set)  # how the intervals were resampled

    @property
    def columns(self) -> list[tuple[str, str]]:
        return [(g, m) for g in self.groups for m in self.metrics]

    def col(self, group: str, metric: str) -> int:
        return self.groups.index(group) * len(self.metrics) + self.metrics.index(metric)

    def frame(self, field: str = "mean") -> pd.DataFrame:
        """One field as a frame (rows x MultiIndex columns), for reading and tests."""
        return pd.DataFrame(self.values[field], columns=pd.MultiIndex.from_tuples(self.columns))


def _frames(n_rows: int, n_columns: int) -> dict[str, np.ndarray]:
    return {f: np.full((n_rows, n_columns), np.nan) for f in FIELDS}


def _column_groups(summary: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(dataset, subset) -> column label, pooled set first, labels made unique."""
    pairs = sorted({(d, s) for d, s in zip(summary["dataset"], summary["subset"])},
                   key=lambda p: (dataset_sort_key(p[0]), p[1] != "all", dataset_sort_key(p[1])))
    labels = {p: column_label(*p) for p in pairs}
    clashes = {lab for lab in labels.values() if list(labels.values()).count(lab) > 1}
    return {p: (f"{lab} ({p[0]}-trained)" if lab in clashes and p[1] != "all" else lab) for p, lab in labels.items()}


def _row_keys(summary: pd.DataFrame, columns: dict[tuple[str, str], str]) -> list[tuple]:
    """Row identity of each summary row: what defines it apart from the dataset; two
    variants that would share a cell (they differ elsewhere) get the variant key too."""
    records = summary.to_dict("records")
    keys = [tuple(r[f] for f in ROW_FIELDS) for r in records]
    cells = [(k, columns[(r["dataset"], r["subset"])]) for k, r in zip(keys, records)]
    variants: dict[tuple, set] = {}
    for cell, v in zip(cells, summary["variant"]):
        variants.setdefault(cell, set()).add(v)
    return [k + ((v,) if len(variants[c]) > 1 else ("",)) for k, c, v in zip(keys, cells, summary["variant"])]


def _items(changes: str | None) -> frozenset[str]:
    """``profile_changes`` ("epochs=50, target_prior=0.01") as a set of "k=v" items."""
    return frozenset(i.strip() for i in str(changes or "").split(", ") if i.strip())  # lists keep their commas


def _common(keys: list[tuple]) -> frozenset[str]:
    return frozenset.intersection(*(_items(k[4]) for k in keys)) if keys else frozenset()


def _labels(order: list[tuple], by_detector: bool, show_labels: bool) -> tuple[dict[str, str], list[str], list[str]]:
    """Detector labels, scheme labels and table notes. Profile fields that differ from
    the named profile go where they vary: shared by the whole table into a note, shared
    by a detector's block after the detector's name, otherwise after the scheme."""
    everywhere = _common(order)
    profiles = sorted({k[3] for k in order})
    blocks = {d: [k for k in order if k[0] == d] for d in dict.fromkeys(k[0] for k in order)} if by_detector else {}
    per_block = {d: _common(ks) - everywhere for d, ks in blocks.items()}
    detector_labels = {d: d + (f" ({','.join(sorted(extra))})" if extra else "") for d, extra in per_block.items()}
    schemes = []
    for k in order:
        _, spec, labels, profile, _, variant = k
        own = _items(k[4]) - everywhere - per_block.get(k[0], frozenset())
        parts = [scheme_name(spec)]
        if show_labels and labels != "full":
            parts.append(f"({labels})")
        if len(profiles) > 1:
            parts.append(f"@{profile}")
        if own:
            parts.append(f"({','.join(sorted(own))})")
        if variant:
            parts.append(f"v:{variant[:6]}")
        schemes.append(" ".join(parts))
    note = f"Profile {profiles[0]}" if len(profiles) == 1 else "Profiles as marked (@name)"
    note += f" with {', '.join(sorted(everywhere))} in every row." if everywhere else "."
    return detector_labels, schemes, [note]


def _sort_rows(keys: list[tuple]) -> list[tuple]:
    return sorted(set(keys), key=lambda k: (detector_sort_key(k[0]), scheme_sort_key(k[1]), *map(str, k[2:])))


def _fill(frames: dict[str, np.ndarray], i: int, group: int, r: dict, metrics: list[str]) -> None:
    """Row ``i``, column group ``group`` (index) from a summary row (a dict)."""
    for k, m in enumerate(metrics):
        j = group * len(metrics) + k
        value = r[m]
        frames["mean"][i, j] = value
        frames["std"][i, j] = r.get(f"{m}_std", np.nan)
        frames["seeds"][i, j] = r["seeds"] if pd.notna(value) else np.nan
        frames["low"][i, j] = r.get(f"{m}_lo", np.nan)
        frames["high"][i, j] = r.get(f"{m}_hi", np.nan)


def comparison_table(summary: pd.DataFrame, name: str, caption: str, selection: str = "last",
                     by_detector: bool = True) -> Table:
    """Table 1/2 layout from ``summarize_variants(..., subset=None)`` rows."""
    columns = _column_groups(summary)
    keys = _row_keys(summary, columns)
    order = _sort_rows(keys)
    position = {k: i for i, k in enumerate(order)}
    show_labels = summary.loc[summary["labels"] != "full", "labels"].nunique() > 1
    groups = list(dict.fromkeys(columns.values()))
    frames = _frames(len(order), len(groups) * len(MAIN_METRICS))
    privileged = [False] * len(order)
    for key, r in zip(keys, summary.to_dict("records")):
        i = position[key]
        _fill(frames, i, groups.index(columns[(r["dataset"], r["subset"])]), r, MAIN_METRICS)
        privileged[i] = privileged[i] or bool(r["privileged"])
    detectors = list(dict.fromkeys(k[0] for k in order))
    detector_labels, schemes, notes = _labels(order, by_detector, show_labels)
    notes += caveat_notes(summary)
    if by_detector:
        rows = [(detector_labels[k[0]], scheme) for k, scheme in zip(order, schemes)]
        levels, blocks = ["Detector", "Scheme"], [detectors.index(k[0]) for k in order]
    else:
        rows = [(scheme,) for scheme in schemes]
        levels, blocks = ["Scheme"], [0] * len(order)
    kinds = set(summary["interval"].dropna()) if "interval" in summary else set()
    return Table(name, caption, levels, rows, groups, MAIN_METRICS, frames, privileged, blocks, selection, notes, kinds)


def caveat_notes(summary: pd.DataFrame) -> list[str]:
    """One sentence per scheme whose records carry caveats (``Method.caveats``): a number
    that is low for a known reason says so under the table that prints it."""
    if "caveats" not in summary:
        return []
    found = summary.dropna(subset=["caveats"]).drop_duplicates(["method", "caveats"])
    return [f"{scheme_name(m)}: {c}." for m, c in zip(found["method"], found["caveats"])]


def ablation_groups(summary: pd.DataFrame) -> dict[tuple[str, str, str, str], pd.DataFrame]:
    """(detector, dataset, labels, method) -> summary rows of that method's variants (2+),
    with naive point supervision on the same detector/dataset/labels as the floor."""
    out = {}
    pooled = summary[summary["subset"] == "all"]
    for (detector, dataset, labels, method), g in pooled.groupby(["detector", "dataset", "labels", "method"], sort=True):
        if g["method_spec"].nunique() < 2:
            continue
        same = (summary["detector"] == detector) & (summary["dataset"] == dataset) & (summary["labels"] == labels)
        keep = same & ((summary["method"] == method) | ((summary["method"] == "point") & (method != "point")))
        out[(detector, dataset, labels, method)] = summary[keep]
    return out


def ablation_tables(summary: pd.DataFrame, suite: str, selection: str) -> list[Table]:
    """Table 3 layout: one table per scheme that has option variants in the suite."""
    tables = []
    for (detector, dataset, labels, method), rows in ablation_groups(summary).items():
        name = f"{suite}-ablation-{method}-{detector}-{dataset}-{labels}"
        caption = (f"Ablation of {scheme_name(method)} ({detector}, trained on {dataset}, {labels} points; "
                   f"suite {suite}): each variant changes one part; naive point supervision is the floor.")
        tables.append(comparison_table(rows, name, caption, selection, by_detector=False))
    return tables


def label_summary(labels: pd.DataFrame) -> pd.DataFrame:
    """Mean/std/seeds of pseudo-label IoU and seconds per target per label variant."""
    from reports import stats

    grouped = labels.groupby(["variant"], sort=False)
    first = grouped[["suite", "method", "method_spec", "options", "dataset", "labels", "split", "privileged"]].first()
    out = first.join(grouped[LABEL_METRICS].mean()).join(grouped[LABEL_METRICS].std(ddof=1).add_suffix("_std"))
    out["seeds"] = grouped["seed"].nunique()
    out = out.reset_index()
    rng = stats.rng_for("labels")
    for m in LABEL_METRICS:
        found = stats.seed_intervals([grouped.get_group((v,))[m].tolist() for v in out["variant"]], rng)
        out[f"{m}_lo"], out[f"{m}_hi"] = [f.low for f in found], [f.high for f in found]
    return out


def label_table(labels: pd.DataFrame, name: str, caption: str) -> Table:
    """Table 4 layout: rows = methods, columns = dataset (x label type) x (IoU, s/target)."""
    summary = label_summary(labels)
    several = summary["labels"].nunique() > 1
    group_of = {(d, lab): (f"{d} ({lab})" if several else d) for d, lab in zip(summary["dataset"], summary["labels"])}
    pairs = sorted(group_of, key=lambda p: (dataset_sort_key(p[0]), p[1]))
    groups = [group_of[p] for p in pairs]
    specs = sorted(set(summary["method_spec"]), key=scheme_sort_key)
    frames = _frames(len(specs), len(groups) * len(LABEL_METRICS))
    privileged = [False] * len(specs)
    for r in summary.to_dict("records"):
        i = specs.index(r["method_spec"])
        _fill(frames, i, groups.index(group_of[(r["dataset"], r["labels"])]), r, LABEL_METRICS)
        privileged[i] = privileged[i] or bool(r["privileged"])
    rows = [(scheme_name(s),) for s in specs]
    kinds = {"seeds"} if np.isfinite(frames["low"]).any() else set()
    return Table(name, caption, ["Method"], rows, groups, LABEL_METRICS, frames, privileged, [0] * len(specs), "-",
                 intervals=kinds)
