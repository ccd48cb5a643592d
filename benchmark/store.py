"""Cell records on disk: ``<results>/<suite>/<key>.json``, written atomically.

A record exists only for a finished cell (done or failed); a cell in progress keeps its
checkpoint under ``<results>/<suite>/.work/<key>/`` and a heartbeat beside it; a record
replaced by a rerun (``--force``, ``--rerun-stale``) is kept as
``<results>/<suite>/.replaced/<key>.json``. Loading turns every record into rows of one
tidy pandas frame (one row per cell x selection x subset).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable

from benchmark.errors import PointbenchError
from benchmark.jsonsafe import strict
from benchmark.schema import Record

log = logging.getLogger(__name__)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Temporary file in the same folder, fsync, rename: readers never see half a file.

    Strict JSON (NaN written as null, ``benchmark.jsonsafe``), so any JSON reader parses a record.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(strict(obj), f, indent=1, sort_keys=False, default=_jsonable, allow_nan=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(value: Any) -> Any:
    """Only reached for a type ``strict`` leaves alone: name it rather than write a wrong value."""
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class ResultsError(PointbenchError):
    """The results folder cannot take a record (read-only, full, not a folder)."""


def results_error(folder: Path, exc: OSError) -> ResultsError:
    what = exc.strerror or type(exc).__name__
    where = f" ({exc.filename})" if exc.filename else ""
    return ResultsError(f"cannot write records in the results folder {str(folder)!r}: {what}{where}; "
                        f"free space there or pass --results DIR with a writable folder")


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
        try:
            write_json_atomic(path, record)
        except OSError as exc:
            raise results_error(self.dir, exc) from None
        return path

    def check_writable(self) -> None:
        """Fail before any training if records could not be written here."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.dir):
                pass
        except OSError as exc:
            raise results_error(self.dir, exc) from None

    def stamp(self, key: str) -> str | None:
        """A digest of the record file as it is now (None: no record). Two stamps differ when
        anyone rewrote the record in between, on any host, whatever the clocks say."""
        try:
            return hashlib.md5(self.record_path(key).read_bytes()).hexdigest()
        except FileNotFoundError:
            return None

    def retire(self, key: str) -> None:
        """Before a rerun: keep the old record aside (``.replaced/``) and drop the checkpoint,
        so the cell starts from scratch."""
        path = self.record_path(key)
        try:
            if path.is_file():
                (self.dir / ".replaced").mkdir(parents=True, exist_ok=True)
                os.replace(path, self.dir / ".replaced" / path.name)
            (self.work_dir(key) / "checkpoint.pt").unlink(missing_ok=True)
        except OSError as exc:
            raise results_error(self.dir, exc) from None

    def records(self) -> list[Record]:
        return [r for r in (self.read(p.stem) for p in sorted(self.dir.glob("*.json"))) if r is not None]


def suite_names(root: Path | str) -> list[str]:
    """The suites that have records in a results folder (``results/reference/`` holds
    suites one level down and is read only when named: ``--results results/reference``)."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and any(p.glob("*.json")))


def load_records(root: Path | str, suites: Iterable[str] | None = None) -> list[Record]:
    """Every record under a results folder (all suites unless named)."""
    names = list(suites) if suites is not None else suite_names(root)
    return [r for name in names for r in Store(root, name).records()]


IDENTITY = ("suite", "key", "variant", "name", "detector", "method", "method_spec", "dataset", "labels", "seed", "profile",
            "profile_changes", "protocol_version")


def records_frame(records: Iterable[Record]):
    """One tidy frame: identity, selection (last/best), subset, metrics, provenance.

    ``variant`` (the key less the seed) is what seeds are grouped by; ``profile_changes``
    and ``protocol_version`` say how a variant differs from the named profile and which
    protocol it ran.
    """
    import pandas as pd

    from benchmark.variants import profile_changes, record_variant

    rows = []
    for r in records:
        cell = r.get("cell", {})
        options = cell.get("method_options", {})
        config = r.get("config") or {}
        base = {
            "suite": r.get("suite"),
            "key": r.get("key"),
            "variant": record_variant(r),
            "name": r.get("name"),
            "detector": cell.get("detector"),
            "method": cell.get("method"),
            "method_spec": r.get("method", {}).get("spec", cell.get("method")),
            "dataset": cell.get("dataset"),
            "labels": cell.get("labels"),
            "seed": cell.get("seed"),
            "profile": cell.get("profile"),
            "profile_changes": profile_changes(config) if config else None,
            "protocol_version": config.get("protocol_version"),
            "status": r.get("status"),
            "privileged": r.get("method", {}).get("privileged"),
            "caveats": " ".join(r.get("method", {}).get("caveats") or []) or None,
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
