"""Variants: one resolved configuration whatever its seed.

A report averages the seeds of one variant and nothing else: two records of the same
detector, method, dataset and labels under different profiles (or different profile
overrides, or protocol versions) are two variants, two rows. The variant key is the
cell's key without the seed, so it moves exactly when the key moves for a reason other
than the seed. Torch-free: reports compute it from stored records.
"""

from __future__ import annotations

from typing import Any, Mapping

from benchmark.cells import config_key
from benchmark.resolve import key_config


def variant_key(config: Mapping[str, Any]) -> str:
    """16 hex digits: the hash of what the key hashes, less the seed."""
    hashed = key_config(dict(config))
    cell = {k: v for k, v in hashed["cell"].items() if k != "seed"}
    return config_key({**hashed, "cell": cell})


def profile_changes(config: Mapping[str, Any]) -> str:
    """The overrides that make this profile differ from the named one, e.g.
    ``target_prior=0.01, detector_width=0.5`` ('' when none)."""
    from benchmark.profiles import PROFILES

    profile = config.get("profile", {})
    named = PROFILES.get(str(profile.get("name")))
    base = named.to_dict() if named is not None else {}
    written = config.get("cell", {}).get("profile_overrides", {})
    changed = {k: profile.get(k, v) for k, v in written.items() if _plain(profile.get(k, v)) != _plain(base.get(k))}
    return ", ".join(f"{k}={_text(v)}" for k, v in sorted(changed.items()))


def record_variant(record: Mapping[str, Any]) -> str | None:
    """The record's own variant key, or the one its configuration gives (older records)."""
    if record.get("variant"):
        return str(record["variant"])
    config = record.get("config")
    return variant_key(config) if config else None


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, (tuple, list)) else value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_text(v) for v in value) + "]"
    return str(value)
