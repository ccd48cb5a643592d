"""Settings given as one value or as a table by detector (``{ISNet = 1.0, default = 0.25}``).

Suites use such tables where one value does not suit every network: the GPU share of a
cell (``[resources]``) and reduced-profile fields (``[profile_overrides]``) such as the
width of a network whose published width is already tiny.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MISSING = object()


def for_detector(value: Any, detector: str) -> Any:
    """``value`` itself, or its entry for ``detector`` (case-insensitive), else its
    ``default`` entry, else :data:`MISSING`."""
    if not isinstance(value, Mapping):
        return value
    lowered = {str(k).lower(): v for k, v in value.items()}
    return lowered.get(detector.lower(), lowered.get("default", MISSING))


def overrides_for_detector(overrides: Mapping[str, Any], detector: str) -> dict[str, Any]:
    """Profile overrides with every table resolved for one detector; a table with no entry
    for it (and no ``default``) leaves the profile's own value."""
    resolved = {key: for_detector(value, detector) for key, value in overrides.items()}
    return {key: value for key, value in resolved.items() if value is not MISSING}
