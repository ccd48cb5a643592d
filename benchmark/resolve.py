"""From a cell as written to the configuration it really runs: canonical names, the
method's options with defaults filled in, the profile after the method's published
settings, and the key that names the record."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from benchmark.cells import Cell, config_key
from benchmark.errors import ConfigError
from benchmark.profiles import Profile
from benchmark.registry import DATASETS, DETECTORS, METHODS

# bump when the engine changes in a way that changes results of an unchanged config, and
# when a Profile field's default changes (keys leave default-valued fields out)
PROTOCOL_VERSION = 2


@dataclass(frozen=True)
class ResolvedCell:
    cell: Cell  # with canonical registry names
    method: Any  # methods.base.Method instance
    profile: Profile
    config: dict[str, Any]
    key: str


def resolve(cell: Cell) -> ResolvedCell:
    """Raise a clear error for unknown names or options; otherwise the runnable config."""
    detector = DETECTORS.resolve_name(cell.detector)
    method_name = METHODS.resolve_name(cell.method)
    dataset = DATASETS.resolve_name(cell.dataset)
    method = METHODS.get(method_name)(**dict(cell.method_options))
    if cell.labels not in method.label_types:
        raise ConfigError(
            f"method {method_name!r} trains on labels {'/'.join(method.label_types)}, not {cell.labels!r} "
            f"(cell {cell.name})"
        )
    profile = profiled(cell, method)
    canonical = dataclasses.replace(cell, detector=detector, method=method_name, dataset=dataset)
    cell_dict = canonical.to_dict()
    cell_dict["method_options"] = dict(method.options)
    config = {"protocol_version": PROTOCOL_VERSION, "cell": cell_dict, "profile": profile.to_dict()}
    return ResolvedCell(canonical, method, profile, config, config_key(key_config(config)))


def profiled(cell: Cell, method: Any) -> Profile:
    """The profile's scale, the method's published setting on top, then what the scale
    forces over it (``forced``, ``lr_scale``), then the user's explicit overrides."""
    profile = cell.base_profile().with_overrides(method.paper_overrides())
    profile = profile.with_overrides(dict(profile.forced))
    profile = dataclasses.replace(profile, lr=profile.lr * profile.lr_scale)
    return profile.with_overrides(dict(cell.profile_overrides))


def key_config(config: dict[str, Any]) -> dict[str, Any]:
    """What the key hashes: the configuration that runs, not how it was written. The
    overrides are dropped (the resolved profile holds their effect) and so are profile
    fields at their default, so adding a profile field leaves every existing key alone, and
    the profile's ``deviations`` (prose about the settings, which are hashed themselves)."""
    defaults = {f.name: f.default for f in dataclasses.fields(Profile)}
    profile = {
        k: v
        for k, v in config["profile"].items()
        if k != "deviations" and (k not in defaults or _plain(v) != _plain(defaults[k]))
    }
    cell = {k: v for k, v in config["cell"].items() if k != "profile_overrides"}
    return {**config, "cell": cell, "profile": profile}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value
