"""Planning a run: every name registered, every dataset folder present, every cell
resolved and split into finished and to-do, before anything trains.

The executors (``benchmark.executor``), liveness (``benchmark.liveness``) and label
jobs (``benchmark.label_jobs``) live in their own modules.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from benchmark.cells import Cell, parse_spec
from benchmark.errors import ConfigError, UnknownNameError
from benchmark.executor import Echo, _stderr
from benchmark.label_jobs import label_jobs
from benchmark.resolve import ResolvedCell, resolve
from benchmark.store import Store

if TYPE_CHECKING:  # the engine imports torch: planning and status do without it
    from benchmark.engine import RunOptions
    from benchmark.schema import Record

Review = Callable[[ResolvedCell, "Record | None"], str]  # benchmark.staleness.Review: done | stale | todo | redo

@dataclass
class Plan:
    """What a run will do: every cell resolved, split into finished and to-do."""

    resolved: list[ResolvedCell]
    done: list[ResolvedCell] = field(default_factory=list)  # stale ones included, unless rerun
    todo: list[ResolvedCell] = field(default_factory=list)
    verdicts: dict[str, str] = field(default_factory=dict)  # key -> done | stale | todo | redo (clear first)


# registered names -----------------------------------------------------------------------
KINDS = ("detectors", "methods", "datasets")


def unregistered_names(detectors: Iterable[str], methods: Iterable[str], datasets: Iterable[str]) -> dict[str, list[str]]:
    """Names (methods as specs, e.g. ``diffusion[prior=superpixel]``) that no registry knows."""
    from benchmark.registry import DATASETS, DETECTORS, METHODS

    missing: dict[str, list[str]] = {}
    for kind, registry, names in (("detectors", DETECTORS, detectors), ("methods", METHODS, methods), ("datasets", DATASETS, datasets)):
        seen: list[str] = []
        for spec in names:
            name = parse_spec(spec)[0] if kind == "methods" else spec
            if name not in registry and name not in seen:
                seen.append(name)
        if seen:
            missing[kind] = seen
    return missing


def _unregistered_error(where: str, missing: dict[str, list[str]], axes: dict[str, Sequence[str]]) -> ConfigError:
    """One message for every unregistered name, with the flags that run the rest."""
    from benchmark.registry import DATASETS, DETECTORS, METHODS

    registries = {"detectors": DETECTORS, "methods": METHODS, "datasets": DATASETS}
    rest, stuck = [], []
    for kind in missing:
        keep = [s for s in axes.get(kind, ()) if (parse_spec(s)[0] if kind == "methods" else s) not in missing[kind]]
        if keep:
            rest.append(f"--{kind} {','.join(keep)}")
        else:
            stuck.append(f"registered {kind}: {', '.join(registries[kind].names()) or '(none)'}")
    if stuck:
        how = "nothing of this axis is registered; " + "; ".join(stuck)
    else:
        how = f"to run the rest: {' '.join(rest)} (or --registered-only)"
    names = [(k, n) for k, ns in missing.items() for n in ns]
    if len(names) == 1:  # the registry's own message keeps its closest-match hint
        kind, name = names[0]
        try:
            registries[kind].resolve_name(name)
        except UnknownNameError as exc:
            return ConfigError(f"{where}: {exc}" + ("" if stuck else f" — {how}"))
    parts = []
    for kind, ns in missing.items():
        known = {r.lower(): r for r in registries[kind].names()}
        shown = []
        for n in ns:
            close = difflib.get_close_matches(n.lower(), list(known), n=1, cutoff=0.75)
            shown.append(f"{n} (did you mean {known[close[0]]!r}?)" if close else n)
        noun = kind if len(ns) > 1 else kind[:-1]
        parts.append(f"{len(ns)} {noun} not registered: {', '.join(shown)}")
    return ConfigError(f"{where}: {'; '.join(parts)} — {how}")


def check_registered(suite: Any, registered_only: bool = False, echo: Echo = _stderr) -> Any:
    """The suite if every name is registered; with ``registered_only`` its registered part.

    Otherwise one error names every unregistered detector, method and dataset at once
    (not the first one, mid-grid) and says how to run the rest.
    """
    axes = {"detectors": list(suite.detectors), "methods": list(suite.methods), "datasets": list(suite.datasets)}
    missing = unregistered_names(**axes)
    if not missing:
        return suite
    if not registered_only:
        raise _unregistered_error(suite.name, missing, axes)
    keep = {
        kind: [s for s in wanted if (parse_spec(s)[0] if kind == "methods" else s) not in missing.get(kind, [])]
        for kind, wanted in axes.items()
    }
    empty = [k for k, v in keep.items() if not v and (k != "detectors" or getattr(suite, "kind", "train") == "train")]
    if empty:
        raise _unregistered_error(suite.name, missing, axes)
    skipped = ", ".join(n for ns in missing.values() for n in ns)
    echo(f"suite {suite.name}: skipping what is not registered yet: {skipped}")
    return suite.with_axes(**keep)


def suite_size(suite: Any) -> tuple[int, list[str]]:
    """Cells (or label jobs) of the registered part of a suite, and the unregistered names."""
    missing = unregistered_names(suite.detectors, suite.methods, suite.datasets)
    names = [n for ns in missing.values() for n in ns]
    try:
        part = check_registered(suite, registered_only=True, echo=lambda _: None) if missing else suite
    except ConfigError:
        return 0, names
    return len(label_jobs(part) if part.kind == "labels" else part.cells()), names


# planning -------------------------------------------------------------------------------
def preflight(resolved: list[ResolvedCell], options: RunOptions) -> None:
    """Fail before any training if a dataset folder is missing or a file in it is bad
    (each split is read into its Arrow cache now: one clear error, nothing lost)."""
    from benchmark.data.loader import ensure_cached

    check_datasets({rc.cell.dataset for rc in resolved}, options)
    for dataset in sorted({rc.cell.dataset for rc in resolved}):
        for split in ("train", "test"):
            ensure_cached(dataset, split, options.data_root, options.cache_dir)


def check_datasets(names: Iterable[str], options: RunOptions) -> None:
    from benchmark.data import layout
    from benchmark.data.catalog import dataset_spec
    from benchmark.data.loader import default_data_root

    root = options.data_root if options.data_root is not None else default_data_root()
    for name in sorted(set(names)):
        spec = dataset_spec(name)
        if spec.embedded:
            continue
        for folder in spec.parts or (spec.folder,):
            layout.dataset_folder(root, folder)


def plan(cells: list[Cell], store: Store, review: Review | None = None) -> Plan:
    """Resolve every cell first, so a bad name fails before anything runs.

    Unregistered names are reported all at once; cells that resolve to the same key
    (``diffusion`` and ``diffusion[prior=both]`` when ``both`` is the default) run once.
    ``review`` (``benchmark.staleness.Review``) says which done records are stale and
    which cells are rerun from scratch; without it a done record is done.
    """
    missing = unregistered_names([c.detector for c in cells], [c.method for c in cells], [c.dataset for c in cells])
    if missing:
        axes = {
            "detectors": list(dict.fromkeys(c.detector for c in cells)),
            "methods": list(dict.fromkeys(c.method_spec for c in cells)),
            "datasets": list(dict.fromkeys(c.dataset for c in cells)),
        }
        raise _unregistered_error(store.suite, missing, axes)
    resolved, keys = [], set()
    for c in cells:
        rc = resolve(c)
        if rc.key not in keys:
            keys.add(rc.key)
            resolved.append(rc)
    p = Plan(resolved)
    for rc in resolved:
        record = store.read(rc.key)
        done = record is not None and record.get("status") == "done"
        p.verdicts[rc.key] = review(rc, record) if review is not None else ("done" if done else "todo")
        (p.todo if p.verdicts[rc.key] in ("todo", "redo") else p.done).append(rc)
    return p
