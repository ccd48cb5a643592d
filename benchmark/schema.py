"""The record of one cell (one JSON document) as typed dicts: the contract between the
engine, the store and the reports. ``SCHEMA_VERSION`` changes when a field's meaning does.

Records are made by one builder (:func:`cell_record`, :func:`label_record`,
:func:`mark_failed`, :func:`stamp`) wherever they are written: the engine, the Ray
executor (for a worker that died before writing) and the label jobs.
"""

from __future__ import annotations

import traceback as tracebacklib
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if TYPE_CHECKING:
    from benchmark.resolve import ResolvedCell

SCHEMA_VERSION = 1


class MetricValues(TypedDict, total=False):
    iou: float  # percent
    niou: float  # percent
    pd: float  # percent
    fa: float  # x1e-6
    images: int
    targets: int
    hits: int


class Evaluation(TypedDict):
    epoch: int  # 1-based epoch after which the model was evaluated
    selection: str  # "last epoch" | "best test IoU over evaluated epochs (as PAL/D2D select)"
    subsets: dict[str, MetricValues]  # "all" plus per-subset for unions such as SIRST3


class EpochLog(TypedDict, total=False):
    epoch: int
    loss: float
    lr: float
    seconds: float
    train_images: int
    test: MetricValues
    label_iou: float
    method: dict[str, Any]
    loss_parts: dict[str, float]  # mean of each named part of the method's loss over the epoch


class Record(TypedDict, total=False):
    schema_version: int
    kind: str  # absent for training cells; "labels" for a label job (then job, quality, seconds... instead of metrics)
    job: dict[str, Any]
    quality: dict[str, float]
    key: str
    variant: str  # the key less the seed: reports average the seeds of one variant
    name: str
    suite: str
    status: Literal["done", "failed"]
    cell: dict[str, Any]  # the cell as resolved (canonical names, method options with defaults)
    config: dict[str, Any]  # everything the key hashes
    method: dict[str, Any]  # name, options, protocol, privileged, spec; parts: its own modules' parameter counts
    detector: dict[str, Any]  # name, width, in_channels, parameters
    data: dict[str, Any]  # dataset, fingerprints, image counts, normalization, repairs
    seeds: dict[str, int]
    metrics: dict[str, Evaluation]  # "last" and "best"
    label_quality: list[dict[str, float]]  # IoU of the training labels vs ground truth, by epoch
    history: list[EpochLog]
    timing: dict[str, float]
    fingerprints: dict[str, Any]  # data content hashes, pointbench version, plugin distributions (staleness)
    provenance: dict[str, Any]
    error: ErrorInfo


class ErrorInfo(TypedDict):
    type: str
    message: str
    traceback: str


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def cell_record(rc: "ResolvedCell", suite: str) -> Record:
    """The identity part of a training cell's record (status and results come later)."""
    from benchmark.variants import variant_key

    return {
        "schema_version": SCHEMA_VERSION,
        "key": rc.key,
        "variant": variant_key(rc.config),  # the key less the seed: what reports average over
        "name": rc.cell.name,
        "suite": suite,
        "cell": rc.config["cell"],
        "config": rc.config,
        "method": {**rc.method.describe(), "spec": rc.cell.method_spec},
        "seeds": rc.seeds,
    }


def label_record(key: str, name: str, suite: str, identity: dict[str, Any], method: Any) -> Record:
    """The identity part of a label job's record (``kind = "labels"``: no training)."""
    return {
        "schema_version": SCHEMA_VERSION, "kind": "labels", "key": key, "name": name, "suite": suite,
        "job": identity, "method": {**method.describe(), "spec": method.spec},
    }


def error_info(exc: BaseException | None = None, *, kind: str | None = None, message: str = "") -> ErrorInfo:
    """An exception being handled (with its traceback), or a failure known only by a message."""
    if exc is not None:
        return {"type": type(exc).__name__, "message": str(exc), "traceback": tracebacklib.format_exc()}
    return {"type": kind or "Error", "message": message, "traceback": ""}


def mark_failed(record: Record, error: ErrorInfo) -> Record:
    record.update(status="failed", error=error)
    return record


def stamp(record: Record, device: Any = None, started: datetime | None = None, **extra: Any) -> Record:
    """Provenance: the code, libraries and machine (when ``device`` is given; a driver
    writing for a lost worker knows neither), start and finish times, and ``extra``."""
    from benchmark.provenance import provenance

    fields: dict[str, Any] = provenance(device) if device is not None else {}
    if started is not None:
        fields["started_at"] = started.isoformat(timespec="seconds")
    record["provenance"] = {**fields, "finished_at": now_iso(), **extra}
    return record
