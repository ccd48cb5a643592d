"""``pointbench bench dispatch``: what Ray costs per cell, and what GPU packing buys.

1. The same N tiny cells (DNANet at 1/8 width, 1 epoch, 2 training and 2 test images of
   the synthetic set, so a cell is almost all overhead) run serially in this process and
   then through the Ray executor; seconds per cell for each, and Ray's start-up apart.
   Both train with one torch thread per cell (what a 1-CPU Ray cell gets), so the
   training itself costs the same and the difference is dispatch. Ray's cost is split
   into what a run pays once (cluster start; Tune set-up and worker processes importing
   torch, found from two grid sizes) and what one more cell adds (slot seconds per cell
   beyond its training and evaluation).
2. N no-op Tune trials with the executor's settings: Tune's own per-trial cost.
3. Where a GPU exists: M small-detector cells packed on one GPU (1/M GPU each) against
   the same cells one at a time (a whole GPU each); cells per hour for each. Skipped,
   with the reason, on machines without one.

Records go to a temporary folder; the data cache is the usual one (``--cache-dir``).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmark.cells import Cell

TINY = (("detector_width", 0.125), ("epochs", 1), ("eval_every", 1), ("max_test_images", 2), ("max_train_images", 2))
PACKED = (("batch_size", 16), ("crop_size", 128), ("epochs", 2), ("eval_every", 2), ("max_test_images", 32),
          ("max_train_images", 128))


def tiny_cells(n: int, first_seed: int = 0) -> list[Cell]:
    return [Cell("DNANet", "full", "synthetic", "full", s, profile="smoke", profile_overrides=TINY)
            for s in range(first_seed, first_seed + n)]


def packed_cells(n: int) -> list[Cell]:
    """Small-detector cells at the published width (ALCLNet: 0.25 GPU by the policy)."""
    return [Cell("ALCLNet", "full", "synthetic", "full", s, profile="short", profile_overrides=PACKED) for s in range(n)]


def _compute_seconds(records: list[dict[str, Any]]) -> float:
    """Mean train + evaluation seconds per cell: the part that is not overhead."""
    spent = [r.get("timing", {}).get("train_seconds", 0) + r.get("timing", {}).get("eval_seconds", 0) for r in records]
    return sum(spent) / len(spent) if spent else float("nan")


def _run(executor: str, cells: list[Cell], root: Path, suite: str, options: Any, settings: Any) -> tuple[float, list[dict]]:
    from benchmark.dispatch import plan
    from benchmark.executor import get_executor
    from benchmark.store import Store

    store = Store(root, suite)
    todo = plan(cells, store).todo
    start = time.perf_counter()
    records = get_executor(executor)(todo, store, options, settings=settings)
    seconds = time.perf_counter() - start
    failed = [r for r in records if r["status"] != "done"]
    if failed or len(records) != len(cells):
        raise RuntimeError(f"{executor}: {len(failed)} of {len(cells)} bench cells failed: {failed[:1]}")
    return seconds, records


def _noop(config: dict[str, Any]) -> None:
    from ray import tune

    tune.report({"i": config["i"]})  # one result, as a cell reports (a trial without one makes Tune print)


def _tune_noop(n: int, root: Path) -> float:
    from ray import tune

    start = time.perf_counter()
    tune.Tuner(
        tune.with_resources(_noop, {"cpu": 1}),
        param_space={"i": tune.grid_search(list(range(n)))},
        tune_config=tune.TuneConfig(reuse_actors=True),
        run_config=tune.RunConfig(name="noop", storage_path=str(root / "noop"), verbose=0),
    ).fit()
    return time.perf_counter() - start


def bench_dispatch(cells: int = 8, cache_dir: Path | None = None, gpu_cells: int = 4, address: str | None = None) -> dict[str, Any]:
    import torch

    from benchmark.engine import RunOptions, run_cell
    from benchmark.executor import DispatchSettings
    from benchmark.provenance import device_name
    from benchmark.store import Store

    quiet = DispatchSettings(echo=lambda _: None, address=address, gpus_per_cell=0.0)  # both sides on CPUs
    options = RunOptions(cache_dir=cache_dir, progress=False, device="cpu")
    result: dict[str, Any] = {"cells": cells, "cell": tiny_cells(1)[0].name + " (1 epoch, 2+2 images, width 1/8)",
                              "cpu": device_name("cpu"), "cpus_visible": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="pointbench-bench-") as tmp:
        root = Path(tmp)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            run_cell(tiny_cells(1, first_seed=10_000)[0], Store(root, "warmup"), options)  # imports, data cache
            seconds, records = _run("serial", tiny_cells(cells), root, "serial", options, quiet)
        finally:
            torch.set_num_threads(threads)
        compute = _compute_seconds(records)
        result["serial"] = {"seconds": seconds, "per_cell_s": seconds / cells, "compute_per_cell_s": compute,
                            "overhead_per_cell_s": seconds / cells - compute}
        result.update(_bench_ray(cells, root, options, quiet, cache_dir, gpu_cells, address))
    result["torch_threads"] = torch.get_num_threads()
    return result


def _bench_ray(cells: int, root: Path, options: Any, quiet: Any, cache_dir: Path | None, gpu_cells: int,
               address: str | None) -> dict[str, Any]:
    """The Ray side: start-up, two grid sizes (fixed and per-cell cost), a no-op Tune grid, GPU packing."""
    import logging

    import ray

    from benchmark import ray_executor

    result: dict[str, Any] = {}
    start = time.perf_counter()
    started = ray_executor.connect(address)
    startup = time.perf_counter() - start
    levels = {n: logging.getLogger(n).level for n in ray_executor.NOISY_LOGGERS}
    try:
        cluster = ray.cluster_resources()
        slots = max(1, int(cluster.get("CPU", 1)))  # tiny cells take 1 CPU each
        small = min(slots, cells)
        # two grid sizes in one session: the difference gives the cost of one more cell,
        # the rest is what every run pays once (Tune set-up, worker processes importing torch)
        t_small, _ = _run("ray", tiny_cells(small, first_seed=1000), root, "ray-small", options, quiet)
        seconds, records = _run("ray", tiny_cells(cells), root, "ray", options, quiet)
        compute = _compute_seconds(records)
        at_once = min(slots, cells)
        marginal = (seconds - t_small) * at_once / (cells - small) if cells > small else float("nan")
        result["ray"] = {
            "startup_s": startup if started else None, "seconds": seconds, "per_cell_s": seconds / cells,
            "per_cell_with_startup_s": (seconds + (startup if started else 0)) / cells,
            "cells_at_once": at_once, "compute_per_cell_s": compute,
            "slot_seconds_per_extra_cell": marginal,
            "overhead_per_extra_cell_s": marginal - compute,
            "fixed_per_run_s": t_small - small * marginal / at_once if cells > small else float("nan"),
            "cluster_cpus": cluster.get("CPU", 0), "cluster_gpus": cluster.get("GPU", 0),
        }
        for n in ray_executor.NOISY_LOGGERS:
            logging.getLogger(n).setLevel(logging.CRITICAL)
        noop = _tune_noop(cells, root)
        result["tune_noop"] = {"seconds": noop, "per_trial_s": noop / cells}
        result["gpu"] = _gpu_packing(gpu_cells, root, cache_dir, cluster.get("GPU", 0), address)
    finally:
        for n, level in levels.items():
            logging.getLogger(n).setLevel(level)
        if started:
            ray.shutdown()
    return result


def _gpu_packing(n: int, root: Path, cache_dir: Path | None, cluster_gpus: float, address: str | None) -> dict[str, Any]:
    """N small cells at 1/N GPU each, against the same cells at one GPU each (one at a time)."""
    import torch

    from benchmark.executor import DispatchSettings
    from benchmark.engine import RunOptions

    if cluster_gpus < 1:
        why = "no CUDA device here" if not torch.cuda.is_available() else "the Ray cluster reports no GPU"
        return {"skipped": f"{why}: GPU packing not measured (run `pointbench bench dispatch` on a GPU machine)"}
    options = RunOptions(cache_dir=cache_dir, progress=False)
    out: dict[str, Any] = {"cells": n, "cell": packed_cells(1)[0].name, "gpu": torch.cuda.get_device_name(0)
                           if torch.cuda.is_available() else None}
    for label, share, at_once in (("one_at_a_time", 1.0, 1), ("packed", 1.0 / n, n)):
        settings = DispatchSettings(echo=lambda _: None, address=address, gpus_per_cell=share, cpus_per_cell=1,
                                    max_concurrent=at_once)
        seconds, records = _run("ray", packed_cells(n), root / label, label, options, settings)
        out[label] = {"gpu_share": share, "seconds": seconds, "cells_per_hour": 3600 * n / seconds,
                      "train_images_per_s": sum(r["timing"]["train_images_per_second"] or 0 for r in records) / n}
    out["speedup"] = out["one_at_a_time"]["seconds"] / out["packed"]["seconds"]
    return out


def format_dispatch(r: dict[str, Any]) -> str:
    s, y, t = r["serial"], r["ray"], r["tune_noop"]
    lines = [
        f"{r['cells']} tiny cells: {r['cell']} on {r['cpu']} ({r['cpus_visible']} CPUs visible), one torch thread each",
        f"serial: {s['per_cell_s']:.2f} s per cell ({s['seconds']:.1f} s); training+evaluation {s['compute_per_cell_s']:.2f} s, "
        f"overhead {s['overhead_per_cell_s']:.2f} s per cell",
        f"ray:    {y['per_cell_s']:.2f} s per cell ({y['seconds']:.1f} s, {y['cells_at_once']} at once); training+evaluation "
        f"{y['compute_per_cell_s']:.2f} s; one more cell adds {y['slot_seconds_per_extra_cell']:.2f} slot-s "
        f"(overhead {y['overhead_per_extra_cell_s']:.2f} s); every run pays {y['fixed_per_run_s']:.1f} s once"
        + (f" plus {y['startup_s']:.1f} s to start Ray ({y['per_cell_with_startup_s']:.2f} s per cell all in)"
           if y["startup_s"] is not None else " (joined a running cluster)"),
        f"tune:   {t['per_trial_s']:.2f} s per no-op trial ({t['seconds']:.1f} s for {r['cells']})",
    ]
    g = r["gpu"]
    if "skipped" in g:
        lines.append(f"gpu:    {g['skipped']}")
    else:
        lines.append(f"gpu:    {g['cells']} x {g['cell']} on {g['gpu']}: one at a time {g['one_at_a_time']['cells_per_hour']:.0f} "
                     f"cells/h, packed at {g['packed']['gpu_share']:g} GPU {g['packed']['cells_per_hour']:.0f} cells/h "
                     f"({g['speedup']:.2f}x)")
    return "\n".join(lines)
