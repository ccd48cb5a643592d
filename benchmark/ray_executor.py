"""The ``ray`` executor: one Ray Tune trial per cell, across every CPU and GPU Ray sees.

Why Tune over plain tasks: per-trial retries (``FailureConfig``), per-trial resources,
a trial table on disk, and callbacks for one progress display. What Tune does *not* own:
which cells are done (the harness's records decide, before launch), checkpoints (the
engine keeps its own ``.work/<key>/checkpoint.pt``, so a retried or restarted cell
resumes with or without Ray), and records (``run_cell`` writes them atomically). So a
run never uses ``Tuner.restore``: a rerun is a new experiment over the unfinished cells.

A trial whose ``run_cell`` returns a failed record raises after the record is written,
so Tune retries it (resuming from the checkpoint); the last failure stays recorded with
its error. A worker that dies without writing (killed, out of memory) gets a failed
record from the driver once its retries are spent.

Ray is imported by this module only, which ``benchmark.executor.get_executor("ray")``
imports on demand: ``pointbench list``, the serial executor and tests without Ray never
pay for it.
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Iterable

# Quiet and predictable before Ray is imported (some are read at import time):
# the legacy reporter, which verbose=0 silences completely (the new one still prints a
# configuration box); no chdir into a Ray temp folder (relative paths would land there);
# no result.json/progress.csv/TensorBoard files per trial (the records are the truth);
# no experiment-snapshot and Train-v2 migration warnings.
QUIET_ENV = {
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    "RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS": "0",
    "RAY_DEDUP_LOGS": "1",
}
for _k, _v in QUIET_ENV.items():
    os.environ.setdefault(_k, _v)
os.environ["RAY_CHDIR_TO_TRIAL_DIR"] = "0"  # not a preference: paths below are absolute, and must stay so
os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # the new output engine prints a configuration box even at verbose=0

import ray  # noqa: E402
from ray import tune  # noqa: E402
from ray.tune import Callback  # noqa: E402

from benchmark.cells import Cell  # noqa: E402
from benchmark.executor import DispatchSettings, Echo, summary_line  # noqa: E402
from benchmark.liveness import Heartbeat  # noqa: E402
from benchmark.engine import RunOptions, run_cell  # noqa: E402
from benchmark.errors import ConfigError  # noqa: E402
from benchmark.resolve import ResolvedCell, resolve  # noqa: E402
from benchmark.resources import ClusterShape, ResourceOverrides, cell_resources  # noqa: E402
from benchmark.schema import Record, cell_record, error_info, mark_failed, stamp  # noqa: E402
from benchmark.store import Store  # noqa: E402

log = logging.getLogger(__name__)

# what every Ray worker of a run gets in its environment
WORKER_ENV = {
    "RAY_CHDIR_TO_TRIAL_DIR": "0",
    "HF_DATASETS_OFFLINE": "1",  # nothing is downloaded at run time
    "HF_HUB_OFFLINE": "1",
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",
    "RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS": "0",
}
NOISY_LOGGERS = ("ray.tune", "ray.train", "ray.air", "ray.data")
EXPERIMENT = "tune"  # <results>/<suite>/.ray/tune/<cell>-<key>/: one folder per cell, reused by reruns
BUILTIN_PACKAGES = ("benchmark.", "detectors.", "methods.")


class CellFailed(RuntimeError):
    """Raised in a trial after ``run_cell`` recorded a failure, so Tune retries the cell."""


# worker side ----------------------------------------------------------------------------
def _limit_worker(cpus: float, gpu: float) -> None:
    """Make the logical reservation real enough: torch threads = CPUs, GPU memory share = GPU share."""
    import torch

    torch.set_num_threads(max(1, int(cpus)))
    if 0 < gpu < 1 and torch.cuda.is_available():
        torch.cuda.set_per_process_memory_fraction(gpu)


def cell_trainable(
    config: dict[str, Any],
    *,
    store_root: str,
    suite: str,
    options: RunOptions,
    modules: tuple[str, ...] = (),
) -> None:
    """One trial = one cell. Module-level, so Ray pickles it by reference."""
    for name in modules:  # the driver's own registrations (a user's method module, a test module)
        importlib.import_module(name)
    spec = config["cell"]
    resources = spec["resources"]
    _limit_worker(resources["cpu"], resources["gpu"])
    cell = Cell.from_dict(spec)
    rc = resolve(cell)
    if rc.key != spec["key"]:
        raise ConfigError(
            f"cell {cell.name} resolves to key {rc.key} on this node but {spec['key']} on the driver: "
            f"install the same pointbench version on every node"
        )
    if resources["gpu"] == 0 and options.device is None:
        options = replace(options, device="cpu")  # a GPU it did not reserve is another cell's
    store = Store(store_root, suite)
    epochs = rc.profile.epochs

    with Heartbeat(store, rc.key, "ray", epochs) as beat:

        def on_epoch(entry: dict[str, Any]) -> None:
            beat.epoch(entry)
            metrics = {"epoch": entry["epoch"], "epochs": epochs, "loss": entry["loss"]}
            if "test" in entry:
                metrics["iou"] = entry["test"]["iou"]
            tune.report(metrics)

        record = run_cell(cell, store, options, on_epoch=on_epoch)
    if record["status"] != "done":
        error = record.get("error", {})
        raise CellFailed(f"{cell.name}: {error.get('type')}: {error.get('message')}")
    # a last result even when no epoch ran here (resumed after the final epoch): Tune's
    # built-in progress callback prints "Trial ... completed" for trials without one
    tune.report({"epoch": epochs, "epochs": epochs, "status": "done", "key": rc.key})  # the driver reads these, not clocks


# driver side ----------------------------------------------------------------------------
def _fmt_s(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


class GridProgress(Callback):
    """One display for the whole grid: done, failed, running, elapsed and an estimate.

    The estimate counts finished cells plus the finished share of running ones (epochs
    done / epochs), so it moves before the first cell ends. On a terminal it is one
    updating bar with event lines above it; elsewhere (logs, CI) one line per event and
    a status line every ``every_s`` seconds.
    """

    def __init__(self, todo: list[ResolvedCell], store: Store, echo: Echo, retries: int, every_s: float = 30.0,
                 tty: bool | None = None):
        self.cells = {rc.key: rc for rc in todo}
        self.store, self.echo, self.retries, self.every_s = store, echo, retries, every_s
        self.running: dict[str, tuple[int, int]] = {}
        self.done: set[str] = set()
        self.failed: set[str] = set()
        self.attempts: dict[str, int] = {}
        self.before = {key: store.stamp(key) for key in self.cells}  # a record unlike this is this run's (no clocks)
        self.start = time.perf_counter()
        self.last_line = self.start
        self.tty = sys.stderr.isatty() if tty is None else tty
        self.bar = None
        if self.tty:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=len(todo), desc="cells", unit="cell", file=sys.stderr, dynamic_ncols=True)

    # state ------------------------------------------------------------------------------
    @staticmethod
    def _key(trial: Any) -> str:
        return trial.config["cell"]["key"]

    def counts(self) -> dict[str, int]:
        total = len(self.cells)
        running = len(self.running)
        finished = len(self.done) + len(self.failed)
        return {"total": total, "done": len(self.done), "failed": len(self.failed), "running": running,
                "pending": max(0, total - finished - running)}

    def estimate_s(self) -> float | None:
        total = len(self.cells)
        work = len(self.done) + len(self.failed) + sum(e / n for e, n in self.running.values() if n)
        if work <= 0:
            return None
        return (time.perf_counter() - self.start) * (total - work) / work

    def status_line(self) -> str:
        c = self.counts()
        eta = self.estimate_s()
        left = f", about {_fmt_s(eta)} left" if eta is not None and c["done"] + c["failed"] < c["total"] else ""
        return (f"{c['done']}/{c['total']} done, {c['failed']} failed, {c['running']} running, {c['pending']} pending; "
                f"elapsed {_fmt_s(time.perf_counter() - self.start)}{left}")

    def _say(self, event: str | None = None) -> None:
        if self.bar is not None:
            c = self.counts()
            self.bar.n = c["done"] + c["failed"]
            eta = self.estimate_s()
            self.bar.set_postfix_str(f"failed {c['failed']}, running {c['running']}"
                                     + (f", ~{_fmt_s(eta)} left" if eta is not None else ""), refresh=False)
            if event:
                self.bar.write(event, file=sys.stderr)
            self.bar.refresh()
        else:
            self.echo(f"[{self.status_line()}]" + (f" {event}" if event else ""))
        self.last_line = time.perf_counter()

    # Tune hooks -------------------------------------------------------------------------
    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        key = self._key(trial)
        rc = self.cells.get(key)
        self.attempts[key] = self.attempts.get(key, 0) + 1
        self.running[key] = (0, rc.profile.epochs if rc else 0)
        name = rc.cell.name if rc else key
        attempt = self.attempts[key]
        self._say(f"start {name}" + (f" (attempt {attempt}, resuming from its checkpoint)" if attempt > 1 else ""))

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        key = self._key(trial)
        if "epoch" in result and key in self.running:
            self.running[key] = (int(result["epoch"]), int(result.get("epochs") or self.running[key][1]))
        if self.bar is not None:
            self._say()
        elif "iou" in result and key in self.cells:  # a log file shows each evaluated epoch too
            self.echo(f"{self.cells[key].cell.name} epoch {result['epoch']}/{result.get('epochs')}: "
                      f"loss {result['loss']:.4f}, IoU {result['iou']:.2f}")

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        key = self._key(trial)
        self.running.pop(key, None)
        record = self.store.read(key)
        ok = record is not None and record.get("status") == "done"
        (self.done if ok else self.failed).add(key)
        name = self.cells[key].cell.name if key in self.cells else key
        self._say(f"{'done' if ok else 'FAILED'} {name}: {summary_line(record) if record else 'no record written'}")

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        key = self._key(trial)
        self.running.pop(key, None)
        name = self.cells[key].cell.name if key in self.cells else key
        self._say(f"failed {name} (attempt {self.attempts.get(key, 1)} of {self.retries + 1}): "
                  f"{_error_text(trial)}; retrying from its checkpoint")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        key = self._key(trial)
        self.running.pop(key, None)
        rc = self.cells.get(key)
        text = _error_text(trial)
        fresh = self.store.stamp(key) != self.before.get(key)  # rewritten since launch: by this run's trial
        record = self.store.read(key) if fresh else None
        if rc is not None and record is None:
            _write_lost_record(rc, self.store, text)  # the worker died before run_cell could write
            record = self.store.read(key)
        ok = record is not None and record.get("status") == "done"  # written, then the trial broke
        (self.done if ok else self.failed).add(key)
        name = rc.cell.name if rc else key
        self._say(f"{'done' if ok else 'FAILED'} {name} after {self.attempts.get(key, 1)} attempt(s): "
                  f"{summary_line(record) if record else text}")

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if self.bar is None and time.perf_counter() - self.last_line >= self.every_s and self.running:
            self._say()

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _error_text(trial: Any, limit: int = 300) -> str:
    """The gist of a trial's error: ``<cell>: <type>: <message>`` for a cell that raised,
    Ray's first sentence for a worker that died."""
    try:
        path = getattr(trial, "error_file", None)
        text = Path(path).read_text(encoding="utf-8") if path and Path(path).is_file() else ""
    except OSError:
        text = ""
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    for line in reversed(lines):
        if "CellFailed" in line:
            return line.split("CellFailed:", 1)[-1].strip()[:limit]
    for line in lines:
        if "The actor is dead" in line:  # e.g. killed by the OOM killer: Ray's text, without its advice
            return line[line.find("The actor is dead"):].split(" Some common causes")[0][:limit]
    return lines[-1][:limit] if lines else "the trial's worker stopped without an error message"


def _write_lost_record(rc: ResolvedCell, store: Store, message: str) -> None:
    """A failed record for a cell whose worker never wrote one (killed, out of memory)."""
    record = mark_failed(cell_record(rc, store.suite), error_info(kind="TrialError", message=message))
    store.write(stamp(record, executor="ray"))


def _absolute(options: RunOptions) -> RunOptions:
    """Workers may run elsewhere with another cwd: every path absolute, resolved here."""
    from benchmark.data.loader import default_cache_dir, default_data_root

    data_root = Path(options.data_root if options.data_root is not None else default_data_root()).expanduser().resolve()
    cache_dir = Path(options.cache_dir if options.cache_dir is not None else default_cache_dir()).expanduser().resolve()
    return replace(options, data_root=data_root, cache_dir=cache_dir, progress=False)


def _warm_caches(todo: list[ResolvedCell], options: RunOptions) -> None:
    """Build each dataset's Arrow cache once here, not in every worker at once."""
    from benchmark.data.loader import load_split

    for dataset in sorted({rc.cell.dataset for rc in todo}):
        for split in ("train", "test"):
            load_split(dataset, split, options.data_root, options.cache_dir)


def registration_modules(todo: Iterable[ResolvedCell]) -> tuple[str, ...]:
    """Modules outside pointbench that registered a cell's method or detector in this process.

    Workers import them before running a cell, so a method registered by the user's
    module (or a test module) exists on every worker too. ``__main__`` cannot be imported
    elsewhere: register in a module instead, or through an entry point.
    """
    from benchmark.registry import DETECTORS

    found: list[str] = []
    for rc in todo:
        for obj in (type(rc.method), DETECTORS.get(rc.cell.detector)):
            module = getattr(obj, "__module__", "") or ""
            if module and module != "__main__" and not module.startswith(BUILTIN_PACKAGES) and module not in found:
                found.append(module)
    return tuple(found)


def trial_dirname(rc_name: str, key: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.=+-]+", "_", rc_name).strip("_")[:96]
    return f"{safe}-{key}"


def connect(address: str | None) -> bool:
    """Join ``address`` or start a private local cluster; True if this call started the session.

    Without an address Ray would join any cluster it finds on this machine (another
    user's, or a stale ``ray_current_cluster`` file's); "local" always starts our own.
    """
    if ray.is_initialized():
        return False
    if address is None:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private, local cluster: no token warnings
    ray.init(
        address=address or "local",
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        runtime_env={"env_vars": WORKER_ENV},
    )
    return True


def run_ray(
    todo: list[ResolvedCell], store: Store, options: RunOptions, settings: DispatchSettings | None = None
) -> list[Record]:
    """Run ``todo`` as one Tune experiment; return the records of the cells that finished."""
    if not todo:
        return []
    settings = settings or DispatchSettings()
    echo = settings.echo
    t0 = time.perf_counter()
    before = {rc.key: store.stamp(rc.key) for rc in todo}
    started = connect(settings.address)
    quiet = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    try:
        cluster = ClusterShape.from_ray(ray.cluster_resources(), ray.nodes())
        overrides = ResourceOverrides(settings.gpus_per_cell, settings.cpus_per_cell).over(
            ResourceOverrides.from_suite(settings.suite_resources)
        )
        wanted = {rc.key: cell_resources(rc, cluster, overrides, cells_in_run=len(todo)) for rc in todo}
        options = _absolute(options)
        _warm_caches(todo, options)
        shares = sorted({r["gpu"] for r in wanted.values() if r["gpu"] > 0})
        placement = f"GPU shares {', '.join(f'{g:g}' for g in shares)}" if shares else "CPUs only"
        echo(f"ray: {cluster.cpus:g} CPUs, {cluster.gpus:g} GPUs in {len(ray.nodes())} node(s), ready in "
             f"{time.perf_counter() - t0:.1f} s; {len(todo)} cells on {placement}; "
             f"trial folders in {store.dir / '.ray' / EXPERIMENT}")
        progress = GridProgress(todo, store, echo, settings.retries)
        tuner = _tuner(todo, store, options, settings, wanted, progress)
        for name in NOISY_LOGGERS:  # trial errors are reported by GridProgress, once, with the cell's name
            logging.getLogger(name).setLevel(logging.CRITICAL)
        try:
            results = tuner.fit()
        finally:
            progress.close()
        echo(f"ray: {progress.status_line()}")
    finally:
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
        if started:
            ray.shutdown()
    reported = {r.metrics.get("key") for r in results if r.metrics and r.metrics.get("status") == "done"}
    return records_of_this_run(store, before, reported)


def records_of_this_run(store: Store, before: dict[str, str | None], reported: Iterable[str] = ()) -> list[Record]:
    """The records this run wrote: those its trials reported done, and those rewritten since
    launch (a failed cell's record). Content, not file times: on shared storage the file
    server's clock and the driver's may disagree by minutes."""
    reported = set(reported)
    written = [key for key, stamp in before.items() if key in reported or store.stamp(key) != stamp]
    return [r for r in (store.read(key) for key in written) if r is not None]


def _tuner(todo: list[ResolvedCell], store: Store, options: RunOptions, settings: DispatchSettings,
           wanted: dict[str, dict[str, float]], progress: GridProgress) -> tune.Tuner:
    """One grid-search trial per cell, each with the resources the driver chose for it."""
    cells = [{**rc.cell.to_dict(), "key": rc.key, "name": rc.cell.name, "resources": wanted[rc.key]} for rc in todo]
    names = {rc.key: trial_dirname(rc.cell.name, rc.key) for rc in todo}
    trainable = tune.with_parameters(
        cell_trainable, store_root=str(store.root), suite=store.suite, options=options,
        modules=registration_modules(todo),
    )
    trainable = tune.with_resources(trainable, _resources_of)
    return tune.Tuner(
        trainable,
        param_space={"cell": tune.grid_search(cells)},
        tune_config=tune.TuneConfig(
            max_concurrent_trials=settings.max_concurrent,
            reuse_actors=True,
            trial_name_creator=lambda t: names[t.config["cell"]["key"]],
            trial_dirname_creator=lambda t: names[t.config["cell"]["key"]],
        ),
        run_config=tune.RunConfig(
            name=EXPERIMENT,
            storage_path=str((store.dir / ".ray").resolve()),
            verbose=0,
            callbacks=[progress],
            failure_config=tune.FailureConfig(max_failures=settings.retries),
        ),
    )


def _resources_of(config: dict[str, Any]) -> dict[str, float]:
    """Tune asks each trial's resources from its config (computed once by the driver)."""
    r = config["cell"]["resources"]
    return {"cpu": r["cpu"], "gpu": r["gpu"]}
