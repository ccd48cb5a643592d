"""The ``pointbench`` command: run, list, status, report, bench.

Every subcommand is a function of its parsed arguments (no global state). User errors
(bad paths, unknown names, malformed suites) print one message naming the fix and exit
with status 2; a run with failed cells exits with status 1.
"""

from __future__ import annotations

import argparse
import difflib
import inspect
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from benchmark.jsonsafe import strict
from benchmark.errors import PointbenchError
from reports.cli import add_bench_arguments, add_report_arguments, add_run_arguments, report_after_run

EPILOG = """examples:
  pointbench run                                   # the quick suite on the embedded synthetic data
  pointbench run --suite table1 --data-root DIR    # a paper table on the real datasets
  pointbench run --suite smoke --data-root ../shared/data --methods full,point
  pointbench list detectors 'DNA*' --json
  pointbench run --suite table1 --data-root DIR --executor ray --address auto   # on a Ray cluster
  pointbench run --suite table1 --registered-only  # only the cells whose methods exist today
  pointbench status --suite quick                  # done / stale / failed / running / interrupted / pending
  pointbench run --rerun-stale                     # rerun cells whose data or plugin changed
  pointbench run --force 'DNANet/*'                # rerun matching cells from scratch
  pointbench run --suite smoke --methods mine --set epochs=1   # a tiny setting of any profile field
  pointbench report --selection best
  pointbench report --results results --results results/reference   # yours beside the shipped reference records
  pointbench report --out build                    # LaTeX/Markdown tables, figures, index.md, report.pdf
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
        seeds = [int(s) for s in _csv(text)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be integers >= 0, e.g. 0,1,2; got {text!r}") from None
    if not seeds or any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"seeds must be one or more integers >= 0, e.g. 0,1,2; got {text!r}")
    return seeds


def _whole_number(minimum: int, message: str) -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``, else ``message`` with what was typed."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = minimum - 1
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{message} got {text!r}")
        return value
    return parse


_count = _whole_number(0, "write a whole number >= 0 (0: none);")  # --save-images
_positive_int = _whole_number(1, "a whole number >= 1,")


def _setting(text: str) -> tuple[str, Any]:
    """``--set epochs=1`` -> ("epochs", 1); ``--set milestones=0.5,0.75`` -> a list."""
    from benchmark.cells import parse_value

    if "=" not in text:
        raise argparse.ArgumentTypeError(f"write FIELD=VALUE, e.g. epochs=1; got {text!r}")
    field, value = (p.strip() for p in text.split("=", 1))
    return field, [parse_value(v) for v in value.split(",")] if "," in value else parse_value(value)


def _emit(args: argparse.Namespace, payload: Any, text: Callable[[], str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(strict(payload), indent=1, default=str, allow_nan=False))
    else:
        print(text())


# run --------------------------------------------------------------------------------
def _suite_from_args(args: argparse.Namespace):
    from benchmark.suites import load_suite

    suite = load_suite(args.suite).with_axes(
        detectors=args.detectors, methods=args.methods, datasets=args.datasets,
        labels=args.labels, seeds=args.seeds, profile=args.profile,
    )
    return suite.with_profile_overrides(dict(args.set)) if args.set else suite


def _run_options(args: argparse.Namespace):
    from benchmark.engine import RunOptions

    return RunOptions(
        data_root=Path(args.data_root) if args.data_root else None,
        cache_dir=Path(args.cache_dir) if args.cache_dir else None,
        device=args.device,
        keep_checkpoint=args.keep_checkpoints,
        threads=getattr(args, "threads", None),
        save_images=getattr(args, "save_images", None),
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


RAY_ONLY = (("--address", "address"), ("--gpus-per-cell", "gpus_per_cell"), ("--cpus-per-cell", "cpus_per_cell"))


def _check_executor_flags(args: argparse.Namespace) -> None:
    """--address implies ray; flags of one executor are refused with another."""
    if args.executor is None and args.address:
        args.executor = "ray"
    if args.executor != "ray":  # asked for serial or local, or left to the rule (never ray without --address)
        used = [flag for flag, attr in RAY_ONLY if getattr(args, attr) is not None]
        if args.executor == "serial" and args.max_concurrent is not None:
            used.append("--max-concurrent")
        if used:
            raise PointbenchError(f"{', '.join(used)} only apply to --executor ray"
                                  + (" or local" if used == ["--max-concurrent"] else ""))


def _choose_executor(args: argparse.Namespace, todo: list, device: str | None):
    """The executor (as asked, else ``local`` for 2+ CPU cells on 2+ cores, else serial) and
    the CPU plan (``benchmark.cpu_plan``: one thread per cell unless --threads)."""
    from benchmark.cpu_plan import cpu_plan, default_executor, usable_cores

    plan = cpu_plan(len(todo), usable_cores(), args.threads, args.max_concurrent)
    if args.executor is None:
        args.executor = default_executor(plan, on_cpu=_on_cpu(device) if plan.concurrent > 1 else True)
    return plan


def _on_cpu(device: str | None) -> bool:
    if device is not None:
        return device.startswith("cpu")
    import torch

    return not torch.cuda.is_available()


def cmd_run(args: argparse.Namespace) -> int:
    from benchmark.dispatch import check_registered, plan, preflight
    from benchmark.executor import get_executor
    from benchmark.liveness import busy_elsewhere
    from benchmark.staleness import Review, check_patterns
    from benchmark.store import Store

    _check_executor_flags(args)
    suite = check_registered(_suite_from_args(args), args.registered_only)
    if suite.kind == "labels":
        return _run_labels(args, suite)
    store = Store(args.results, suite.name)
    options = _run_options(args)
    review = Review(options.data_root, options.cache_dir, force=tuple(args.force or ()), rerun_stale=args.rerun_stale)
    work = plan(suite.cells(), store, review)
    check_patterns(review.force, [rc.cell.name for rc in work.resolved], suite.name)
    preflight(work.todo, options)
    busy = busy_elsewhere(work.todo, store)
    todo = [rc for rc in work.todo if rc not in busy]
    if todo:
        store.check_writable()
    for rc in todo:
        if work.verdicts[rc.key] == "redo":
            store.retire(rc.key)  # its old record aside, its checkpoint gone: from scratch
    cpu = _choose_executor(args, todo, options.device)
    _say_plan(args, suite, store, work, review, todo, busy, cpu)
    records = get_executor(args.executor)(todo, store, options, settings=_dispatch_settings(args, suite))
    keys = {rc.key for rc in work.resolved}
    finished = [r for r in store.records() if r["key"] in keys]
    _print_report(args, finished)
    report_after_run(args, store, finished, ran=bool(records))
    return _run_outcome(store, todo, records)


def _say_plan(args: argparse.Namespace, suite: Any, store: Any, work: Any, review: Any, todo: list, busy: list,
              cpu: Any) -> None:
    """One line for the plan, then why records are stale and what could not be checked."""
    stale = [rc for rc in work.resolved if work.verdicts[rc.key] == "stale"]
    redo = [rc for rc in todo if work.verdicts[rc.key] == "redo"]
    print(
        f"suite {suite.name}: {len(work.resolved)} cells, {len(work.done)} already done"
        + (f" ({len(stale)} stale: their inputs changed; --rerun-stale reruns them)" if stale else "")
        + f", {len(todo)} to run" + (f" ({len(redo)} from scratch: forced or stale)" if redo else "")
        + f" (profile {suite.profile}; executor {args.executor}: {cpu.describe(args.executor)}; records in {store.dir})"
        + (f"; {len(busy)} skipped: another process is training them" if busy else ""),
        file=sys.stderr,
    )
    for rc in stale + redo:
        if rc.key in review.reasons:
            print(f"  stale: {rc.cell.name}: {'; '.join(review.reasons[rc.key])}", file=sys.stderr)
    for dataset, why in review.unchecked.items():
        print(f"  not checked for staleness ({dataset}): {why}", file=sys.stderr)


def _run_outcome(store: Any, todo: list, records: list[dict]) -> int:
    """1 if a cell failed or did not finish; cells another run finished or holds are not ours."""
    from benchmark.liveness import cell_state

    for r in records:
        if r["status"] != "done":
            print(f"failed: {r['name']}: {r['error']['type']}: {r['error']['message']} "
                  f"(record {store.record_path(r['key'])})", file=sys.stderr)
    ran = {r["key"] for r in records}
    left = [rc for rc in todo if rc.key not in ran]
    elsewhere = [rc for rc in left if cell_state(store, rc.key) in ("done", "running")]
    if elsewhere:
        print(f"{len(elsewhere)} cell(s) finished or held by another run on {store.dir}", file=sys.stderr)
    unfinished = len(left) - len(elsewhere)
    if unfinished:
        print(f"{unfinished} cell(s) did not finish; run the same command again to resume them", file=sys.stderr)
    return 1 if unfinished or any(r["status"] != "done" for r in records) else 0


def _run_labels(args: argparse.Namespace, suite: Any) -> int:
    """A ``kind = "labels"`` suite: pseudo-label quality per method x dataset x labels x seed."""
    from benchmark.dispatch import check_datasets
    from benchmark.label_jobs import label_jobs, run_label_jobs
    from benchmark.staleness import Review, check_patterns
    from benchmark.store import Store

    store = Store(args.results, suite.name)
    jobs = label_jobs(suite)
    keyed = [(job, job.resolved()[2]) for job in jobs]
    options = _run_options(args)
    review = Review(options.data_root, options.cache_dir, force=tuple(args.force or ()), rerun_stale=args.rerun_stale)
    verdicts = {key: review.label_job(job.name, job.dataset, store.read(key)) for job, key in keyed}
    check_patterns(review.force, [job.name for job, _ in keyed], suite.name)
    todo = [job for job, key in keyed if verdicts[key] in ("todo", "redo")]
    check_datasets({j.dataset for j in todo}, options)
    if todo:
        store.check_writable()
    for key, verdict in verdicts.items():
        if verdict == "redo":
            store.retire(key)
    stale = sum(v == "stale" for v in verdicts.values())
    print(f"suite {suite.name} (label quality, no training; one core, in this process): {len(jobs)} jobs, "
          f"{len(jobs) - len(todo)} already done" + (f" ({stale} stale; --rerun-stale reruns them)" if stale else "")
          + f", {len(todo)} to run (records in {store.dir})", file=sys.stderr)
    records = run_label_jobs(todo, store, options)
    keys = {key for _, key in keyed}
    finished = [r for r in store.records() if r["key"] in keys]
    _print_label_report(args, finished)
    report_after_run(args, store, finished, ran=bool(records))
    return 1 if any(r["status"] != "done" for r in records) else 0


def _print_label_report(args: argparse.Namespace, records: list[dict]) -> None:
    """Mean (± std over seeds) label IoU and seconds per target, per method x dataset x labels."""
    import pandas as pd

    rows = [{"method": r["method"]["spec"], "dataset": r["job"]["dataset"], "labels": r["job"]["labels"],
             "seed": r["job"]["seed"], "iou": r["quality"]["iou"], "niou": r["quality"]["niou"],
             "cpu_s_per_target": r.get("cpu_seconds_per_target"),  # a shared machine inflates wall time, not CPU time
             "s_per_target": r["seconds_per_target"]} for r in records if r.get("status") == "done"]
    if not rows:
        _emit(args, [], lambda: "(no finished label jobs)")
        return
    frame = pd.DataFrame(rows)
    g = frame.groupby(["method", "dataset", "labels"], sort=False)
    out = g[["iou", "niou", "cpu_s_per_target", "s_per_target"]].mean()
    out["iou_std"] = g["iou"].std(ddof=1)
    out["seeds"] = g.size()
    out = out.reset_index()

    def text() -> str:
        shown = out.assign(
            iou=[f"{m:.2f}" + ("" if pd.isna(s) else f" ± {s:.2f}") for m, s in zip(out["iou"], out["iou_std"])],
            niou=out["niou"].map(lambda v: f"{v:.2f}"), s_per_target=out["s_per_target"].map(lambda v: f"{v:.4f}"),
            cpu_s_per_target=out["cpu_s_per_target"].map(lambda v: "-" if pd.isna(v) else f"{v:.4f}"),
        ).drop(columns=["iou_std"])
        return _table(shown.to_dict(orient="records"),
                      ["method", "dataset", "labels", "iou", "niou", "cpu_s_per_target", "s_per_target", "seeds"])

    _emit(args, out.to_dict(orient="records"), text)


# report -----------------------------------------------------------------------------
def _print_report(args: argparse.Namespace, records: list[dict]) -> None:
    from benchmark.store import records_frame
    from reports.tables import markdown_table, summarize

    frame = records_frame(records)
    subset = getattr(args, "subset", "all")
    present = sorted(set(frame["subset"].dropna())) if "subset" in frame else []
    if present and subset not in present:
        close = difflib.get_close_matches(subset, present, n=1, cutoff=0.3)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise PointbenchError(f"no records of subset {subset!r}.{hint} The records have: {', '.join(present)}")
    summary = summarize(frame, selection=getattr(args, "selection", "last"), subset=subset)
    _emit(args, summary.to_dict(orient="records"), lambda: markdown_table(summary))


def cmd_report(args: argparse.Namespace) -> int:
    from benchmark.store import load_records, suite_names

    roots = args.results or ["results"]
    if args.suite:
        present = sorted({name for root in roots for name in suite_names(root)})
        if args.suite not in present:
            close = difflib.get_close_matches(args.suite, present, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise PointbenchError(f"no records of suite {args.suite!r} under {', '.join(roots)}.{hint} "
                                  f"Suites there: {', '.join(present) or '(none)'}")
    records = [r for root in roots for r in load_records(root, [args.suite] if args.suite else None)]
    if not records:
        raise PointbenchError(f"no records under {', '.join(roots)}; run `pointbench run` first or pass --results DIR "
                              f"(the shipped reference records: --results results/reference)")
    if args.out:
        from reports.cli import write_report_command

        return write_report_command(args, records)
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
    """Counts and names per state; "running" means a live heartbeat (this or another host);
    "stale" a done record whose inputs changed (benchmark.staleness.STALE_RULE)."""
    from benchmark.dispatch import check_registered, plan, unregistered_names
    from benchmark.label_jobs import label_jobs
    from benchmark.liveness import STATES, cell_state
    from benchmark.resolve import PROTOCOL_VERSION
    from benchmark.staleness import Review
    from benchmark.store import Store

    full = _suite_from_args(args)
    missing = unregistered_names(full.detectors, full.methods, full.datasets)
    suite = check_registered(full, registered_only=True, echo=lambda _: None) if missing else full
    store = Store(args.results, suite.name)
    review = Review(Path(args.data_root) if args.data_root else None, Path(args.cache_dir) if args.cache_dir else None)
    if suite.kind == "labels":
        keyed = [(job, job.resolved()[2]) for job in label_jobs(suite)]
        named = [(job.name, key, review.label_job(job.name, job.dataset, store.read(key))) for job, key in keyed]
    else:
        work = plan(suite.cells(), store, review)
        named = [(rc.cell.name, rc.key, work.verdicts[rc.key]) for rc in work.resolved]
    states: dict[str, list[str]] = {state: [] for state in ("done", "stale", *STATES[1:])}
    why: dict[str, list[str]] = {}
    for name, key, verdict in named:
        states["stale" if verdict == "stale" else cell_state(store, key)].append(name)
        if verdict == "stale":
            why[name] = review.reasons[key]
    unregistered = sorted(n for ns in missing.values() for n in ns)
    keys = {key for _, key, _ in named}
    other = [r for r in store.records() if r.get("key") not in keys]
    others = sorted({str(r.get("config", {}).get("protocol_version")) for r in other})
    payload = {"suite": suite.name, "results": str(store.dir), **{k: {"count": len(v), "cells": v} for k, v in states.items()},
               "unregistered": unregistered, "not_checked": [f"{d}: {reason}" for d, reason in review.unchecked.items()],
               "other_records": len(other), "other_protocols": others}
    payload["stale"]["reasons"] = why

    def text() -> str:
        lines = [f"suite {suite.name} ({store.dir}): " + ", ".join(f"{len(v)} {k}" for k, v in states.items())]
        if unregistered:
            lines.append(f"  not counted: cells of {', '.join(unregistered)} (not registered yet)")
        if other:
            lines.append(f"  also in this folder: {len(other)} records of other configurations "
                         f"(protocol {', '.join(others)}; today's is {PROTOCOL_VERSION}): `pointbench report` reads them")
        lines += [f"  not checked for staleness ({d}): {reason}" for d, reason in review.unchecked.items()]
        lines += [f"  stale       {name}: {'; '.join(why[name])}" for name in states["stale"]]
        for state in ("failed", "running", "interrupted", "pending"):
            lines += [f"  {state:11s} {name}" for name in states[state]]
        if states["stale"]:
            lines.append("  (pointbench run --rerun-stale reruns the stale cells; --force PATTERN any cell)")
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
    if args.what == "report":
        from reports.cli import bench_report_command

        return bench_report_command(args)
    if args.what == "gpu":
        return _bench_gpu(args)
    if args.what == "startup":
        from benchmark.bench.startup_bench import bench_startup

        rows = bench_startup(args.repeats, Path(args.cache_dir) if args.cache_dir else None)
        _emit(args, rows, lambda: _table(rows, ["command", "exit_code", "process_seconds", "cpu_seconds", "imported_torch"]))
        return 0
    if args.what == "diffusion":
        from benchmark.bench.diffusion_bench import bench_diffusion, format_diffusion

        result = bench_diffusion(args.dataset, args.labels, args.pattern or "diffusion", args.repeats,
                                 Path(args.data_root) if args.data_root else None,
                                 Path(args.cache_dir) if args.cache_dir else None)
        _emit(args, result, lambda: format_diffusion(result))
        return 0
    raise PointbenchError(f"unknown benchmark {args.what!r}")


def _bench_gpu(args: argparse.Namespace) -> int:
    """``bench gpu``: detectors, packing and the paper cells on one GPU; JSON and a docs section."""
    from benchmark.bench import gpu

    skip = tuple(_csv(args.skip or ""))
    unknown = sorted(set(skip) - set(gpu.STAGES))
    if unknown:
        raise PointbenchError(f"--skip {','.join(unknown)}: unknown stage(s); the stages are {', '.join(gpu.STAGES)}")
    device = args.device or ("cpu" if args.tiny else "cuda")
    if device.startswith("cuda") and not _cuda_available():
        raise PointbenchError("bench gpu needs a CUDA device (none is visible here); pass --tiny (with --device cpu) "
                              "to check the command on a CPU at a tiny size")
    run = gpu.GpuRun(data_root=Path(args.data_root) if args.data_root else None,
                     cache_dir=Path(args.cache_dir) if args.cache_dir else None,
                     results=Path(args.results), device=device, size=gpu.TINY if args.tiny else gpu.FULL, skip=skip,
                     echo=lambda line: print(line, file=sys.stderr, flush=True))
    result = gpu.bench_gpu(run)
    flags = (("--tiny", args.tiny or None), ("--device", args.device), ("--data-root", args.data_root), ("--skip", args.skip))
    command = " ".join(["pointbench bench gpu"] + [f if v is True else f"{f} {v}" for f, v in flags if v is not None])
    path = gpu.save(result, run, Path(args.doc) if args.doc else None, command)
    _emit(args, result, lambda: gpu.doc_section(result, command) + f"\n(JSON: {path})")
    return 0


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


# parser -----------------------------------------------------------------------------
def _add_results(p: argparse.ArgumentParser) -> None:
    p.add_argument("--results", default="results", help="results folder (default: ./results)")


def _add_data(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", help="folder holding SIRST/, NUDT-SIRST/, IRSTD-1K/, SIRST3/ (default: $POINTBENCH_DATA or ./data)")
    p.add_argument("--cache-dir", help="Arrow cache and synthetic data (default: $POINTBENCH_CACHE or ~/.cache/pointbench)")


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output (strict JSON: null, never NaN)")


def _add_grid(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", default="quick", help="built-in suite name or path of a .toml file (default: quick)")
    p.add_argument("--detectors", type=_csv, help="replace the suite's detectors, e.g. DNANet,UIUNet")
    p.add_argument("--methods", type=_methods, help="replace the suite's methods, e.g. 'full,lesps[start=epoch:50]'")
    p.add_argument("--datasets", type=_csv, help="replace the suite's datasets, e.g. SIRST,SIRST3")
    p.add_argument("--labels", type=_csv, help="replace the suite's label types: centroid,coarse (or full)")
    p.add_argument("--seeds", type=_seeds, help="replace the suite's seeds, e.g. 0,1,2")
    p.add_argument("--profile", help="replace the suite's profile: paper, short, cpu, quick or smoke")
    p.add_argument("--set", type=_setting, action="append", metavar="FIELD=VALUE",
                   help="set a profile field on top of the suite's overrides, e.g. --set epochs=1 (repeatable; "
                        "`pointbench list profiles` shows the fields)")
    _add_results(p)
    _add_data(p)
    _add_json(p)


RUN_HELP = """reruns: a finished cell is not run again. --rerun-stale reruns cells whose record is stale;
--force reruns every cell of the grid, --force PATTERN those whose name matches (shell wildcards,
brackets literal, e.g. --force 'DNANet/*' or --force '*/lesps[start=epoch:50]/*'; repeatable). A rerun
starts from scratch: the old record moves to <results>/<suite>/.replaced/<key>.json.

"""


def _parser_run(sub: Any, verbosity: argparse.ArgumentParser) -> None:
    from benchmark.staleness import STALE_RULE

    run = sub.add_parser("run", parents=[verbosity], help="run a suite's cells (skipping finished ones), then print its table "
                                                          "and write its report",
                         description="Run every cell of a suite that has no finished record, then print the table. "
                                     "Interrupted cells resume from their last checkpoint.",
                         epilog=RUN_HELP + STALE_RULE, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_grid(run)
    run.add_argument("--rerun-stale", action="store_true", help="rerun cells whose record is stale (see below)")
    run.add_argument("--force", nargs="?", const="*", action="append", metavar="PATTERN",
                     help="rerun from scratch every cell (no PATTERN) or the cells whose name matches PATTERN")
    run.add_argument("--executor", choices=["serial", "local", "ray"],
                     help="local: cells side by side in child processes on this machine, as many at once as cores "
                          "(the default for 2+ cells on a CPU machine with 2+ cores); serial: one cell after another "
                          "in this process (the default otherwise: one cell, or a GPU, which each cell gets whole); "
                          "ray: cells as Ray Tune trials on every CPU/GPU of this machine or of --address "
                          "(the default when --address is given)")
    run.add_argument("--address", help="join an existing Ray cluster (e.g. auto, or HEAD_IP:6379) instead of starting one")
    run.add_argument("--max-concurrent", type=_positive_int, metavar="N",
                     help="at most N cells training at once (local, ray; default: as cores or resources allow)")
    run.add_argument("--gpus-per-cell", type=float, metavar="G",
                     help="GPU share of every cell, e.g. 0.25 packs 4 per GPU (ray; default: by detector size, "
                          "benchmark/resources.py; 0 on clusters without GPUs)")
    run.add_argument("--cpus-per-cell", type=float, metavar="C",
                     help="CPUs of every cell (ray; default: its torch threads, --threads or 1, plus one per "
                          "data-loading worker)")
    run.add_argument("--retries", type=int, default=2, metavar="N",
                     help="retry a failing cell N times, each from its last checkpoint (ray; default 2)")
    run.add_argument("--registered-only", action="store_true",
                     help="run the part of the suite whose detectors, methods and datasets are registered")
    run.add_argument("--device", help="torch device, e.g. cpu or cuda:0 (default: cuda if available)")
    run.add_argument("--threads", type=_positive_int, metavar="N",
                     help="torch CPU threads per cell. Default 1, with cells side by side, as many at once as cores "
                          "(cores // N with --threads N): multi-threaded cells collapse when the machine is shared "
                          "(on 2 busy cores the quick full cell took 5.8x the time with 2 threads; "
                          "docs/performance.md, 'Threads'). For one cell on an idle machine, --threads N can be "
                          "faster. CPU results are bitwise reproducible for the same count (recorded as "
                          "provenance.threads); OMP_NUM_THREADS is not read")
    run.add_argument("--keep-checkpoints", action="store_true", help="keep each finished cell's last checkpoint")
    run.add_argument("--save-images", type=_count, metavar="N",
                     help="fixed test and training images saved as PNGs beside each record for the report's "
                          "qualitative grid (default: 4 in reduced profiles, 0 in paper; 0 turns them off)")
    add_run_arguments(run)
    run.set_defaults(func=cmd_run, selection="last", subset="all")


def _parser_status_report(sub: Any, verbosity: argparse.ArgumentParser) -> None:
    from benchmark.staleness import STALE_RULE

    status = sub.add_parser("status", parents=[verbosity], help="done / stale / failed / running / pending cells of a suite",
                            description="The state of every cell of a suite: done, stale (done, but an input changed), "
                                        "failed, running (a live heartbeat), interrupted (a checkpoint, nobody on it), "
                                        "pending. --data-root and --cache-dir locate the data the staleness check reads.",
                            epilog=STALE_RULE, formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_grid(status)
    status.set_defaults(func=cmd_status)

    report = sub.add_parser("report", parents=[verbosity], help="tables from stored records (no training)",
                            description="One row per variant (the configuration less the seed), the mean ± std over "
                                        "its distinct seeds. The shipped reference records are read only when asked: "
                                        "--results results/reference (repeat --results to put them beside yours).")
    report.add_argument("--results", action="append", metavar="DIR",
                        help="results folder (default: ./results); repeat to read several")
    report.add_argument("--suite", help="only this suite's records (default: all)")
    report.add_argument("--selection", default="last", choices=["last", "best"],
                        help="last epoch (default) or best test IoU over evaluated epochs, as PAL/D2D report")
    report.add_argument("--subset", default="all", help="SIRST3 part to report (default: all images pooled)")
    add_report_arguments(report)
    _add_json(report)
    report.set_defaults(func=cmd_report)


def _parser_labels_bench(sub: Any, verbosity: argparse.ArgumentParser) -> None:
    labels = sub.add_parser("labels", parents=[verbosity],
                            help="make a method's offline (or initial) pseudo-labels; print their quality",
                            description="Make (or read from the cache) a method's initial pseudo-labels for a dataset "
                                        "split and print their IoU against the ground truth and seconds per target on "
                                        "one core.")
    labels.add_argument("--method", required=True, help="method spec, e.g. mclc or 'mclc[prior=points]'")
    labels.add_argument("--dataset", required=True, help="dataset name, e.g. SIRST")
    labels.add_argument("--labels", default="centroid", choices=["centroid", "coarse", "full"], help="point label type")
    labels.add_argument("--split", default="train", choices=["train", "test"])
    labels.add_argument("--seed", type=int, default=0, help="seed of the label generator (default 0)")
    labels.add_argument("--force", action="store_true", help="remake even if cached (to time them again)")
    _add_data(labels)
    _add_json(labels)
    labels.set_defaults(func=cmd_labels)

    bench = sub.add_parser("bench", parents=[verbosity], help="measured benchmarks")
    bench.add_argument("what", choices=["metrics", "detectors", "dispatch", "startup", "report", "diffusion", "gpu"],
                       help="metrics: evaluate the SIRST3 test set on one core; detectors: forward+backward "
                            "images/s of every detector (on a GPU: fp32, bf16+channels_last, torch.compile); "
                            "dispatch: seconds per cell, Ray vs serial, on 1-epoch tiny cells (and GPU packing "
                            "where a GPU exists); startup: seconds of `list methods`, `status`, `report` in fresh "
                            "processes and whether they imported torch; report: the whole "
                            "report over 1,000 synthetic records on one core; diffusion: the diffusion "
                            "annotator's s/target on one core, once per split and per theta (a label refresh); "
                            "gpu: the GPU check in one command (detectors in 3 modes, packing 4 cells on one GPU, "
                            "DNANet on SIRST under paper for full/LESPS/PAL/MCLC; docs/performance.md, 'GPU')")
    bench.add_argument("pattern", nargs="?", help="detectors: shell wildcard of detector names (default: all); "
                                                   "diffusion: the method spec (default: diffusion)")
    bench.add_argument("--dataset", default="SIRST", help="diffusion: the dataset whose train split is annotated")
    bench.add_argument("--labels", default="centroid", choices=["centroid", "coarse"], help="diffusion: point label type")
    bench.add_argument("--device", help="detectors: cpu (default) or cuda")
    bench.add_argument("--batch", type=int, default=16, help="detectors: batch size (default 16)")
    bench.add_argument("--size", type=int, default=256, help="detectors: image side (default 256)")
    bench.add_argument("--warmup", type=int, default=1, help="detectors: untimed steps first (default 1)")
    bench.add_argument("--steps", type=int, default=2, help="detectors: timed steps, median reported (default 2)")
    bench.add_argument("--cells", type=int, default=8, help="dispatch: number of tiny cells (default 8)")
    bench.add_argument("--gpu-cells", type=int, default=4, help="dispatch: small-detector cells packed on one GPU (default 4)")
    bench.add_argument("--address", help="dispatch: an existing Ray cluster instead of a local one")
    bench.add_argument("--tiny", action="store_true", help="gpu: every stage at a tiny size (a CPU test; numbers mean nothing)")
    bench.add_argument("--skip", metavar="STAGES", help="gpu: leave out stages, e.g. detectors,packing (stages: detectors, "
                                                         "packing, paper)")
    bench.add_argument("--results", default="results/gpu",
                       help="gpu: records (<results>/table2) and bench-gpu.json (default: results/gpu)")
    bench.add_argument("--doc", help="gpu: write the run's section into this Markdown file, e.g. docs/performance.md")
    bench.add_argument("--repeats", type=int, default=3, help="startup: runs of each command, median reported; diffusion: reruns at new theta, "
                                                                      "fastest reported (default 3)")
    add_bench_arguments(bench)
    _add_data(bench)
    _add_json(bench)
    bench.set_defaults(func=cmd_bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pointbench",
        description="Reproducible benchmark of single-point-supervised infrared small target detection.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    verbosity = argparse.ArgumentParser(add_help=False)  # -v after the subcommand too
    verbosity.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _parser_run(sub, verbosity)
    lst = sub.add_parser("list", parents=[verbosity], help="list detectors, methods, datasets, suites or profiles")
    lst.add_argument("kind", choices=["detectors", "methods", "datasets", "suites", "profiles"])
    lst.add_argument("pattern", nargs="?", help="shell wildcard, e.g. 'DNA*'")
    _add_json(lst)
    lst.set_defaults(func=cmd_list)
    _parser_status_report(sub, verbosity)
    _parser_labels_bench(sub, verbosity)
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
