"""Cell records on disk: ``<results>/<suite>/<key>.json``, written atomically.

A record exists only for a finished cell (done or failed); a cell in progress keeps its
checkpoint under ``<results>/<suite>/.work/<key>/`` and a heartbeat beside it. Loading turns every record into
rows of one tidy pandas frame (one row per cell x selection x subset).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from benchmark.schema import Record

log = logging.getLogger(__name__)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Temporary file in the same folder, fsync, rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=1, sort_keys=False, default=_jsonable)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, tuple)):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class Store:
    """The records of one suite."""

    def __init__(self, root: Path | str, suite: str):
        self.root = Path(root).resolve()
        self.suite = suite
        self.dir = self.root / suite

    def record_path(self, key: str) -> Path:
        return self.dir / f"{key}.json"

    def work_dir(self, key: str) -> Path:
        return self.dir / ".work" / key

    def read(self, key: str) -> Record | None:
        path = self.record_path(key)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            log.warning("ignoring unreadable record %s (%s); the cell will run again", path, exc)
            return None

    def status(self, key: str) -> str:
        """done | failed | running | interrupted | pending, as ``benchmark.liveness.cell_state``
        (the one rule) judges it."""
        from benchmark.liveness import cell_state

        return cell_state(self, key)

    def write(self, record: Record) -> Path:
        path = self.record_path(record["key"])
        write_json_atomic(path, record)
        return path

    def records(self) -> list[Record]:
        return [r for r in (self.read(p.stem) for p in sorted(self.dir.glob("*.json"))) if r is not None]


def load_records(root: Path | str, suites: Iterable[str] | None = None) -> list[Record]:
    """Every record under a results folder (all suites unless named)."""
    root = Path(root)
    names = list(suites) if suites is not None else sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return [r for name in names for r in Store(root, name).records()]


IDENTITY = ("suite", "key", "name", "detector", "method", "method_spec", "dataset", "labels", "seed", "profile")


def records_frame(records: Iterable[Record]):
    """One tidy frame: identity, selection (last/best), subset, metrics, provenance."""
    import pandas as pd

    rows = []
    for r in records:
        cell = r.get("cell", {})
        options = cell.get("method_options", {})
        base = {
            "suite": r.get("suite"),
            "key": r.get("key"),
            "name": r.get("name"),
            "detector": cell.get("detector"),
            "method": cell.get("method"),
            "method_spec": r.get("method", {}).get("spec", cell.get("method")),
            "dataset": cell.get("dataset"),
            "labels": cell.get("labels"),
            "seed": cell.get("seed"),
            "profile": cell.get("profile"),
            "status": r.get("status"),
            "privileged": r.get("method", {}).get("privileged"),
            "git_commit": r.get("provenance", {}).get("git_commit"),
            "device": r.get("provenance", {}).get("device"),
            "train_seconds": r.get("timing", {}).get("train_seconds"),
            **{f"opt_{k}": v for k, v in options.items()},
        }
        metrics = r.get("metrics") or {}
        if not metrics:
            rows.append({**base, "selection": None, "subset": None})
            continue
        for selection, evaluation in metrics.items():
            for subset, values in evaluation["subsets"].items():
                rows.append({**base, "selection": selection, "epoch": evaluation["epoch"], "subset": subset, **values})
    return pd.DataFrame(rows)
