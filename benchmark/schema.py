"""The record of one cell (one JSON document) as typed dicts: the contract between the
engine, the store and the reports. ``SCHEMA_VERSION`` changes when a field's meaning does."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

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


class Record(TypedDict, total=False):
    schema_version: int
    key: str
    variant: str  # the key less the seed: reports average the seeds of one variant
    name: str
    suite: str
    status: Literal["done", "failed"]
    cell: dict[str, Any]  # the cell as resolved (canonical names, method options with defaults)
    config: dict[str, Any]  # everything the key hashes
    method: dict[str, Any]  # name, options, protocol, privileged
    detector: dict[str, Any]  # name, width, in_channels, parameters
    data: dict[str, Any]  # dataset, fingerprints, image counts, normalization, repairs
    seeds: dict[str, int]
    metrics: dict[str, Evaluation]  # "last" and "best"
    label_quality: list[dict[str, float]]  # IoU of the training labels vs ground truth, by epoch
    history: list[EpochLog]
    timing: dict[str, float]
    fingerprints: dict[str, Any]  # data content hashes, pointbench version, plugin distributions (staleness)
    provenance: dict[str, Any]
    error: dict[str, str]
