"""Strict JSON values: records and ``--json`` output must parse in any JSON reader.

Python's ``json`` writes ``NaN`` and ``Infinity`` by default, which JavaScript, ``jq`` and
most other readers reject; a metric with no targets (Pd of an empty subset) or a std over
one seed is NaN, so every writer passes its value through ``strict`` first: NaN becomes null.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def strict(value: Any) -> Any:
    """JSON-safe copy: NaN and infinities become None, numpy values plain, tuples and sets lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [strict(v) for v in value]
    if isinstance(value, (str, bytes, bool, int)) or value is None:
        return value
    if isinstance(value, Path):
        return str(value)
    if type(value).__name__ in ("NAType", "NaTType"):
        return None
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return strict(value.tolist())
    if hasattr(value, "item"):
        return strict(value.item())
    return value
