"""Done, stale, or to (re)run: what a record is worth today.

A record is done only for the inputs that made it (``benchmark.fingerprints``). Stale
records are found by ``pointbench status`` and kept by ``pointbench run`` unless it is
given ``--rerun-stale``; ``--force [PATTERN]`` reruns any cell from scratch.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from benchmark.errors import ConfigError, DataError

if TYPE_CHECKING:
    from benchmark.resolve import ResolvedCell

STALE_RULE = (
    "A done record is stale when an input it ran on has changed: the content of its training or test "
    "split (any listed image, mask or point-label file, or the split list), or the version of the "
    "installed plugin distribution its method or detector comes from. A different pointbench commit "
    "or version alone does not make a record stale (it is kept in the record's provenance): a change "
    "that changes results bumps the protocol version, which changes every key, and records of an "
    "older protocol read as pending."
)

# review verdicts: keep the record | keep it, but say it is stale | run | clear, then run
DONE, STALE, TODO, REDO = "done", "stale", "todo", "redo"


def literal_brackets(pattern: str) -> str:
    """Cell names contain brackets (``lesps[start=epoch:50]``): match them literally."""
    return "".join("[[]" if c == "[" else "[]]" if c == "]" else c for c in pattern)


def matches(name: str, patterns: Iterable[str]) -> bool:
    """Shell wildcards over cell names, case-insensitive, brackets literal."""
    return any(fnmatch.fnmatchcase(name.lower(), literal_brackets(p.lower())) for p in patterns)


@dataclass
class Review:
    """The verdict on each cell of a plan; remembers why a record is stale."""

    data_root: Path | None = None
    cache_dir: Path | None = None
    force: tuple[str, ...] = ()  # cell-name patterns to rerun from scratch ("*": all)
    rerun_stale: bool = False
    reasons: dict[str, list[str]] = field(default_factory=dict)  # key -> why its record is stale
    unchecked: dict[str, str] = field(default_factory=dict)  # dataset -> why staleness was not checked
    _splits: dict[tuple[str, str], tuple[str, int] | None] = field(default_factory=dict)

    def __call__(self, rc: ResolvedCell, record: Mapping[str, Any] | None) -> str:
        if self.force and matches(rc.cell.name, self.force):
            return REDO
        if record is None or record.get("status") != "done":
            return TODO
        reasons = self.stale_reasons(rc, record)
        if not reasons:
            return DONE
        self.reasons[rc.key] = reasons
        return REDO if self.rerun_stale else STALE

    def label_job(self, name: str, dataset: str, record: Mapping[str, Any] | None) -> str:
        """The verdict on a label-quality job (``kind = "labels"``): stale when its training
        split changed (the job's record keeps that split's fingerprint)."""
        if self.force and matches(name, self.force):
            return REDO
        if record is None or record.get("status") != "done":
            return TODO
        now = self.split_fingerprint(dataset, "train", None)
        if now is None or record.get("fingerprint") == now:
            return DONE
        self.reasons[str(record.get("key"))] = ["its train data changed"]
        return REDO if self.rerun_stale else STALE

    def stale_reasons(self, rc: ResolvedCell, record: Mapping[str, Any]) -> list[str] | None:
        """Why a done record no longer matches its inputs ([] if it does, None if the data
        cannot be read here to tell)."""
        kept = record.get("fingerprints")
        if not kept:
            return ["the record keeps no input fingerprints"]
        reasons = []
        for split, head in (("train", rc.profile.max_train_images), ("test", rc.profile.max_test_images)):
            now = self.split_fingerprint(rc.cell.dataset, split, head)
            if now is None:
                return None
            if kept.get("data", {}).get(split) != now:
                reasons.append(f"its {split} data changed")
        from benchmark.fingerprints import distributions

        was, now = kept.get("distributions", {}), distributions(rc)
        for kind in ("method", "detector"):
            if was.get(kind) != now.get(kind):
                reasons.append(f"its {kind} comes from {_dist(was.get(kind))}, now from {_dist(now.get(kind))}")
        return reasons

    def split_fingerprint(self, dataset: str, split: str, head: int | None) -> str | None:
        from benchmark.data.loader import split_fingerprint
        from benchmark.data.split import head_fingerprint

        if (dataset, split) not in self._splits:
            try:
                self._splits[dataset, split] = split_fingerprint(dataset, split, self.data_root, self.cache_dir)
            except DataError as exc:
                self._splits[dataset, split] = None
                self.unchecked.setdefault(dataset, str(exc))
        known = self._splits[dataset, split]
        return None if known is None else head_fingerprint(known[0], known[1], head)


def _dist(dist: Mapping[str, str] | None) -> str:
    return f"{dist['name']} {dist['version']}" if dist else "pointbench itself"


def check_patterns(patterns: Iterable[str], names: Iterable[str], suite: str) -> None:
    """Every ``--force`` pattern must match a cell: a typo must not silently rerun nothing."""
    names = list(names)
    for pattern in patterns:
        if not matches("", [pattern]) and not any(matches(n, [pattern]) for n in names):
            example = names[0] if names else "DNANet/full/synthetic/full/s0"
            raise ConfigError(
                f"--force {pattern!r} matches no cell of suite {suite}; cells are named like {example} "
                f"(`pointbench status` lists them; quote the pattern, e.g. --force 'DNANet/*')"
            )
