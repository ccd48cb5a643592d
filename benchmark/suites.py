"""Suites: TOML files naming the axes of a grid and a profile.

    description = "..."
    profile = "quick"                      # paper | short | cpu | quick | smoke
    detectors = ["DNANet"]
    methods = ["full", "point", "lesps[start=epoch:50]"]
    datasets = ["synthetic"]
    labels = ["centroid", "coarse"]        # methods that train on full masks get "full" instead
    seeds = [0, 1, 2]
    [profile_overrides]                    # optional: any profile field
    epochs = 10
    detector_width = {ISNet = 1.0, default = 0.25}   # or a table by detector
    [resources]                            # optional: Ray packing, see benchmark/resources.py
    gpus_per_cell = 0.25                   # or a table by detector: {UIUNet = 1.0, default = 0.25}
    cpus_per_cell = 4

``kind = "labels"`` makes a label-quality suite: each method x dataset x labels x seed
makes its initial (offline) pseudo-labels for the training split and records their IoU
against the ground truth and their time per target; nothing is trained, so it has no
``detectors`` axis and no profile.

Built-in suites live in ``benchmark/suites/``; ``--suite path/to/file.toml`` runs a user's.
"""

from __future__ import annotations

import difflib
import itertools
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from benchmark.cells import Cell, parse_spec
from benchmark.errors import ConfigError, UnknownNameError
from benchmark.per_detector import overrides_for_detector
from benchmark.profiles import get_profile
from benchmark.registry import METHODS
from benchmark.validation import check_axis, check_profile_overrides, check_strings

SUITE_DIR = Path(__file__).resolve().parent / "suites"
AXES = ("detectors", "methods", "datasets", "labels", "seeds")
KEYS = {"description", "profile", "profile_overrides", "kind", "resources", *AXES}
KINDS = ("train", "labels")


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    profile: str
    detectors: tuple[str, ...]
    methods: tuple[str, ...]
    datasets: tuple[str, ...]
    labels: tuple[str, ...]
    seeds: tuple[int, ...]
    profile_overrides: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    kind: str = "train"  # train | labels (label quality only, no training)
    resources: dict[str, Any] = field(default_factory=dict)  # the [resources] table

    def with_axes(self, **axes: Any) -> "Suite":
        """The suite with some axes or the profile replaced (CLI flags); None keeps an axis.
        Each given value is checked as a suite file's would be, with the flag named."""
        changes = {k: (check_axis(k, list(v), f"--{k}") if k in AXES else v) for k, v in axes.items() if v is not None}
        if "profile" in changes:
            _check_profile_name(changes["profile"], "--profile")
        return replace(self, **changes)

    def with_profile_overrides(self, overrides: dict[str, Any], where: str = "--set") -> "Suite":
        """The suite with profile fields set on top of its own overrides (``--set epochs=1``)."""
        return replace(self, profile_overrides={**self.profile_overrides, **check_profile_overrides(overrides, where)})

    def cells(self) -> list[Cell]:
        """The grid, with each method's label types applied and duplicates removed.

        A method that gets no cell (the labels axis names none of the label types it trains
        on) is an error naming the axis and what the method takes, not an empty grid."""
        labels_of = {spec: self._labels_for(spec) for spec in self.methods}
        cells: list[Cell] = []
        for detector, spec, dataset, seed in itertools.product(self.detectors, self.methods, self.datasets, self.seeds):
            overrides = tuple(sorted(overrides_for_detector(self.profile_overrides, detector).items()))
            method, options = parse_spec(spec)
            for label in labels_of[spec]:
                cell = Cell(detector, method, dataset, label, int(seed), self.profile, tuple(sorted(options.items())), overrides)
                if cell not in cells:
                    cells.append(cell)
        return cells

    def _labels_for(self, spec: str) -> list[str]:
        accepted = METHODS.get(parse_spec(spec)[0]).label_types
        labels = [l for l in self.labels if l in accepted] or ([accepted[0]] if accepted == ("full",) else [])
        if not labels:
            raise ConfigError(
                f"suite {self.name}: method {spec!r} trains on {'/'.join(accepted)} labels and the labels axis is "
                f"{', '.join(self.labels)}, so it has no cells; add {' or '.join(accepted)} to the labels (--labels) "
                f"or drop the method"
            )
        return labels


def _check_profile_name(name: str, where: str) -> None:
    try:
        get_profile(name)
    except UnknownNameError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def available_suites() -> list[str]:
    return sorted(p.stem for p in SUITE_DIR.glob("*.toml"))


def load_suite(name_or_path: str) -> Suite:
    """A built-in suite by name, or a TOML file by path; every value checked now."""
    path = _suite_path(name_or_path)
    data = _read_table(path)
    where = f"suite file {str(path)!r}"
    check_strings(data, ("description", "profile", "kind"), where)
    kind = data.get("kind", "train")
    if kind not in KINDS:
        raise ConfigError(f"{where}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    missing = [k for k in AXES if k not in data and not (k == "detectors" and kind == "labels")]
    if missing:
        raise ConfigError(f"{where} lacks {', '.join(missing)}; every axis must be listed")
    axes = {k: check_axis(k, data[k], where) for k in AXES if k in data}
    for spec in axes["methods"]:
        parse_spec(spec)  # a malformed spec names itself
    profile = data.get("profile", "quick")
    _check_profile_name(profile, where)
    overrides = check_profile_overrides(data.get("profile_overrides", {}), f"{where} [profile_overrides]")
    if not isinstance(data.get("resources", {}), dict):
        raise ConfigError(f"{where}: [resources] must be a table, e.g. gpus_per_cell = 0.25")
    return Suite(
        name=path.stem,
        description=data.get("description", ""),
        profile=profile,
        detectors=axes.get("detectors", ()),
        methods=axes["methods"],
        datasets=axes["datasets"],
        labels=axes["labels"],
        seeds=axes["seeds"],
        profile_overrides=overrides,
        source=str(path),
        kind=kind,
        resources=dict(data.get("resources", {})),
    )


def _suite_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if not (path.suffix == ".toml" or path.is_file()):
        path = SUITE_DIR / f"{name_or_path}.toml"
        if not path.is_file():
            close = difflib.get_close_matches(name_or_path, available_suites(), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"unknown suite {name_or_path!r}.{hint} Built-in suites: {', '.join(available_suites())}; "
                f"or pass the path of a .toml file"
            )
    if not path.is_file():
        raise ConfigError(f"suite file {str(path)!r} not found")
    return path


def _read_table(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"suite file {str(path)!r} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - KEYS)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(KEYS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"suite file {str(path)!r} has unknown key {unknown[0]!r}{hint}; known keys: {', '.join(sorted(KEYS))}"
        )
    return data
