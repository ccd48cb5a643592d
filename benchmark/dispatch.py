"""Running a list of cells: drop the finished ones, run the rest, report progress.

Two executors share one skip-done rule and one record writer (both live in ``run_cell``
and the store): ``serial`` runs cells one after another in this process (debugging,
machines without Ray, CI); ``ray`` (``benchmark.ray_executor``, imported only when used)
runs them as Ray Tune trials across a cluster.

A cell being trained keeps a heartbeat file (``<results>/<suite>/.work/<key>.alive``:
host, pid, epoch), so ``pointbench status`` tells a running cell from an interrupted one
and a second ``pointbench run`` does not start a cell that another process is training.
"""

from __future__ import annotations

import difflib
import json
import os
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from benchmark.cells import Cell, config_key, parse_spec
from benchmark.errors import ConfigError, UnknownNameError
from benchmark.resolve import ResolvedCell, resolve
from benchmark.schema import SCHEMA_VERSION, Record
from benchmark.store import Store

if TYPE_CHECKING:  # the engine imports torch: planning and status do without it
    from benchmark.engine import RunOptions

Echo = Callable[[str], None]
Review = Callable[[ResolvedCell, "Record | None"], str]  # benchmark.staleness.Review: done | stale | todo | redo


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class DispatchSettings:
    """How an executor spreads cells; none of it changes a cell's result or key."""

    address: str | None = None  # an existing Ray cluster ("auto", "ray://host:10001", "host:6379")
    max_concurrent: int | None = None  # cap on cells training at once (None: as resources allow)
    gpus_per_cell: float | None = None  # overrides the policy in benchmark/resources.py
    cpus_per_cell: float | None = None
    retries: int = 2  # extra attempts of a failed cell; each resumes from its checkpoint
    suite_resources: Mapping[str, Any] = field(default_factory=dict)  # the suite's [resources] table
    echo: Echo = _stderr


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


# heartbeat and status -------------------------------------------------------------------
HEARTBEAT_EVERY_S = 10.0
HEARTBEAT_STALE_S = 60.0  # another host's heartbeat older than this: its writer is gone


def heartbeat_path(store: Store, key: str) -> Path:
    """Beside the work dir, not in it: the engine removes an emptied work dir when a cell ends."""
    return store.dir / ".work" / f"{key}.alive"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_heartbeat(path: Path) -> dict[str, Any] | None:
    """The heartbeat if its writer still lives (same host: its pid; elsewhere: a recent mtime)."""
    try:
        age = time.time() - path.stat().st_mtime
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        info = {}
        try:
            age = time.time() - path.stat().st_mtime
        except OSError:
            return None
    if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
        alive = _pid_alive(info["pid"])
    else:
        alive = age < HEARTBEAT_STALE_S
    return {**info, "age_s": age} if alive else None


class Heartbeat:
    """Marks one cell as being trained by this process, until the context exits."""

    def __init__(self, store: Store, key: str, executor: str, epochs: int | None = None):
        self.path = heartbeat_path(store, key)
        self.info: dict[str, Any] = {
            "host": socket.gethostname(), "pid": os.getpid(), "executor": executor,
            "started": time.time(), "epoch": 0, "epochs": epochs,
        }
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{key}", daemon=True)

    def _write(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.info), encoding="utf-8")  # readers tolerate a torn file
        except OSError:
            pass  # a heartbeat must never fail a cell

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_EVERY_S):
            try:
                os.utime(self.path)
            except OSError:
                self._write()

    def epoch(self, entry: Mapping[str, Any]) -> None:
        """``on_epoch`` hook: the last finished epoch, for ``pointbench status``."""
        self.info["epoch"] = entry.get("epoch", self.info["epoch"])
        self._write()

    def __enter__(self) -> "Heartbeat":
        self._write()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        self.path.unlink(missing_ok=True)


STATES = ("done", "failed", "running", "interrupted", "pending")


def cell_state(store: Store, key: str) -> str:
    """done | failed | running (a live heartbeat) | interrupted (a checkpoint, nobody on it) | pending.

    A live heartbeat wins over a failed record: that is a retry in progress.
    """
    record = store.read(key)
    if record is not None and record.get("status") == "done":
        return "done"
    if read_heartbeat(heartbeat_path(store, key)) is not None:
        return "running"
    if record is not None:
        return "failed"
    return "interrupted" if (store.work_dir(key) / "checkpoint.pt").is_file() else "pending"


def busy_elsewhere(todo: list[ResolvedCell], store: Store) -> list[ResolvedCell]:
    """Cells another live process is training now (their heartbeat is fresh)."""
    return [rc for rc in todo if read_heartbeat(heartbeat_path(store, rc.key)) is not None]


# executors ------------------------------------------------------------------------------
def summary_line(record: Record) -> str:
    if record["status"] != "done":
        return f"FAILED: {record.get('error', {}).get('type')}: {record.get('error', {}).get('message')}"
    m = record["metrics"]["last"]["subsets"]["all"]
    return f"IoU {m['iou']:.2f}  nIoU {m['niou']:.2f}  Pd {m['pd']:.2f}  Fa {m['fa']:.2f}"


def run_serial(
    todo: list[ResolvedCell],
    store: Store,
    options: RunOptions,
    echo: Echo = _stderr,
    settings: DispatchSettings | None = None,
) -> list[Record]:
    """One cell after another in this process; ``settings`` other than ``echo`` do not apply."""
    from benchmark.engine import run_cell
    from benchmark.progress import epoch_lines

    if settings is not None and echo is _stderr:
        echo = settings.echo
    records = []
    start = time.perf_counter()
    for i, rc in enumerate(todo, 1):
        state = cell_state(store, rc.key)
        if state in ("done", "running"):  # another run on the same results folder got there first
            echo(f"[{i}/{len(todo)}] {rc.cell.name}: skipped, {state} in another run")
            continue
        echo(f"[{i}/{len(todo)}] {rc.cell.name} ({rc.key}) ...")
        t = time.perf_counter()
        with Heartbeat(store, rc.key, "serial", rc.profile.epochs) as beat:
            on_epoch = epoch_lines(beat.epoch, rc, options, echo, f"[{i}/{len(todo)}]")
            record = run_cell(rc.cell, store, options, on_epoch=on_epoch)
        records.append(record)
        elapsed = time.perf_counter() - start
        eta = elapsed / i * (len(todo) - i)
        echo(f"[{i}/{len(todo)}] {rc.cell.name}: {summary_line(record)}  ({time.perf_counter() - t:.0f} s; "
             f"elapsed {elapsed:.0f} s, about {eta:.0f} s left)")
    return records


def run_ray(
    todo: list[ResolvedCell],
    store: Store,
    options: RunOptions,
    settings: DispatchSettings | None = None,
) -> list[Record]:
    """Ray Tune trials, one per cell (``benchmark.ray_executor``; Ray is imported only here)."""
    from benchmark.ray_executor import run_ray as _run_ray

    return _run_ray(todo, store, options, settings or DispatchSettings())


EXECUTORS: dict[str, Callable[..., list[Record]]] = {"serial": run_serial, "ray": run_ray}


# label-quality suites (kind = "labels") ------------------------------------------------
@dataclass(frozen=True)
class LabelJob:
    """One method's initial pseudo-labels for a dataset's training split: no training."""

    method: str  # spec, e.g. "mclc" or "diffusion[prior=superpixel]"
    dataset: str
    labels: str
    seed: int
    split: str = "train"

    @property
    def name(self) -> str:
        return f"{self.method}/{self.dataset}/{self.split}/{self.labels}/s{self.seed}"

    def resolved(self) -> tuple[Any, dict[str, Any], str]:
        """(method instance, identity, key); the key changes with the method's labels version."""
        from benchmark.registry import DATASETS, METHODS

        name, opts = parse_spec(self.method)
        method = METHODS.get(name)(**opts)
        identity = {
            "kind": "labels", "method": method.name, "options": method.options, "labels_version": method.labels_version,
            "dataset": DATASETS.resolve_name(self.dataset), "labels": self.labels, "seed": self.seed, "split": self.split,
        }
        return method, identity, config_key(identity)


def label_jobs(suite: Any) -> list[LabelJob]:
    """The label-quality grid of a ``kind = "labels"`` suite (detectors are not an axis)."""
    from benchmark.registry import METHODS

    jobs: list[LabelJob] = []
    for spec in suite.methods:
        accepted = METHODS.get(parse_spec(spec)[0]).label_types
        for dataset in suite.datasets:
            for labels in suite.labels:
                if labels not in accepted:
                    continue
                for seed in suite.seeds:
                    job = LabelJob(spec, dataset, labels, int(seed))
                    if job not in jobs:
                        jobs.append(job)
    return jobs


def run_label_jobs(jobs: list[LabelJob], store: Store, options: RunOptions, echo: Echo = _stderr) -> list[Record]:
    """Make (or read from the content-keyed cache) each job's labels on one core; one record each."""
    from datetime import datetime, timezone

    from benchmark.bench.common import one_core
    from benchmark.data.loader import load_split
    from benchmark.provenance import provenance
    from benchmark.pseudolabels import cached_initial_labels, label_quality

    records = []
    start = time.perf_counter()
    for i, job in enumerate(jobs, 1):
        method, identity, key = job.resolved()
        record: Record = {
            "schema_version": SCHEMA_VERSION, "kind": "labels", "key": key, "name": job.name, "suite": store.suite,
            "job": identity, "method": {**method.describe(), "spec": method.spec},
        }
        try:
            split = load_split(identity["dataset"], job.split, options.data_root, options.cache_dir)
            if any(s.mask is None for s in split.samples):
                raise ConfigError(f"{identity['dataset']} {job.split} has images without masks; label quality needs them")
            with Heartbeat(store, key, "labels"), one_core() as pinned:
                made = cached_initial_labels(method, split.samples, identity["dataset"], split.fingerprint, job.labels,
                                             job.seed, options.cache_dir)
            quality = label_quality(made.labels, split.samples)
            record.update(
                status="done", quality=quality, images=len(split), targets=made.targets, seconds=made.seconds,
                seconds_per_target=made.seconds_per_target, from_cache=made.from_cache, labels_key=made.key,
                cpu=pinned, fingerprint=split.fingerprint,
            )
        except Exception as exc:  # recorded; the other jobs go on
            import traceback

            record.update(status="failed", error={"type": type(exc).__name__, "message": str(exc),
                                                  "traceback": traceback.format_exc()})
        record["provenance"] = {**provenance("cpu"), "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        store.write(record)
        records.append(record)
        line = (f"IoU {record['quality']['iou']:.2f}  {record['seconds_per_target']:.4f} s/target"
                if record["status"] == "done" else summary_line(record))
        echo(f"[{i}/{len(jobs)}] {job.name}: {line}  (elapsed {time.perf_counter() - start:.0f} s)")
    return records
