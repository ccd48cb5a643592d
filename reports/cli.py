"""What ``pointbench report`` and ``pointbench bench report`` add to the command line,
defined here so that ``benchmark/cli.py`` only hands the parsed arguments over."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from benchmark.errors import PointbenchError


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR",
                        help="write every table (tables/*.tex|md|csv), figure (figures/*.png|pdf), index.md and, with a "
                             "LaTeX engine on PATH, report.pdf into DIR")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"),
                        help="with --out: the pair of schemes for the paired comparison (default: the two best "
                             "point-supervised schemes of each detector x dataset)")
    parser.add_argument("--no-figures", action="store_true", help="with --out: tables only")
    parser.add_argument("--no-pdf", action="store_true", help="with --out: do not compile report.pdf")
    parser.add_argument("--data-root", help="with --out: the datasets, from which the qualitative grids draw the "
                                            "image and ground truth of real-data records (records keep no pixels of "
                                            "a real dataset; default: $POINTBENCH_DATA, else those columns stay blank)")


def report_data_root(args: argparse.Namespace) -> Path | None:
    """The data root the qualitative grids read real images from: ``--data-root``, else
    $POINTBENCH_DATA, else none (their image and ground-truth columns stay blank)."""
    given = getattr(args, "data_root", None) or os.environ.get("POINTBENCH_DATA")
    return Path(given).expanduser() if given else None


def write_report_command(args: argparse.Namespace, records: list[dict]) -> int:
    """``pointbench report --out DIR``: write it all, print the main tables and where."""
    from reports.build import as_json, terminal_summary, write_report

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise PointbenchError(f"--out {out} is a file; name a folder")
    roots = args.results if isinstance(args.results, list) else [args.results or "results"]
    report = write_report(records, out, selection=args.selection, results_root=[Path(r) for r in roots],
                          pair=args.compare, figures=not args.no_figures, pdf=not args.no_pdf,
                          data_root=report_data_root(args))
    if getattr(args, "json", False):
        print(json.dumps(as_json(report), indent=1))
    else:
        print(terminal_summary(report))
    return 1 if report.pdf_message.startswith("report.pdf failed") else 0


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--records", type=int, default=1000, help="report: synthetic records (default 1000)")
    parser.add_argument("--pdf", action="store_true", help="report: also compile report.pdf (timed apart)")


def bench_report_command(args: argparse.Namespace) -> int:
    from reports.bench import bench_report

    result = bench_report(args.records, pdf=args.pdf)
    if getattr(args, "json", False):
        print(json.dumps(result, indent=1))
    else:
        print(f"report over {result['records']} synthetic records ({result['cpu']}): "
              f"{result['report_seconds']:.2f} s wall, {result['report_cpu_seconds']:.2f} s CPU; "
              f"{result['tables']} tables, {result['figures']} figures; making the records took "
              f"{result['make_records_seconds']:.2f} s; pdf: {result['pdf']}", file=sys.stdout)
        for stage, cpu in result["stages_cpu_seconds"].items():
            print(f"  {stage}: {cpu:.2f} s CPU, {result['stages_seconds'][stage]:.2f} s wall", file=sys.stdout)
    return 0


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-report", action="store_true",
                        help="do not end by writing the suite's report (tables, figures, report.pdf) into "
                             "<results>/<suite>/report")


def report_after_run(args: argparse.Namespace, store, records: list[dict], ran: bool) -> None:
    """``pointbench run`` ends with its suite's report in ``<results>/<suite>/report``,
    rewritten when this run finished a cell (or when there is none yet), and says where."""
    from reports.build import write_report

    if getattr(args, "no_report", False) or not any(r.get("status") == "done" for r in records):
        return
    out = Path(store.dir) / "report"
    if not ran and (out / "index.md").is_file():
        print(f"report: {out / 'index.md'} (no cell ran, so it stands)", file=sys.stderr)
        return
    report = write_report(records, out, results_root=[Path(store.root)], data_root=report_data_root(args))
    print(f"report: {out / 'index.md'} ({len(report.tables)} tables, {len(report.figures)} figures); "
          f"{report.pdf_message}", file=sys.stderr)
