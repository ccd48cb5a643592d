"""The ``pointbench`` command: run, list, status, report, bench.

Every subcommand is a function of its parsed arguments (no global state). User errors
(bad paths, unknown names, malformed suites) print one message naming the fix and exit
with status 2; a run with failed cells exits with status 1.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from benchmark.errors import PointbenchError

EPILOG = """examples:
  pointbench run                                   # the quick suite on the embedded synthetic data
  pointbench run --suite table1 --data-root DIR    # a paper table on the real datasets
  pointbench run --suite smoke --data-root ../shared/data --methods full,point
  pointbench list detectors 'DNA*' --json
  pointbench run --suite table1 --data-root DIR --executor ray --address auto   # on a Ray cluster
  pointbench run --suite table1 --registered-only  # only the cells whose methods exist today
  pointbench status --suite quick
  pointbench report --selection best
  pointbench bench metrics --data-root ../shared/data --json
  pointbench bench dispatch --json                 # Ray vs serial overhead per cell
  pointbench labels --method point --dataset SIRST --labels centroid --data-root ../shared/data
"""


def _csv(text: str) -> list[str]:
    return [t for t in (p.strip() for p in text.replace(" ", ",").split(",")) if t]


def _methods(text: str) -> list[str]:
    """Comma-separated specs, commas inside [...] kept: 'full,lesps[start=epoch:50,k=0.5]'."""
    out, depth, current = [], 0, ""
    for ch in text:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "," and depth == 0:
            out.append(current.strip())
            current = ""
        else:
            current += ch
    if current.strip():
        out.append(current.strip())
    return out


def _seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers, got {text!r}") from None


def _emit(args: argparse.Namespace, payload: Any, text: Callable[[], str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(payload, indent=1, default=str))
    else:
        print(text())


# run --------------------------------------------------------------------------------
def _suite_from_args(args: argparse.Namespace):
    from benchmark.suites import load_suite

    return load_suite(args.suite).with_axes(
        detectors=args.detectors, methods=args.methods, datasets=args.datasets,
        labels=args.labels, seeds=args.seeds, profile=args.profile,
    )


def _run_options(args: argparse.Namespace):
    from benchmark.engine import RunOptions

    return RunOptions(
        data_root=Path(args.data_root) if args.data_root else None,
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        device=args.device,
        keep_checkpoint=args.keep_checkpoints,
        threads=getattr(args, "threads", None),
    )


def _dispatch_settings(args: argparse.Namespace, suite: Any):
    from benchmark.executor import DispatchSettings

    return DispatchSettings(
        address=args.address,
        max_concurrent=args.max_concurrent,
        gpus_per_cell=args.gpus_per_cell,
        cpus_per_cell=args.cpus_per_cell,
        retries=args.retries,
        suite_resources=suite.resources,
    )


def _choose_executor(args: argparse.Namespace) -> None:
    """Serial unless asked, or unless --address names a cluster (docs/performance.md,
    "Dispatch": Ray's 13-20 s of start-up buys little on the two-cell quick suite)."""
    if args.executor is None:
        args.executor = "ray" if args.address else "serial"
    if args.executor == "serial":
        used = [f for f, v in (("--address", args.address), ("--max-concurrent", args.max_concurrent),
                               ("--gpus-per-cell", args.gpus_per_cell), ("--cpus-per-cell", args.cpus_per_cell)) if v is not None]
        if used:
            raise PointbenchError(f"{', '.join(used)} only apply to --executor ray")


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark.dispatch import check_registered, plan, preflight
    from benchmark.executor import get_executor
    from benchmark.liveness import busy_elsewhere
    from benchmark.store import Store

    _choose_executor(args)
    suite = check_registered(_suite_from_args(args), args.registered_only)
    if suite.kind == "labels":
        return _run_labels(args, suite)
    store = Store(args.results, suite.name)
    work = plan(suite.cells(), store)
    options = _run_options(args)
    preflight(work.todo, options)
    busy = busy_elsewhere(work.todo, store)
    todo = [rc for rc in work.todo if rc not in busy]
    print(
        f"suite {suite.name}: {len(work.resolved)} cells, {len(work.done)} already done, {len(todo)} to run "
        f"(profile {suite.profile}; executor {args.executor}; records in {store.dir})"
        + (f"; {len(busy)} skipped: another process is training them" if busy else ""),
        file=sys.stderr,
    )
    records = get_executor(args.executor)(todo, store, options, settings=_dispatch_settings(args, suite))
    failed = [r for r in records if r["status"] != "done"]
    keys = {rc.key for rc in work.resolved}
    frame_records = [r for r in store.records() if r["key"] in keys]
    _print_report(args, frame_records)
    for r in failed:
        print(f"failed: {r['name']}: {r['error']['type']}: {r['error']['message']} (record {store.record_path(r['key'])})",
              file=sys.stderr)
    unfinished = len(todo) - len(records)
    if unfinished:
        print(f"{unfinished} cell(s) did not finish; run the same command again to resume them", file=sys.stderr)
    return 1 if failed or unfinished else 0


def _run_labels(args: argparse.Namespace, suite: Any) -> int:
    """A ``kind = "labels"`` suite: pseudo-label quality per method x dataset x labels x seed."""
    from benchmark.dispatch import check_datasets
    from benchmark.label_jobs import label_jobs, run_label_jobs
    from benchmark.store import Store

    store = Store(args.results, suite.name)
    jobs = label_jobs(suite)
    keyed = [(job, job.resolved()[2]) for job in jobs]
    todo = [job for job, key in keyed if store.status(key) != "done"]
    options = _run_options(args)
    check_datasets({j.dataset for j in todo}, options)
    print(f"suite {suite.name} (label quality, no training; one core, in this process): {len(jobs)} jobs, "
          f"{len(jobs) - len(todo)} already done, {len(todo)} to run (records in {store.dir})", file=sys.stderr)
    records = run_label_jobs(todo, store, options)
    keys = {key for _, key in keyed}
    _print_label_report(args, [r for r in store.records() if r["key"] in keys])
    return 1 if any(r["status"] != "done" for r in records) else 0


def _print_label_report(args: argparse.Namespace, records: list[dict]) -> None:
    """Mean (± std over seeds) label IoU and seconds per target, per method x dataset x labels."""
    import pandas as pd

    rows = [{"method": r["method"]["spec"], "dataset": r["job"]["dataset"], "labels": r["job"]["labels"],
             "seed": r["job"]["seed"], "iou": r["quality"]["iou"], "niou": r["quality"]["niou"],
             "s_per_target": r["seconds_per_target"]} for r in records if r.get("status") == "done"]
    if not rows:
        _emit(args, [], lambda: "(no finished label jobs)")
        return
    frame = pd.DataFrame(rows)
    g = frame.groupby(["method", "dataset", "labels"], sort=False)
    out = g[["iou", "niou", "s_per_target"]].mean()
    out["iou_std"] = g["iou"].std(ddof=1)
    out["seeds"] = g.size()
    out = out.reset_index()

    def text() -> str:
        shown = out.assign(
            iou=[f"{m:.2f}" + ("" if pd.isna(s) else f" ± {s:.2f}") for m, s in zip(out["iou"], out["iou_std"])],
            niou=out["niou"].map(lambda v: f"{v:.2f}"), s_per_target=out["s_per_target"].map(lambda v: f"{v:.4f}"),
        ).drop(columns=["iou_std"])
        return _table(shown.to_dict(orient="records"), ["method", "dataset", "labels", "iou", "niou", "s_per_target", "seeds"])

    _emit(args, out.to_dict(orient="records"), text)


# report -----------------------------------------------------------------------------
def _print_report(args: argparse.Namespace, records: list[dict]) -> None:
    from benchmark.store import records_frame
    from reports.tables import markdown_table, summarize

    frame = records_frame(records)
    summary = summarize(frame, selection=getattr(args, "selection", "last"), subset=getattr(args, "subset", "all"))
    _emit(args, summary.to_dict(orient="records"), lambda: markdown_table(summary))


def cmd_report(args: argparse.Namespace) -> int:
    from benchmark.store import load_records

    records = load_records(args.results, args.suite and [args.suite])
    if not records:
        raise PointbenchError(f"no records under {args.results!r}; run `pointbench run` first or pass --results DIR")
    _print_report(args, records)
    return 0


# list -------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    from benchmark.registry import DATASETS, DETECTORS, METHODS

    pattern = args.pattern or "*"
    if args.kind == "detectors":
        from benchmark.detector_stats import detector_cost

        rows = [{**detector_cost(n), "source": DETECTORS.entry(n).source} for n in DETECTORS.names(pattern)]
        _emit(args, rows, lambda: _table(rows, ["name", "params_m", "macs_g", "side_outputs", "paper_lr", "paper_loss"]))
    elif args.kind == "methods":
        rows = []
        for n in METHODS.names(pattern):
            entry = METHODS.entry(n)
            cls = entry.obj
            fixed = isinstance(inspect.getattr_static(cls, "privileged"), bool)
            rows.append({
                "name": n, "description": cls.description, "labels": list(cls.label_types),
                "privileged": cls.privileged if fixed else f"by option (default {cls.privileged})", "options": dict(cls.defaults), "protocol": cls.protocol,
                "source": entry.source,
            })
        _emit(args, rows, lambda: _table(rows, ["name", "labels", "privileged", "options", "description"]))
    elif args.kind == "datasets":
        rows = [
            {"name": n, "description": s.description, "mean": s.mean, "std": s.std, "parts": list(s.parts), "embedded": s.embedded}
            for n in DATASETS.names(pattern) for s in [DATASETS.get(n)]
        ]
        _emit(args, rows, lambda: _table(rows, ["name", "mean", "std", "parts", "description"]))
    elif args.kind == "suites":
        from benchmark.suites import available_suites, load_suite

        from benchmark.dispatch import suite_size

        rows = []
        for n in available_suites():
            s = load_suite(n)
            cells, unregistered = suite_size(s)
            rows.append({"name": n, "kind": s.kind, "profile": s.profile if s.kind == "train" else "-", "cells": cells,
                         "unregistered": unregistered, "description": s.description})
        _emit(args, rows, lambda: _table(rows, ["name", "kind", "profile", "cells", "unregistered", "description"]))
    else:
        from benchmark.profiles import PROFILES

        rows = [p.to_dict() for p in PROFILES.values()]
        _emit(args, rows, lambda: _table(rows, ["name", "epochs", "batch_size", "crop_size", "optimizer", "lr", "detector_width", "in_channels"]))
    return 0


def _table(rows: list[dict], columns: list[str]) -> str:
    from tabulate import tabulate

    return tabulate([[r.get(c) for c in columns] for r in rows], headers=columns, tablefmt="simple", floatfmt=".3f")


# status -----------------------------------------------------------------------------
def cmd_status(args: argparse.Namespace) -> int:
    """Counts and names per state; "running" means a live heartbeat (this or another host)."""
    from benchmark.dispatch import check_registered, plan, unregistered_names
    from benchmark.label_jobs import label_jobs
    from benchmark.liveness import STATES, cell_state
    from benchmark.store import Store

    full = _suite_from_args(args)
    missing = unregistered_names(full.detectors, full.methods, full.datasets)
    suite = check_registered(full, registered_only=True, echo=lambda _: None) if missing else full
    store = Store(args.results, suite.name)
    if suite.kind == "labels":
        named = [(job.name, job.resolved()[2]) for job in label_jobs(suite)]
    else:
        named = [(rc.cell.name, rc.key) for rc in plan(suite.cells(), store).resolved]
    states: dict[str, list[str]] = {state: [] for state in STATES}
    for name, key in named:
        states[cell_state(store, key)].append(name)
    unregistered = sorted(n for ns in missing.values() for n in ns)
    payload = {"suite": suite.name, "results": str(store.dir), **{k: {"count": len(v), "cells": v} for k, v in states.items()},
               "unregistered": unregistered}

    def text() -> str:
        lines = [f"suite {suite.name} ({store.dir}): " + ", ".join(f"{len(v)} {k}" for k, v in states.items())]
        if unregistered:
            lines.append(f"  not counted: cells of {', '.join(unregistered)} (not registered yet)")
        for state in ("failed", "running", "interrupted", "pending"):
            lines += [f"  {state:11s} {name}" for name in states[state]]
        return "\n".join(lines)

    _emit(args, payload, text)
    return 0


# labels -----------------------------------------------------------------------------
def cmd_labels(args: argparse.Namespace) -> int:
    from benchmark.label_jobs import LabelJob, score_labels

    job = LabelJob(args.method, args.dataset, args.labels, args.seed, args.split)
    method, identity, _ = job.resolved()
    dataset = identity["dataset"]
    score = score_labels(job, method, dataset, Path(args.data_root) if args.data_root else None,
                         Path(args.cache_dir) if args.cache_dir else None, force=args.force, progress=sys.stderr.isatty())
    made, quality, pinned = score.made, score.quality, score.cpu
    result = {
        "method": method.spec, "dataset": dataset, "split": args.split, "labels": args.labels, "seed": args.seed,
        "images": score.images, "targets": made.targets, "iou": quality["iou"], "niou": quality["niou"],
        "seconds": made.seconds, "seconds_per_target": made.seconds_per_target,
        "cpu_seconds_per_target": made.cpu_seconds_per_target, "cached": made.from_cache,
        "cpu": pinned, "key": made.key,
    }
    _emit(args, result, lambda: (
        f"{method.spec} on {dataset} {args.split} ({args.labels}, seed {args.seed}): {score.images} images, {made.targets} targets\n"
        f"IoU vs ground truth {quality['iou']:.2f}  (per-image mean {quality['niou']:.2f})\n"
        f"{made.seconds_per_target:.4f} s per target on one core ({pinned}; CPU time {made.cpu_seconds_per_target:.4f} s)"
        + ("  [from cache; --force to remake]" if made.from_cache else "")
    ))
    return 0


# bench ------------------------------------------------------------------------------
def cmd_bench(args: argparse.Namespace) -> int:
    if args.what == "metrics":
        from benchmark.bench.metrics_bench import bench_metrics

        result = bench_metrics(Path(args.data_root) if args.data_root else None, Path(args.cache_dir) if args.cache_dir else None)
        _emit(args, result, lambda: (
            f"SIRST3 test: {result['images']} images, {result['targets']} targets, {result['pixels'] / 1e6:.1f} Mpixels ({result['cpu']})\n"
            f"pointbench.metrics: {result['seconds']:.3f} s = {result['images_per_second']:.0f} images/s\n"
            f"field reference loop: {result['field_loop_seconds']:.2f} s ({result['speedup']:.1f}x slower); "
            f"same numbers: {result['same_numbers_as_field_loop']}"
        ))
        return 0
    if args.what == "detectors":
        from benchmark.bench.detectors_bench import bench_detectors, markdown_rows
        from benchmark.registry import DETECTORS

        names = DETECTORS.names(args.pattern or "*")
        rows = bench_detectors(names, device=args.device or "cpu", batch=args.batch, size=args.size,
                               warmup=args.warmup, steps=args.steps)
        _emit(args, rows, lambda: markdown_rows(rows))
        return 0
    if args.what == "dispatch":
        from benchmark.bench.dispatch_bench import bench_dispatch, format_dispatch

        result = bench_dispatch(
            cells=args.cells, cache_dir=Path(args.cache_dir) if args.cache_dir else None, gpu_cells=args.gpu_cells,
            address=args.address,
        )
        _emit(args, result, lambda: format_dispatch(result))
        return 0
    raise PointbenchError(f"unknown benchmark {args.what!r}")


# parser -----------------------------------------------------------------------------
def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default="results", help="results folder (default: ./results)")
    p.add_argument("--data-root", help="folder holding SIRST/, NUDT-SIRST/, IRSTD-1K/, SIRST3/ (default: $POINTBENCH_DATA or ./data)")
    p.add_argument("--cache-dir", help="Arrow cache and synthetic data (default: $POINTBENCH_CACHE or ~/.cache/pointbench)")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _add_grid(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", default="quick", help="built-in suite name or path of a .toml file (default: quick)")
    p.add_argument("--detectors", type=_csv, help="replace the suite's detectors, e.g. DNANet,UIUNet")
    p.add_argument("--methods", type=_methods, help="replace the suite's methods, e.g. 'full,lesps[start=epoch:50]'")
    p.add_argument("--datasets", type=_csv, help="replace the suite's datasets, e.g. SIRST,SIRST3")
    p.add_argument("--labels", type=_csv, help="replace the suite's label types: centroid,coarse")
    p.add_argument("--seeds", type=_seeds, help="replace the suite's seeds, e.g. 0,1,2")
    p.add_argument("--profile", help="replace the suite's profile: paper, short, quick or smoke")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pointbench",
        description="Reproducible benchmark of single-point-supervised infrared small target detection.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run a suite's cells (skipping finished ones), then print its table",
                         description="Run every cell of a suite that has no finished record, then print the table. "
                                     "Interrupted cells resume from their last checkpoint.")
    _add_grid(run)
    _add_common(run)
    run.add_argument("--executor", choices=["serial", "ray"],
                     help="serial: one cell after another in this process (the default: no start-up cost); "
                          "ray: cells as Ray Tune trials on every CPU/GPU of this machine or of --address "
                          "(the default when --address is given)")
    run.add_argument("--address", help="join an existing Ray cluster (e.g. auto, or HEAD_IP:6379) instead of starting one")
    run.add_argument("--max-concurrent", type=int, metavar="N", help="at most N cells training at once (ray)")
    run.add_argument("--gpus-per-cell", type=float, metavar="G",
                     help="GPU share of every cell, e.g. 0.25 packs 4 per GPU (ray; default: by detector size, "
                          "benchmark/resources.py; 0 on clusters without GPUs)")
    run.add_argument("--cpus-per-cell", type=float, metavar="C",
                     help="CPUs (torch threads) of every cell (ray; default: 1 + data-loading workers, or an even "
                          "share of the CPUs when a run has fewer cells than CPUs)")
    run.add_argument("--retries", type=int, default=2, metavar="N",
                     help="retry a failing cell N times, each from its last checkpoint (ray; default 2)")
    run.add_argument("--registered-only", action="store_true",
                     help="run the part of the suite whose detectors, methods and datasets are registered")
    run.add_argument("--device", help="torch device, e.g. cpu or cuda:0 (default: cuda if available)")
    run.add_argument("--threads", type=int, metavar="N",
                     help="torch CPU threads per cell (serial; default: torch's choice). CPU results are bitwise "
                          "reproducible for the same count; on a busy machine 1 avoids oversubscription")
    run.add_argument("--keep-checkpoints", action="store_true", help="keep each finished cell's last checkpoint")
    run.set_defaults(func=cmd_run, selection="last", subset="all")

    lst = sub.add_parser("list", help="list detectors, methods, datasets, suites or profiles")
    lst.add_argument("kind", choices=["detectors", "methods", "datasets", "suites", "profiles"])
    lst.add_argument("pattern", nargs="?", help="shell wildcard, e.g. 'DNA*'")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(func=cmd_list)

    status = sub.add_parser("status", help="done / failed / running / pending cells of a suite")
    _add_grid(status)
    _add_common(status)
    status.set_defaults(func=cmd_status)

    report = sub.add_parser("report", help="tables from stored records (no training)")
    _add_common(report)
    report.add_argument("--suite", help="only this suite's records (default: all)")
    report.add_argument("--selection", default="last", choices=["last", "best"],
                        help="last epoch (default) or best test IoU over evaluated epochs, as PAL/D2D report")
    report.add_argument("--subset", default="all", help="SIRST3 part to report (default: all images pooled)")
    report.set_defaults(func=cmd_report)

    labels = sub.add_parser("labels", help="make a method's offline (or initial) pseudo-labels; print their quality",
                            description="Make (or read from the cache) a method's initial pseudo-labels for a dataset "
                                        "split and print their IoU against the ground truth and seconds per target on "
                                        "one core.")
    labels.add_argument("--method", required=True, help="method spec, e.g. mclc or 'mclc[prior=points]'")
    labels.add_argument("--dataset", required=True, help="dataset name, e.g. SIRST")
    labels.add_argument("--labels", default="centroid", choices=["centroid", "coarse", "full"], help="point label type")
    labels.add_argument("--split", default="train", choices=["train", "test"])
    labels.add_argument("--seed", type=int, default=0, help="seed of the label generator (default 0)")
    labels.add_argument("--force", action="store_true", help="remake even if cached (to time them again)")
    _add_common(labels)
    labels.set_defaults(func=cmd_labels)

    bench = sub.add_parser("bench", help="measured benchmarks")
    bench.add_argument("what", choices=["metrics", "detectors", "dispatch"],
                       help="metrics: evaluate the SIRST3 test set on one core; detectors: forward+backward "
                            "images/s of every detector (on a GPU: fp32, bf16+channels_last, torch.compile); "
                            "dispatch: seconds per cell, Ray vs serial, on 1-epoch tiny cells (and GPU packing "
                            "where a GPU exists)")
    bench.add_argument("pattern", nargs="?", help="detectors: shell wildcard of detector names (default: all)")
    bench.add_argument("--device", help="detectors: cpu (default) or cuda")
    bench.add_argument("--batch", type=int, default=16, help="detectors: batch size (default 16)")
    bench.add_argument("--size", type=int, default=256, help="detectors: image side (default 256)")
    bench.add_argument("--warmup", type=int, default=1, help="detectors: untimed steps first (default 1)")
    bench.add_argument("--steps", type=int, default=2, help="detectors: timed steps, median reported (default 2)")
    bench.add_argument("--cells", type=int, default=8, help="dispatch: number of tiny cells (default 8)")
    bench.add_argument("--gpu-cells", type=int, default=4, help="dispatch: small-detector cells packed on one GPU (default 4)")
    bench.add_argument("--address", help="dispatch: an existing Ray cluster instead of a local one")
    _add_common(bench)
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # nothing is downloaded at run time
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except PointbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; finished cells are saved, unfinished ones resume from their checkpoint", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
