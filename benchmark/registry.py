"""One generic registry class, one instance per kind (detectors, methods, datasets).

Entries are added with a decorator and an explicit name. Built-in entries are
discovered by importing every module of their package (one file per entry, no list
to edit); third-party packages add entries through the entry-point group
``pointbench.<kind>`` (the entry point names a module to import, or an object to
register under the entry point's name).
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.metadata
import pkgutil
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, TypeVar

from benchmark.errors import UnknownNameError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered object with its metadata and where it came from."""

    name: str
    obj: T
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = "builtin"


class Registry(Generic[T]):
    """Name -> object mapping with wildcard listing and helpful lookup errors."""

    def __init__(self, kind: str, builtin_package: str | None, entry_point_group: str):
        self.kind = kind
        self.builtin_package = builtin_package
        self.entry_point_group = entry_point_group
        self._entries: dict[str, Entry[T]] = {}
        self._loaded = False
        self._loading = threading.RLock()
        self._current_source = "builtin"

    # registration -------------------------------------------------------------------
    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator: ``@DETECTORS.register("DNANet", paper="TIP'22")``."""

        def decorator(obj: T) -> T:
            self.add(name, obj, **meta)
            return obj

        return decorator

    def add(self, name: str, obj: T, **meta: Any) -> None:
        if not name or any(c in name for c in "[]=,* "):
            raise ValueError(f"invalid {self.kind} name {name!r}: no spaces, brackets, '=', ',' or '*'")
        existing = self._entries.get(name)
        if existing is not None:
            if existing.obj is obj:  # the same module imported twice under two names
                return
            raise ValueError(
                f"{self.kind} {name!r} is already registered (from {existing.source}); "
                f"choose another name"
            )
        clash = [n for n in self._entries if n.lower() == name.lower()]
        if clash:
            raise ValueError(f"{self.kind} {name!r} differs only in case from {clash[0]!r}")
        self._entries[name] = Entry(name, obj, dict(meta), self._current_source)

    # discovery ----------------------------------------------------------------------
    def load(self) -> None:
        """Import built-in modules and third-party entry points (once)."""
        with self._loading:
            if self._loaded:
                return
            self._loaded = True
            if self.builtin_package:
                package = importlib.import_module(self.builtin_package)
                for info in pkgutil.iter_modules(getattr(package, "__path__", [])):
                    if not info.name.startswith("_"):
                        importlib.import_module(f"{self.builtin_package}.{info.name}")
            for ep in importlib.metadata.entry_points(group=self.entry_point_group):
                self._current_source = f"entry point {ep.name} = {ep.value}"
                try:
                    loaded = ep.load()
                    if not isinstance(loaded, type(importlib)) and ep.name not in self._entries:
                        self.add(ep.name, loaded)
                finally:
                    self._current_source = "builtin"

    # lookup -------------------------------------------------------------------------
    def resolve_name(self, name: str) -> str:
        """Canonical spelling of ``name`` (case-insensitive), or a helpful error."""
        self.load()
        if name in self._entries:
            return name
        folded = {n.lower(): n for n in self._entries}
        if name.lower() in folded:
            return folded[name.lower()]
        known = sorted(self._entries)
        close = difflib.get_close_matches(name.lower(), list(folded), n=1, cutoff=0.4)
        hint = f" Did you mean {folded[close[0]]!r}?" if close else ""
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {', '.join(known) or '(none)'}"
        )

    def entry(self, name: str) -> Entry[T]:
        return self._entries[self.resolve_name(name)]

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell wildcard (case-insensitive), sorted."""
        self.load()
        return sorted(n for n in self._entries if fnmatch.fnmatch(n.lower(), pattern.lower()))

    def __contains__(self, name: object) -> bool:
        try:
            self.resolve_name(str(name))
        except UnknownNameError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


DETECTORS: Registry[Any] = Registry("detector", "detectors", "pointbench.detectors")
METHODS: Registry[Any] = Registry("method", "methods", "pointbench.methods")
DATASETS: Registry[Any] = Registry("dataset", "benchmark.data.catalog", "pointbench.datasets")
