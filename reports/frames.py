"""Records as pandas frames: the tidy frame (cell x selection x subset), the history
frame (cell x epoch), the label-quality frame (``kind = "labels"`` records) and the
per-image counts that the bootstrap resamples.

Seeds are grouped by the variant key: the hash of the resolved configuration without
the seed (``benchmark.variants``: a record's own, or derived from its config for older
records), so reports read old and new records alike. Never imports torch.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from benchmark.cells import config_key
from benchmark.metrics import PER_IMAGE_FIELDS

Record = dict[str, Any]


def is_label_record(record: Record) -> bool:
    return record.get("kind") == "labels"


def variant_of(record: Record) -> str:
    """The record's variant key (``benchmark.variants``: its own, or derived from its
    config for older records); from the cell less its seed where a record has no config."""
    from benchmark.variants import record_variant

    found = record_variant(record)
    if found:
        return found
    cell = {k: v for k, v in record.get("cell", {}).items() if k != "seed"}
    return "c" + config_key({"cell": cell})[:15]


def _identity(record: Record) -> dict[str, Any]:
    """Columns a reader needs to tell variants apart, beyond those records_frame has."""
    data = record.get("data", {})
    options = record.get("method", {}).get("options", record.get("cell", {}).get("method_options", {}))
    return {
        "variant": variant_of(record),
        "options": json.dumps(options or {}, sort_keys=True, default=str),
        "max_test_images": (record.get("config", {}).get("profile") or {}).get("max_test_images"),
        "test_fingerprint": data.get("test_fingerprint"),
        "test_images": data.get("test_images"),
        "finished_at": record.get("provenance", {}).get("finished_at"),
        "has_sweep": bool(record.get("sweep")),
    }


def _rows_of(record: Record) -> int:
    """How many rows ``records_frame`` makes of a record (selections x subsets, or one)."""
    metrics = record.get("metrics") or {}
    return sum(len(e["subsets"]) for e in metrics.values()) if metrics else 1


def tidy_frame(records: Iterable[Record]) -> pd.DataFrame:
    """One row per training record x selection x subset, with ``variant`` and friends.

    Within a suite, a variant with two records of one seed (the same run in two results
    folders) keeps the later one; the same run in two suites stays in both (each suite's
    table shows it) and ``summarize_variants`` counts it once across suites.
    """
    from benchmark.store import records_frame

    train = [r for r in records if not is_label_record(r)]
    frame = records_frame(train)
    if frame.empty:
        return frame
    extra = pd.DataFrame([_identity(r) for r in train])
    extra = extra.loc[np.repeat(np.arange(len(train)), [_rows_of(r) for r in train])].reset_index(drop=True)
    if len(extra) != len(frame):
        raise ValueError("records_frame made an unexpected number of rows; reports.frames._rows_of needs updating")
    frame = pd.concat([frame.drop(columns=[c for c in extra.columns if c in frame.columns]), extra], axis=1)
    frame["privileged"] = frame["privileged"].fillna(False).astype(bool)
    frame = frame.sort_values("finished_at", na_position="first", kind="stable")
    frame = frame.drop_duplicates(["suite", "variant", "seed", "selection", "subset"], keep="last")
    return frame.reset_index(drop=True)


def done(frame: pd.DataFrame, selection: str, subset: str | None = None) -> pd.DataFrame:
    """Finished rows of one selection (and subset, unless None: every subset)."""
    if frame.empty or "selection" not in frame:
        return frame.iloc[0:0]
    keep = (frame["status"] == "done") & (frame["selection"] == selection)
    if subset is not None:
        keep &= frame["subset"] == subset
    return frame[keep]


# history ------------------------------------------------------------------------------
def _label_iou_by_epoch(record: Record) -> dict[int, float]:
    return {int(q["epoch"]): float(q["iou"]) for q in record.get("label_quality") or [] if q.get("iou") is not None}


def _history_rows(record: Record, base: dict[str, Any]) -> list[dict[str, Any]]:
    label_iou = _label_iou_by_epoch(record)
    current = label_iou.get(0)
    rows = []
    for entry in record.get("history") or []:
        epoch = int(entry["epoch"])
        current = entry.get("label_iou", label_iou.get(epoch, current))
        row = {**base, "epoch": epoch, "loss": entry.get("loss"), "lr": entry.get("lr"),
               "seconds": entry.get("seconds"), "label_iou": current}
        for name, value in (entry.get("loss_parts") or {}).items():
            row[f"loss_{name}"] = value
        for name, value in (entry.get("test") or {}).items():
            if name in ("iou", "niou", "pd", "fa"):
                row[f"test_{name}"] = value
        rows.append(row)
    return rows


def history_frame(records: Iterable[Record]) -> pd.DataFrame:
    """One row per training record x epoch: loss (and its named parts, ``loss_<name>``),
    lr, test metrics at evaluated epochs (NaN between), training-label IoU (carried
    forward from the last epoch the labels changed; ``label_changes`` counts changes)."""
    rows: list[dict[str, Any]] = []
    for r in records:
        if is_label_record(r) or r.get("status") != "done":
            continue
        cell = r.get("cell", {})
        base = {
            "suite": r.get("suite"), "key": r.get("key"), "variant": variant_of(r),
            "detector": cell.get("detector"), "method": cell.get("method"),
            "method_spec": r.get("method", {}).get("spec", cell.get("method")), "dataset": cell.get("dataset"),
            "labels": cell.get("labels"), "seed": cell.get("seed"), "profile": cell.get("profile"),
            "privileged": bool(r.get("method", {}).get("privileged")),
            "label_changes": max(len(r.get("label_quality") or []) - 1, 0),
        }
        rows += _history_rows(r, base)
    return pd.DataFrame(rows)


# pseudo-label quality -------------------------------------------------------------------
def labels_frame(records: Iterable[Record]) -> pd.DataFrame:
    """One row per finished ``kind = "labels"`` record (``label_jobs.run_label_jobs``)."""
    rows = []
    for r in records:
        if not is_label_record(r) or r.get("status") != "done":
            continue
        job, method = r.get("job", {}), r.get("method", {})
        identity = {k: v for k, v in job.items() if k != "seed"}
        rows.append({
            "suite": r.get("suite"), "key": r.get("key"), "variant": r.get("variant") or config_key(identity),
            "method": job.get("method", method.get("name")), "method_spec": method.get("spec", job.get("method")),
            "options": json.dumps(job.get("options", method.get("options")) or {}, sort_keys=True, default=str),
            "dataset": job.get("dataset"), "labels": job.get("labels"), "split": job.get("split"),
            "seed": job.get("seed"), "privileged": bool(method.get("privileged")),
            "iou": r.get("quality", {}).get("iou"), "niou": r.get("quality", {}).get("niou"),
            "seconds_per_target": _seconds_per_target(r), "targets": r.get("targets"),
            "images": r.get("images"), "finished_at": r.get("provenance", {}).get("finished_at"),
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    frame = frame.sort_values("finished_at", na_position="first", kind="stable")
    return frame.drop_duplicates(["variant", "seed"], keep="last").reset_index(drop=True)


# per-image counts -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class ImageCounts:
    """One record's per-test-image counts at one selection: columns of PER_IMAGE_FIELDS."""

    counts: np.ndarray  # (images, len(PER_IMAGE_FIELDS)) int64
    subsets: np.ndarray | None  # (images,) subset name of each image, where recorded

    def only(self, subset: str) -> "ImageCounts":
        if subset == "all" or self.subsets is None:
            return self
        keep = self.subsets == subset
        return ImageCounts(self.counts[keep], self.subsets[keep])


def image_counts(records: Iterable[Record], selection: str) -> dict[str, ImageCounts]:
    """``{record key: ImageCounts}`` for the records that stored a per-image breakdown."""
    out = {}
    for r in records:
        evaluation = (r.get("metrics") or {}).get(selection) or {}
        columns = evaluation.get("per_image")
        if not columns:
            continue
        counts = np.array([columns[name] for name in PER_IMAGE_FIELDS], dtype=np.int64).T
        subsets = np.asarray(columns["subset"]) if columns.get("subset") else None
        out[r["key"]] = ImageCounts(counts, subsets)
    return out


# threshold sweeps -----------------------------------------------------------------------
def sweep_frame(records: Iterable[Record]) -> pd.DataFrame:
    """One row per record x threshold of the last-epoch sweep (records that stored one)."""
    rows = []
    for r in records:
        sweep = r.get("sweep")
        if is_label_record(r) or not sweep or r.get("status") != "done":
            continue
        cell = r.get("cell", {})
        base = {"suite": r.get("suite"), "key": r.get("key"), "variant": variant_of(r), "detector": cell.get("detector"),
                "method_spec": r.get("method", {}).get("spec", cell.get("method")), "dataset": cell.get("dataset"),
                "labels": cell.get("labels"), "seed": cell.get("seed"), "privileged": bool(r.get("method", {}).get("privileged"))}
        for i, threshold in enumerate(sweep["threshold"]):
            rows.append({**base, "threshold": threshold, **{m: sweep[m][i] for m in ("iou", "niou", "pd", "fa") if m in sweep}})
    return pd.DataFrame(rows)


@dataclasses.dataclass
class Frames:
    """Everything a report reads, made once from the records."""

    records: list[dict]
    tidy: pd.DataFrame
    history: pd.DataFrame
    labels: pd.DataFrame
    sweeps: pd.DataFrame
    counts: dict[str, dict[str, ImageCounts]]  # selection -> key -> counts

    @classmethod
    def of(cls, records: Sequence[dict]) -> "Frames":
        records = list(records)
        return cls(records, tidy_frame(records), history_frame(records), labels_frame(records),
                   sweep_frame(records), {s: image_counts(records, s) for s in ("last", "best")})


def _seconds_per_target(record: dict) -> float | None:
    """CPU seconds per target where the record has them (a shared machine inflates wall time,
    not CPU time; on an idle pinned core the two agree), else the wall seconds."""
    cpu = record.get("cpu_seconds_per_target")
    return cpu if cpu is not None else record.get("seconds_per_target")
