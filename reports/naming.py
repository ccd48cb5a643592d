"""How schemes, detectors, datasets and metrics are named and ordered in tables and
figures: the Diffuse to Detect paper's order, then anything new alphabetically."""

from __future__ import annotations

import re
from typing import Iterable

from benchmark.cells import parse_spec
from benchmark.metrics import METRICS

SCHEMES = {
    "full": "Full", "point": "Point", "lesps": "LESPS", "pal": "PAL", "mclc": "MCLC", "com": "COM",
    "diffusion": "Diffusion", "gsacp": "GSACP", "learnable_distance": "Learnable distance",
}
SCHEME_ORDER = list(SCHEMES)
DETECTOR_ORDER = ["MLCLNet", "ALCLNet", "DNANet", "ISNet", "UIUNet", "GGLNet", "MSDANet"]
DATASET_ORDER = ["SIRST3", "SIRST", "NUDT-SIRST", "IRSTD-1K", "synthetic"]
METRIC_LABELS = {m.name: m.label for m in METRICS}
HIGHER_IS_BETTER = {m.name: m.higher_is_better for m in METRICS} | {"seconds_per_target": False}
UNITS = {"iou": "%", "niou": "%", "pd": "%", "fa": r"$\times10^{-6}$", "seconds_per_target": "s"}


def scheme_name(spec: str) -> str:
    """``lesps[start=epoch:50]`` -> ``LESPS [start=epoch:50]``."""
    name, _ = parse_spec(spec)
    rest = spec.strip()[len(name):].strip()
    return SCHEMES.get(name, name) + (f" {rest}" if rest else "")


def _position(order: list[str], value: str) -> tuple[int, str]:
    return (order.index(value), "") if value in order else (len(order), str(value))


def scheme_sort_key(spec: str) -> tuple:
    name, options = parse_spec(spec)
    return (*_position(SCHEME_ORDER, name), len(options) > 0, spec)


def detector_sort_key(name: str) -> tuple:
    return _position(DETECTOR_ORDER, name)


def dataset_sort_key(name: str) -> tuple:
    return _position(DATASET_ORDER, name)


def ordered(values: Iterable[str], key) -> list[str]:
    return sorted(dict.fromkeys(v for v in values if v is not None), key=key)


def column_label(dataset: str, subset: str) -> str:
    """The column a result goes under: the pooled test set by the dataset's name, a part
    of a union (SIRST3's subsets) by the part's name."""
    return dataset if subset in (None, "all") else subset


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-")
