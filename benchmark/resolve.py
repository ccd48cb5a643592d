"""From a cell as written to the configuration it really runs: canonical names, the
method's options with defaults filled in, the profile after the method's published
settings, and the key that names the record."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from benchmark.cells import Cell, config_key, format_spec
from benchmark.errors import ConfigError
from benchmark.profiles import SCALE_FIELDS, Profile
from benchmark.registry import DATASETS, DETECTORS, METHODS
from benchmark.seeding import seed_hash

# bump when the engine changes in a way that changes results of an unchanged config, and
# when a Profile field's default changes (keys leave default-valued fields out).
# 3: seeds from the resolved cell (all method options, defaults filled in), AdamW honours
#    weight_decay = 0; records of protocol 2 (results/reference/) keep their old keys
PROTOCOL_VERSION = 3


@dataclass(frozen=True)
class ResolvedCell:
    cell: Cell  # canonical: registry names, only the options that differ from the defaults
    method: Any  # methods.base.Method instance
    profile: Profile
    config: dict[str, Any]
    key: str

    # seeds come from what runs, never from how it was written: `lesps`, `lesps[f=5]` and
    # `LESPS[f=5.0]` are one key and one set of seeds. Data order and augmentation are
    # shared by every detector and method on the same dataset/labels/seed (a paired
    # design); initialisation depends on the whole cell but not on the profile.
    @property
    def data_seed(self) -> int:
        return seed_hash("data", self.cell.dataset, self.cell.labels, self.cell.seed)

    @property
    def init_seed(self) -> int:
        options = format_spec(self.cell.method, dict(self.method.options))  # every option, defaults included
        return seed_hash("init", self.cell.detector, options, self.cell.dataset, self.cell.labels, self.cell.seed)

    @property
    def seeds(self) -> dict[str, int]:
        return {"seed": self.cell.seed, "data_seed": self.data_seed, "init_seed": self.init_seed}


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
    changed = {k: v for k, v in method.options.items() if method.defaults.get(k) != v}
    canonical = dataclasses.replace(cell, detector=detector, method=method_name, dataset=dataset,
                                    method_options=tuple(sorted(changed.items())))
    cell_dict = canonical.to_dict()
    cell_dict["method_options"] = dict(method.options)
    config = {"protocol_version": PROTOCOL_VERSION, "cell": cell_dict, "profile": profile.to_dict()}
    return ResolvedCell(canonical, method, profile, config, config_key(key_config(config)))


def profiled(cell: Cell, method: Any) -> Profile:
    """The profile's scale, the method's published setting on top (a reduced profile keeps
    its batch and crop size, and its schedule over a constant rate it raises:
    ``kept_by_reduced_profile``), then what the scale forces over it (``forced``;
    ``lr_scale`` times the method's own learning rate), then the user's explicit overrides
    (an explicit ``lr`` is taken as written)."""
    base = cell.base_profile()
    profile = base.with_overrides(method.paper_overrides())
    if base.deviations:
        profile = profile.with_overrides(kept_by_reduced_profile(base, profile))
    profile = profile.with_overrides(dict(profile.forced))
    user = dict(cell.profile_overrides)
    scale = float(user.get("lr_scale", profile.lr_scale))
    return dataclasses.replace(profile, lr=profile.lr * scale).with_overrides(user)


def kept_by_reduced_profile(base: Profile, profile: Profile) -> dict[str, Any]:
    """What a reduced profile keeps over a method's published setting: its batch and crop
    size (scale), and, where its ``lr_scale`` raises a method's constant rate, its own
    milestone schedule, so that the raised rate settles before the last epochs (Diffusion
    on SIRST under ``cpu``: test IoU 17.97, Fa 1898 at the constant 2e-3; 34.49, Fa 659 with
    the x0.1 step at epoch 8; docs/fidelity.md)."""
    kept: dict[str, Any] = {name: getattr(base, name) for name in SCALE_FIELDS}
    if profile.scheduler == "constant" and base.lr_scale > 1.0 and base.scheduler != "constant":
        kept["scheduler"] = base.scheduler
    return kept


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
