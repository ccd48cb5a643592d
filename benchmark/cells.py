"""Cells: one detector x method x dataset x label type x seed under one profile.

A cell's key is the md5 of its resolved configuration (the method's options with
defaults filled in, the resolved profile), so a record is stored under a name that
changes whenever anything that affects the result changes, and only then.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from benchmark.errors import ConfigError
from benchmark.profiles import Profile, get_profile

LABEL_TYPES = ("centroid", "coarse", "full")
_SPEC = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(?:\[(.*)\])?\s*$")


def parse_value(text: str) -> Any:
    """An option value as written in a spec: int, float, bool, or a bare string."""
    text = text.strip()
    lowered = text.lower()
    if lowered in ("true", "on", "yes"):
        return True
    if lowered in ("false", "off", "no"):
        return False
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip("'\"")


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"diffusion[prior=superpixel,balance=off]"`` -> ("diffusion", {...})."""
    match = _SPEC.match(spec)
    if not match:
        raise ConfigError(f"cannot parse {spec!r}; write NAME or NAME[key=value,key=value]")
    name, body = match.group(1), match.group(2)
    options: dict[str, Any] = {}
    if body:
        for item in filter(None, (p.strip() for p in body.split(","))):
            if "=" not in item:
                raise ConfigError(f"option {item!r} in {spec!r} needs the form key=value")
            key, value = item.split("=", 1)
            options[key.strip()] = parse_value(value)
    return name, options


def format_spec(name: str, options: dict[str, Any]) -> str:
    if not options:
        return name
    body = ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in sorted(options.items()))
    return f"{name}[{body}]"


@dataclass(frozen=True)
class Cell:
    """The identity of one training run. Method options are a sorted tuple of pairs."""

    detector: str
    method: str
    dataset: str
    labels: str
    seed: int
    profile: str = "quick"
    method_options: tuple[tuple[str, Any], ...] = ()
    profile_overrides: tuple[tuple[str, Any], ...] = field(default=())

    def __post_init__(self) -> None:
        if self.labels not in LABEL_TYPES:
            raise ConfigError(f"label type {self.labels!r} is not one of {LABEL_TYPES}")

    @property
    def method_spec(self) -> str:
        return format_spec(self.method, dict(self.method_options))

    @property
    def name(self) -> str:
        """Readable identity, e.g. ``DNANet/lesps[start=epoch:50]/SIRST3/centroid/s0``."""
        return f"{self.detector}/{self.method_spec}/{self.dataset}/{self.labels}/s{self.seed}"

    def base_profile(self) -> Profile:
        return get_profile(self.profile).with_overrides(dict(self.profile_overrides))

    # seeds live on the resolved cell (benchmark.resolve.ResolvedCell): a cell as written
    # may spell one configuration several ways

    def to_dict(self) -> dict[str, Any]:
        return {
            "detector": self.detector,
            "method": self.method,
            "method_options": dict(self.method_options),
            "dataset": self.dataset,
            "labels": self.labels,
            "seed": self.seed,
            "profile": self.profile,
            "profile_overrides": dict(self.profile_overrides),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Cell":
        return cls(
            detector=d["detector"],
            method=d["method"],
            dataset=d["dataset"],
            labels=d["labels"],
            seed=int(d["seed"]),
            profile=d.get("profile", "quick"),
            method_options=tuple(sorted(d.get("method_options", {}).items())),
            profile_overrides=tuple(sorted(d.get("profile_overrides", {}).items())),
        )


def config_key(resolved: dict[str, Any]) -> str:
    """16 hex digits of md5 over the canonical JSON of a resolved configuration."""
    canonical = json.dumps(resolved, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.md5(canonical.encode("utf-8")).hexdigest()[:16]
