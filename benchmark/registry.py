"""One generic registry class, one instance per kind (detectors, methods, datasets).

Entries are added with a decorator and an explicit name. Built-in entries are lazy
``"module:attr"`` targets read from their package's source (``benchmark.registry_scan``:
one file per entry, no list to edit); a module is imported only when one of its entries
is used, so listing names, resolving cells, ``pointbench status`` and reports never
import torch. Third-party packages add entries through the entry-point group
``pointbench.<kind>``: an entry point naming an object (``name = pkg.mod:Class``) is lazy
too and registers it under the entry point's name; one naming a module is imported when
the registry loads, and registers what it registers.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.metadata
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterator, TypeVar

from benchmark.errors import PointbenchError, UnknownNameError

T = TypeVar("T")
Dist = tuple[str, str]  # (distribution name, version) of an entry point's package


class RegistrationError(PointbenchError, ValueError):
    """An entry that cannot be registered (bad name, duplicate, a plugin that breaks the contract)."""


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered object with its metadata and where it came from."""

    name: str
    obj: T
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = "builtin"
    dist: Dist | None = None  # the installed distribution it came from (entry points only)


@dataclass(frozen=True)
class Lazy:
    """An entry known by name whose module is not imported yet."""

    target: str  # "module:attr"
    source: str = "builtin"
    dist: Dist | None = None

    @property
    def module(self) -> str:
        return self.target.partition(":")[0]


class Registry(Generic[T]):
    """Name -> object mapping with lazy entries, wildcard listing and helpful lookup errors."""

    def __init__(self, kind: str, builtin_package: str | None, entry_point_group: str,
                 check: Callable[[str, Any, str], None] | None = None):
        self.kind = kind
        self.builtin_package = builtin_package
        self.entry_point_group = entry_point_group
        self.check = check  # check(name, obj, source) raises RegistrationError for a bad entry
        self._entries: dict[str, Entry[T]] = {}
        self._lazy: dict[str, Lazy] = {}
        self._loaded = False
        self._loading = threading.RLock()
        self._origin = Lazy("", "builtin")  # source/dist given to entries added now

    # registration -------------------------------------------------------------------
    def register(self, name: str, **meta: Any) -> Callable[[T], T]:
        """Decorator: ``@DETECTORS.register("DNANet", paper="TIP'22")``."""

        def decorator(obj: T) -> T:
            self.add(name, obj, **meta)
            return obj

        return decorator

    def add(self, name: str, obj: T, **meta: Any) -> None:
        if not name or any(c in name for c in "[]=,* "):
            raise RegistrationError(f"invalid {self.kind} name {name!r}: no spaces, brackets, '=', ',' or '*'")
        origin = self._origin
        existing = self._entries.get(name)
        if existing is not None:
            if existing.obj is obj:  # the same module imported twice under two names
                return
            raise RegistrationError(f"{self.kind} {name!r} is already registered (from {existing.source}); choose another name")
        lazy = self._lazy.get(name)
        if lazy is not None:  # its module registers it now (being imported for it, or imported directly)
            if origin is not lazy and lazy.module != getattr(obj, "__module__", None):
                raise RegistrationError(f"{self.kind} {name!r} is already registered (from {lazy.source}); choose another name")
            origin = lazy
        clash = [n for n in [*self._entries, *self._lazy] if n.lower() == name.lower() and n != name]
        if clash:
            raise RegistrationError(f"{self.kind} {name!r} differs only in case from {clash[0]!r}")
        if self.check is not None:
            self.check(name, obj, origin.source)
        self._lazy.pop(name, None)
        self._entries[name] = Entry(name, obj, dict(meta), origin.source, origin.dist)

    # discovery ----------------------------------------------------------------------
    def load(self) -> None:
        """Learn the built-in entries and third-party entry points (once); import only what
        cannot be known without importing."""
        with self._loading:
            if self._loaded:
                return
            self._loaded = True
            if self.builtin_package:
                from benchmark.registry_scan import scan_package

                scan = scan_package(self.builtin_package)
                for name, target in scan.lazy.items():
                    if name not in self._entries:  # not imported directly already
                        self._lazy.setdefault(name, Lazy(target))
                for module in scan.eager:
                    importlib.import_module(module)
            for ep in importlib.metadata.entry_points(group=self.entry_point_group):
                dist = (ep.dist.name, ep.dist.version) if ep.dist is not None else None
                origin = Lazy(ep.value, f"entry point {ep.name} = {ep.value}", dist)
                if ep.attr:
                    if ep.name not in self._entries and ep.name not in self._lazy:
                        self._lazy[ep.name] = origin
                else:
                    self._import(origin)

    def _import(self, origin: Lazy) -> Any:
        with self._loading:
            previous, self._origin = self._origin, origin
            try:
                return importlib.import_module(origin.module)
            finally:
                self._origin = previous

    def _materialize(self, name: str) -> Entry[T]:
        """Import a lazy entry's module; it registers the entry, or its target is added here."""
        with self._loading:
            lazy = self._lazy.get(name)
            if lazy is not None:
                module = self._import(lazy)
                if name not in self._entries:
                    obj = module
                    try:
                        for part in lazy.target.partition(":")[2].split("."):
                            obj = getattr(obj, part)
                    except AttributeError:
                        raise RegistrationError(f"{self.kind} {name!r} ({lazy.source}): no {lazy.target}") from None
                    previous, self._origin = self._origin, lazy
                    try:
                        self._lazy.pop(name, None)
                        self.add(name, obj)
                    finally:
                        self._origin = previous
            return self._entries[name]

    # lookup -------------------------------------------------------------------------
    def _known(self) -> list[str]:
        self.load()
        return [*self._entries, *self._lazy]

    def resolve_name(self, name: str) -> str:
        """Canonical spelling of ``name`` (case-insensitive), or a helpful error. Imports nothing."""
        known = self._known()
        if name in known:
            return name
        folded = {n.lower(): n for n in known}
        if name.lower() in folded:
            return folded[name.lower()]
        close = difflib.get_close_matches(name.lower(), list(folded), n=1, cutoff=0.4)
        hint = f" Did you mean {folded[close[0]]!r}?" if close else ""
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}.{hint} Known {self.kind}s: {', '.join(sorted(known)) or '(none)'}"
        )

    def entry(self, name: str) -> Entry[T]:
        return self._materialize(self.resolve_name(name))

    def get(self, name: str) -> T:
        return self.entry(name).obj

    def distribution(self, name: str) -> Dist | None:
        """The installed distribution an entry comes from (None: pointbench's own); imports nothing."""
        canonical = self.resolve_name(name)
        known = self._entries.get(canonical) or self._lazy[canonical]
        return known.dist

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell wildcard (case-insensitive), sorted. Imports nothing."""
        return sorted(n for n in self._known() if fnmatch.fnmatch(n.lower(), pattern.lower()))

    def __contains__(self, name: object) -> bool:
        try:
            self.resolve_name(str(name))
        except UnknownNameError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())


def _check_method(name: str, obj: Any, source: str) -> None:
    """A method is a class whose ``name`` is the name it is registered under: the records
    carry ``method.name``, so a nameless class would run as ``''``."""
    declared = getattr(obj, "name", None) if isinstance(obj, type) else None
    if not declared:
        raise RegistrationError(
            f"method {name!r} ({source}) is {'a class without' if isinstance(obj, type) else 'not a class with'} "
            f"a class attribute 'name'; subclass methods.base.Method and set name = {name!r}"
        )
    if declared != name:
        raise RegistrationError(
            f"method {name!r} ({source}) is the class {obj.__qualname__} whose name is {declared!r}: "
            f"register it under its own name (for an entry point: {declared} = {obj.__module__}:{obj.__qualname__})"
        )


DETECTORS: Registry[Any] = Registry("detector", "detectors", "pointbench.detectors")
METHODS: Registry[Any] = Registry("method", "methods", "pointbench.methods", check=_check_method)
DATASETS: Registry[Any] = Registry("dataset", "benchmark.data.catalog", "pointbench.datasets")
