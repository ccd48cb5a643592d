"""A module imported on first use, for modules that are needed only when training.

Method modules are imported to resolve a cell (its options, label types, published
profile), which ``pointbench status`` and listings do without training; their losses
need torch. ``losses = lazy_module("benchmark.losses")`` keeps torch out of such imports
until a loss is computed.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for a module; the first attribute read imports it."""

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}{' (imported)' if self._module is not None else ''}>"


def lazy_module(name: str) -> Any:
    """``lazy_module("benchmark.losses")``: typed as Any so call sites read like the module."""
    return LazyModule(name)
