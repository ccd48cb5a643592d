"""``pointbench report --out DIR``: every table and figure of the stored records.

DIR/tables/*.tex|md|csv (Tables 1-4 layouts, the published and paired comparisons),
DIR/figures/*.png|pdf, DIR/index.md, and DIR/report.pdf when a LaTeX engine is on PATH.
Reads records only; never imports torch.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Sequence

import pandas as pd

from reports.frames import Frames
from reports import latex, listing, text
from reports.layout import Table, ablation_tables, comparison_table, label_summary, label_table
from reports.naming import slug
from reports.report import Report
from reports.paired import paired_frame
from reports.published import compare
from reports.summary import summarize_variants

LAYOUTS = {"table1": "Table 1", "table2": "Table 2", "ablation": "Table 3", "pseudolabels": "Table 4"}


def _caption(suite: str, summary: pd.DataFrame) -> str:
    layout = LAYOUTS.get(suite)
    trained = ", ".join(sorted(set(summary["dataset"])))
    shape = f" (layout of Diffuse to Detect's {layout})" if layout else ""
    return (f"Suite {suite}{shape}: trained on {trained}; IoU, nIoU, Pd in %, Fa in ×10⁻⁶ "
            "(↑ higher is better, ↓ lower).")


def training_tables(frames: Frames, selection: str) -> list[Table]:
    tables = []
    for suite in sorted(set(frames.tidy.get("suite", pd.Series(dtype=str)).dropna())):
        rows = frames.tidy[frames.tidy["suite"] == suite]
        summary = summarize_variants(rows, selection, None, frames.counts[selection])
        if summary.empty:
            continue
        tables.append(comparison_table(summary, slug(suite), _caption(suite, summary), selection))
        tables += ablation_tables(summary, slug(suite), selection)
    return tables


def label_tables(frames: Frames, taken: set[str] = frozenset()) -> list[Table]:
    """Table 4 per ``kind = "labels"`` suite, named by the suite (``-labels`` if taken)."""
    tables = []
    for suite in sorted(set(frames.labels.get("suite", pd.Series(dtype=str)).dropna())):
        rows = frames.labels[frames.labels["suite"] == suite]
        caption = (f"Suite {suite} (layout of Diffuse to Detect's {LAYOUTS['pseudolabels']}): pseudo-label IoU against "
                   "the ground truth (%) and CPU seconds per target on one core, per method x dataset x label type "
                   "(training splits).")
        name = slug(suite) + ("-labels" if slug(suite) in taken else "")
        tables.append(label_table(rows, name, caption))
    return tables


def write_table(table: Table, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{table.name}.tex", folder / f"{table.name}.md", folder / f"{table.name}.csv"]
    paths[0].write_text(latex.table_float(table), encoding="utf-8")
    paths[1].write_text(text.markdown(table) + "\n" + text.intervals_markdown(table), encoding="utf-8")
    text.long_frame(table).to_csv(paths[2], index=False)
    return paths


def _comparisons(frames: Frames, report: Report, selection: str, pair: Sequence[str] | None) -> None:
    summaries = {s: summarize_variants(frames.tidy, s, None, intervals=False) for s in ("last", "best")}
    labels = label_summary(frames.labels) if not frames.labels.empty else None
    report.comparison = compare({s: v for s, v in summaries.items() if not v.empty}, labels)
    report.paired = paired_frame(frames.tidy, frames.counts[selection], selection, pair) if not frames.tidy.empty else pd.DataFrame()
    folder = report.out / "tables"
    outputs = {"published-comparison.md": listing.comparison_markdown(report.comparison),
               "paired.md": listing.paired_markdown(report.paired, tuple(pair) if pair else None)}
    if not report.comparison.empty:
        outputs["published-comparison.tex"] = listing.comparison_latex(report.comparison)
        report.comparison.to_csv(folder / "published-comparison.csv", index=False)
        report.files.append(folder / "published-comparison.csv")
    for name, content in outputs.items():
        (folder / name).write_text(content, encoding="utf-8")
        report.files.append(folder / name)
    report.extra_markdown = {"Published comparison": outputs["published-comparison.md"], "Paired comparisons": outputs["paired.md"]}


OWNED = {"tables": (".tex", ".md", ".csv"), "figures": (".png", ".pdf")}


def _clear(out: Path) -> None:
    """Remove what an earlier report wrote there, so no stale table or figure survives."""
    for folder, suffixes in OWNED.items():
        for path in (out / folder).glob("*") if (out / folder).is_dir() else []:
            if path.is_file() and path.suffix in suffixes:
                path.unlink()


def write_report(records: Sequence[dict], out: Path, selection: str = "last",
                 results_root: Path | Sequence[Path] | None = None,
                 pair: Sequence[str] | None = None, figures: bool = True, pdf: bool = True,
                 data_root: Path | None = None) -> Report:
    """Tables, figures, index.md and (with a LaTeX engine) report.pdf under ``out``;
    ``data_root``: where the qualitative grids read a real dataset's pixels (records keep none)."""
    out = Path(out)
    report = Report(out)
    _clear(out)
    with frozen_heap():  # the records
        with report.stage("frames"):
            frames = Frames.of(records)
        gc.freeze()  # and the frames
        _write(report, frames, selection, results_root, pair, figures, pdf, data_root)
    return report


@contextmanager
def frozen_heap() -> Iterator[None]:
    """The records and frames live through the whole report: moved out of the cyclic
    collector's reach (``gc.freeze``), its ~500 collections while matplotlib allocates
    no longer walk them each time (~2 s of a 1,000-record report's figures)."""
    threshold = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(50_000, *threshold[1:])  # and a young collection per 50,000 allocations, not per 700
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def _write(report: Report, frames: Frames, selection: str, results_root, pair, figures: bool, pdf: bool,
           data_root: Path | None) -> None:
    """Tables, comparisons, figures, index.md and report.pdf from the frames."""
    from reports import document

    out = report.out
    with report.stage("tables (with bootstrap intervals)"):
        report.tables = training_tables(frames, selection)
        report.tables += label_tables(frames, {t.name for t in report.tables})
    with report.stage("writing tables"):
        for table in report.tables:
            report.files += write_table(table, out / "tables")
        (out / "tables").mkdir(parents=True, exist_ok=True)
    with report.stage("published and paired comparisons"):
        _comparisons(frames, report, selection, pair)
    if figures:
        from reports.figures.make import make_figures

        with report.stage("figures"):
            report.figures = make_figures(frames, out / "figures", selection, results_root, report.comparison,
                                          data_root)
    document.write_index(report)
    if pdf:
        with report.stage("report.pdf"):
            document.write_pdf(report)


def terminal_summary(report: Report) -> str:
    """What ``pointbench report`` prints: the main tables, then where everything went."""
    parts = [text.terminal(t) for t in report.tables]
    parts.append(f"report: {report.out / 'index.md'} ({len(report.files)} table files, {len(report.figures)} figures)")
    parts.append(report.pdf_message)
    return "\n\n".join(p for p in parts if p)


def as_json(report: Report) -> dict[str, Any]:
    return {"out": str(report.out), "tables": [t.name for t in report.tables], "files": [str(p) for p in report.files],
            "figures": [str(p) for _, p in report.figures], "pdf": str(report.pdf) if report.pdf else None,
            "pdf_message": report.pdf_message}
