"""``pointbench bench gpu``: the whole GPU check in one command (target: < 8 min on one H100/H200).

Three stages, in this order (``--skip`` leaves any out), then one JSON file and one
section of docs/performance.md:

1. ``detectors``: ``bench detectors`` on the GPU in fp32 eager, bf16 autocast +
   channels_last, and that under ``torch.compile`` (compile time reported apart), with
   each setting's speed-up over fp32 eager.
2. ``packing``: 4 small-detector cells (ALCLNet, ``bench dispatch``'s packed cells) one
   at a time on the whole GPU, then all 4 at once on the same GPU (the local executor:
   one child process each, GPU memory capped at 1/4); cells per hour for both.
3. ``paper``: DNANet on SIRST under the ``paper`` profile for full, LESPS, PAL and MCLC
   (Diffuse to Detect's Table 2 column; 400 epochs of 213 images, about 5,300 steps a
   cell), the 4 cells packed on the one GPU; records in ``<results>/table2`` and the
   four IoUs beside Table 2's.

No Ray on the GPU machine (the packing uses the local executor), so what must travel
there is the working tree, SIRST (``python -m benchmark.bench.gpu_data``) and the
``datasets`` wheels it names. ``--tiny`` shrinks every stage to seconds on a CPU (two
small detectors without compile, 2 packed cells side by side on cores, 2-epoch paper
cells on 4 images, one after another) so a test runs the same code; its numbers mean
nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from benchmark.jsonsafe import strict

STAGES = ("detectors", "packing", "paper")
PAPER_METHODS = ("full", "lesps", "pal", "mclc")
# Diffuse to Detect, Table 2, DNANet trained and tested on SIRST (reference/published/
# diffuse_to_detect_table2.csv): the figures the paper stage is held against.
TABLE2_DNANET_SIRST = {
    "full": {"iou": 77.55, "niou": 77.76, "pd": 94.30, "fa": 11.66},
    "lesps": {"iou": 54.39, "niou": 61.13, "pd": 89.35, "fa": 30.18},
    "pal": {"iou": 64.83, "niou": 65.94, "pd": 92.78, "fa": 30.87},
    "mclc": {"iou": 69.61, "niou": 72.21, "pd": 96.96, "fa": 24.08},
}
TARGET_S = 8 * 60
DOC_BEGIN = "<!-- pointbench bench gpu: begin (written by the command; edits here are replaced) -->"
DOC_END = "<!-- pointbench bench gpu: end -->"


@dataclass(frozen=True)
class Size:
    """How big each stage is: ``FULL`` on a GPU, ``TINY`` for a test on the CPU."""

    detectors: tuple[str, ...] | None  # None: every registered detector
    modes: tuple[str, ...]
    batch: int
    size: int
    width: float
    warmup: int
    steps: int
    packed_cells: int
    packed_overrides: tuple[tuple[str, Any], ...] | None  # None: bench dispatch's packed cells
    paper_executor: str = "local"  # the four paper cells at once on the one GPU
    paper_overrides: dict[str, Any] = field(default_factory=dict)


FULL = Size(detectors=None, modes=("fp32", "bf16+channels_last", "compile+bf16+channels_last"), batch=16, size=256,
            width=1.0, warmup=2, steps=5, packed_cells=4, packed_overrides=None)
TINY = Size(detectors=("ALCLNet", "DNANet"), modes=("fp32", "bf16+channels_last"), batch=2, size=32, width=0.125,
            warmup=1, steps=1, packed_cells=2,
            packed_overrides=(("batch_size", 2), ("crop_size", 32), ("detector_width", 0.125), ("epochs", 1),
                              ("eval_every", 1), ("max_test_images", 2), ("max_train_images", 4)),
            paper_executor="serial",  # the packing stage runs the local executor already; a test need not twice
            paper_overrides={"epochs": 2, "batch_size": 2, "crop_size": 32, "detector_width": 0.125, "eval_every": 1,
                             "checkpoint_every": 1, "max_train_images": 4, "max_test_images": 4, "num_workers": 0})


@dataclass
class GpuRun:
    """Where the command reads and writes; ``device`` is cuda unless ``--device`` says otherwise."""

    data_root: Path | None
    cache_dir: Path | None
    results: Path
    device: str
    size: Size
    skip: tuple[str, ...] = ()
    echo: Callable[[str], None] = print


def stage_detectors(run: GpuRun) -> dict[str, Any]:
    """Images/s of every detector in each mode, and each mode's speed-up over fp32 eager."""
    from benchmark.bench.detectors_bench import bench_detectors
    from benchmark.registry import DETECTORS

    s = run.size
    names = list(s.detectors or DETECTORS.names())
    rows = bench_detectors(names, device=run.device, modes=s.modes, batch=s.batch, size=s.size,
                           warmup=s.warmup, steps=s.steps, width=s.width)
    fp32 = {r["detector"]: r["images_per_second"] for r in rows if r["mode"] == "fp32"}
    for r in rows:
        r["speedup_vs_fp32"] = r["images_per_second"] / fp32[r["detector"]] if fp32.get(r["detector"]) else None
    return {"rows": rows, "modes": list(s.modes)}


def _cells_run(executor: str, cells: list, store: Any, run: GpuRun, at_once: int | None) -> tuple[float, list[dict]]:
    from benchmark.dispatch import plan
    from benchmark.engine import RunOptions
    from benchmark.executor import DispatchSettings, get_executor

    options = RunOptions(data_root=run.data_root, cache_dir=run.cache_dir, device=run.device, progress=False)
    settings = DispatchSettings(max_concurrent=at_once, echo=run.echo)
    start = time.perf_counter()
    records = get_executor(executor)(plan(cells, store).todo, store, options, settings=settings)
    return time.perf_counter() - start, records


def stage_packing(run: GpuRun, scratch: Path) -> dict[str, Any]:
    """The same small cells one at a time (whole GPU) and all at once on it (1/N each)."""
    from benchmark.bench.dispatch_bench import PACKED, packed_cells
    from benchmark.cells import Cell
    from benchmark.store import Store

    n = run.size.packed_cells
    overrides = run.size.packed_overrides or PACKED
    cells = [Cell(c.detector, c.method, c.dataset, c.labels, c.seed, profile=c.profile, profile_overrides=overrides)
             for c in packed_cells(n)]
    out: dict[str, Any] = {"cells": n, "cell": cells[0].name}
    for label, executor, at_once in (("one_at_a_time", "serial", None), ("packed", "local", n)):
        seconds, records = _cells_run(executor, cells, Store(scratch / label, label), run, at_once)
        failed = [r["name"] for r in records if r["status"] != "done"]
        out[label] = {"seconds": seconds, "cells_per_hour": 3600 * n / seconds, "done": len(records) - len(failed),
                      "failed": failed}
    out["speedup"] = out["one_at_a_time"]["seconds"] / out["packed"]["seconds"]
    return out


def paper_cells(overrides: dict[str, Any] | None = None) -> list:
    """Table 2's DNANet/SIRST column: full, LESPS, PAL, MCLC under ``paper``, centroid points, seed 0."""
    from benchmark.suites import load_suite

    suite = load_suite("table2").with_axes(detectors=["DNANet"], methods=list(PAPER_METHODS), datasets=["SIRST"], seeds=[0])
    return (suite.with_profile_overrides(overrides, where="bench gpu --tiny") if overrides else suite).cells()


def stage_paper(run: GpuRun) -> dict[str, Any]:
    """The four paper cells packed on the one device; their metrics beside Table 2's."""
    from benchmark.store import Store

    cells = paper_cells(run.size.paper_overrides)
    store = Store(run.results, "table2")
    seconds, records = _cells_run(run.size.paper_executor, cells, store, run, len(cells))
    by_method = {r["method"]["name"]: r for r in (store.read(rc) for rc in _keys(cells)) if r}
    rows = []
    for method in PAPER_METHODS:
        r = by_method.get(method)
        done = r is not None and r["status"] == "done"
        m = r["metrics"]["last"]["subsets"]["all"] if done else {}
        rows.append({"method": method, "status": r["status"] if r else "missing", "key": r["key"] if r else None,
                     **{k: m.get(k) for k in ("iou", "niou", "pd", "fa")},
                     "table2_iou": TABLE2_DNANET_SIRST[method]["iou"],
                     "train_seconds": r["timing"]["train_seconds"] if done else None})
    return {"seconds": seconds, "rows": rows, "records": str(store.dir), "ran_now": len(records)}


def _keys(cells: list) -> list[str]:
    from benchmark.resolve import resolve

    return [resolve(c).key for c in cells]


def bench_gpu(run: GpuRun) -> dict[str, Any]:
    """Every stage not skipped, each timed; the whole result as one JSON-ready dict."""
    import tempfile

    import torch

    from benchmark.provenance import device_name

    device = torch.device(run.device)
    result: dict[str, Any] = {"device": device_name(device), "torch": torch.__version__, "cuda": torch.version.cuda,
                              "tiny": run.size is TINY, "skipped": list(run.skip), "stage_seconds": {}}
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pointbench-gpu-") as tmp:
        for stage in STAGES:
            if stage in run.skip:
                continue
            run.echo(f"bench gpu: {stage} ...")
            t = time.perf_counter()
            result[stage] = (stage_detectors(run) if stage == "detectors" else
                             stage_packing(run, Path(tmp)) if stage == "packing" else stage_paper(run))
            result["stage_seconds"][stage] = time.perf_counter() - t
            run.echo(f"bench gpu: {stage} took {result['stage_seconds'][stage]:.0f} s")
            if device.type == "cuda":
                torch.cuda.empty_cache()
    result["total_seconds"] = time.perf_counter() - start
    result["within_target"] = result["total_seconds"] < TARGET_S
    return result


# the docs section ---------------------------------------------------------------------
def _f(value: Any, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _detector_lines(d: dict[str, Any]) -> list[str]:
    lines = ["| detector | mode | images/s | x fp32 | s/step | warm-up s | peak GiB |", "|---|---|---|---|---|---|---|"]
    for r in d["rows"]:
        lines.append(f"| {r['detector']} | {r['mode']} | {_f(r['images_per_second'])} | {_f(r['speedup_vs_fp32'])} | "
                     f"{_f(r['step_seconds'], 3)} | {_f(r['warmup_seconds'], 1)} | {_f(r['peak_memory_gb'])} |")
    return lines


def _packing_lines(p: dict[str, Any]) -> list[str]:
    one, packed = p["one_at_a_time"], p["packed"]
    return [f"{p['cells']} x `{p['cell']}`: one at a time {one['seconds']:.0f} s ({one['cells_per_hour']:.0f} cells/h), "
            f"all at once {packed['seconds']:.0f} s ({packed['cells_per_hour']:.0f} cells/h): {p['speedup']:.2f}x"
            + (f"; failed: {', '.join(one['failed'] + packed['failed'])}" if one["failed"] or packed["failed"] else "")]


def _paper_lines(p: dict[str, Any]) -> list[str]:
    lines = [f"Records in `{p['records']}`; {p['seconds']:.0f} s for the four cells packed.", "",
             "| method | status | IoU | Table 2 IoU | nIoU | Pd | Fa (1e-6) | train s |", "|---|---|---|---|---|---|---|---|"]
    for r in p["rows"]:
        lines.append(f"| {r['method']} | {r['status']} | {_f(r['iou'])} | {r['table2_iou']:.2f} | {_f(r['niou'])} | "
                     f"{_f(r['pd'])} | {_f(r['fa'])} | {_f(r['train_seconds'], 0)} |")
    return lines


def doc_section(result: dict[str, Any], command: str) -> str:
    """The Markdown section ``bench gpu`` writes into docs/performance.md."""
    total = result["total_seconds"]
    lines = [DOC_BEGIN, "", "### `pointbench bench gpu`: the last run", "",
             f"`{command}` on {result['device']} (torch {result['torch']}, CUDA {result['cuda']})"
             + (" **at the --tiny size: the numbers check the code, not the hardware**" if result["tiny"] else "")
             + f": {total:.0f} s in all ({'within' if result['within_target'] else 'over'} the 8-minute target; "
             + ", ".join(f"{k} {v:.0f} s" for k, v in result["stage_seconds"].items()) + ")."]
    for stage, title, render in (("detectors", "Detectors, one training step (forward + backward + SGD)", _detector_lines),
                                 ("packing", "Packing small cells on one device", _packing_lines),
                                 ("paper", "DNANet on SIRST, paper profile, against Diffuse to Detect's Table 2", _paper_lines)):
        if stage in result:
            lines += ["", f"#### {title}", ""] + render(result[stage])
    return "\n".join(lines + ["", DOC_END]) + "\n"


def write_doc_section(path: Path, section: str) -> None:
    """Replace the previous run's section in ``path`` (or append one): reruns never duplicate it."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if DOC_BEGIN in text and DOC_END in text:
        head, rest = text.split(DOC_BEGIN, 1)
        text = head + section.rstrip("\n") + rest.split(DOC_END, 1)[1]
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def save(result: dict[str, Any], run: GpuRun, doc: Path | None, command: str) -> Path:
    """The JSON beside the records (strict: null, never NaN, as every record); the docs section where asked."""
    run.results.mkdir(parents=True, exist_ok=True)
    out = run.results / ("bench-gpu-tiny.json" if result["tiny"] else "bench-gpu.json")
    out.write_text(json.dumps(strict(result), indent=1, default=str, allow_nan=False) + "\n", encoding="utf-8")
    if doc is not None:
        write_doc_section(doc, doc_section(result, command))
    return out
