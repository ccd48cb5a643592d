"""What a record ran on, kept in the record so that a changed input is found, not reused.

``fingerprints`` in every record of a cell that loaded its data:

    data           {"train": ..., "test": ...}  content hashes of the splits as the cell
                   used them (``benchmark.data.loader``; ``:headN`` for the first N images)
    pointbench     {"version", "git_commit", "git_dirty"} of the harness
    distributions  {"method": {"name", "version"}, "detector": {...}} for entries that come
                   from an installed plugin (an entry point); absent for built-in ones

``benchmark.staleness`` compares them with the inputs of today.
"""

from __future__ import annotations

from typing import Any

from benchmark.provenance import git_state
from benchmark.resolve import ResolvedCell


def code_version() -> dict[str, Any]:
    import benchmark

    state = git_state()
    return {"version": benchmark.__version__, "git_commit": state["git_commit"], "git_dirty": state["git_dirty"]}


def distributions(rc: ResolvedCell) -> dict[str, dict[str, str]]:
    """The plugin distributions (name, version) a cell's method and detector come from."""
    from benchmark.registry import DETECTORS, METHODS

    found = {}
    for kind, registry, name in (("method", METHODS, rc.cell.method), ("detector", DETECTORS, rc.cell.detector)):
        dist = registry.distribution(name)
        if dist is not None:
            found[kind] = {"name": dist[0], "version": dist[1]}
    return found


def record_fingerprints(rc: ResolvedCell, train: str, test: str) -> dict[str, Any]:
    """The ``fingerprints`` block of a record (``train``/``test``: the splits' fingerprints)."""
    return {"data": {"train": train, "test": test}, "pointbench": code_version(), "distributions": distributions(rc)}
