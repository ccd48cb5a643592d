"""The report from records made by real tiny runs (smoke profile, synthetic data): the
evidence fields agree with the metrics, the LaTeX compiles, every number in a table is
the frame's, the figures exist, the CLI writes it all and the report path never imports
torch."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmark.metrics import Counts, counts_from_breakdown
from benchmark.store import Store, load_records
from reports.build import write_report
from reports.document import latex_engine
from reports.frames import tidy_frame
from reports.summary import summarize_variants
from tests.report_records import label_job_records, run_with_evidence, tiny_cell

REPO = Path(__file__).resolve().parents[1]
SCHEMES = [("full", "full"), ("point", "centroid"), ("lesps[start=epoch:1,f=1]", "centroid")]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Path:
    """6 trained cells (3 schemes x 2 seeds) and 4 label jobs under one results folder."""
    root = tmp_path_factory.mktemp("report-results")
    store = Store(root, "tiny")
    for spec, labels in SCHEMES:
        for seed in (0, 1):
            run_with_evidence(tiny_cell(spec, labels, seed), store, shared_cache)
    label_job_records(Store(root, "tiny-labels"), shared_cache)
    return root


@pytest.fixture(scope="module")
def report(results: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("report")
    return write_report(load_records(results), out, results_root=results, pdf=latex_engine() is not None)


def test_evidence_agrees_with_the_record(results: Path) -> None:
    for record in Store(results, "tiny").records():
        for selection in ("last", "best"):
            evaluation = record["metrics"][selection]
            summed = sum(counts_from_breakdown(evaluation["per_image"]), Counts()).metrics()
            assert summed == evaluation["subsets"]["all"]
        at_half = record["sweep"]["threshold"].index(0.5)
        assert record["sweep"]["iou"][at_half] == pytest.approx(record["metrics"]["last"]["subsets"]["all"]["iou"])
        assert (results / "tiny" / record["predictions"]["dir"] / "manifest.json").is_file()


def test_latex_compiles_with_a_real_engine(report) -> None:
    if latex_engine() is None:
        message = "no LaTeX engine on PATH (apt-get install texlive-latex-base texlive-latex-recommended)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    assert report.pdf is not None, report.pdf_message
    assert report.pdf.read_bytes().startswith(b"%PDF")
    tex = (report.out / "report.tex").read_text()
    assert all(f"tables/{t.name}.tex" in tex for t in report.tables)


def _tex_rows(path: Path) -> dict[str, list[str]]:
    body = path.read_text().split("\\midrule", 1)[1].split("\\bottomrule")[0]
    rows = [[c.strip() for c in line.rstrip("\\ ").split(" & ")] for line in body.splitlines() if line.strip().endswith("\\\\")]
    return {r[1].replace("$^{\\dagger}$", ""): r for r in rows}


def _numbers(cell: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+\.\d+", re.sub(r"\$\^\{\(\d+\)\}\$", "", cell))]


def test_every_number_of_the_table_is_the_frames(results: Path, report) -> None:
    from reports.naming import scheme_name

    summary = summarize_variants(tidy_frame(load_records(results, ["tiny"])), "last", "all")
    rows = _tex_rows(report.out / "tables" / "tiny.tex")
    assert len(rows) == len(summary) == 3
    for s in summary.to_dict("records"):
        assert s["seeds"] == 2
        row = rows[scheme_name(s["method_spec"])]
        for j, metric in enumerate(["iou", "niou", "pd", "fa"]):
            numbers = _numbers(row[2 + j])
            assert numbers[0] == pytest.approx(round(s[metric], 2), abs=1e-9), (s["method_spec"], metric)
            assert numbers[1] == pytest.approx(round(s[f"{metric}_std"], 2), abs=1e-9)
    table = next(t for t in report.tables if t.name == "tiny")
    assert table.intervals == {"seeds x images"}  # the records kept per-image counts
    low, high = table.values["low"], table.values["high"]
    inside = (low <= table.values["mean"] + 1e-9) & (table.values["mean"] <= high + 1e-9)
    assert inside[np.isfinite(low)].all()


def test_label_table_and_figures(report) -> None:
    names = {t.name for t in report.tables}
    assert {"tiny", "tiny-labels"} <= names
    captions = " ".join(c for c, _ in report.figures)
    for kind in ("Per-epoch curves", "Pd-Fa curves", "Seed spread", "Qualitative grid"):
        assert kind in captions
    for _, png in report.figures:
        assert png.stat().st_size > 5000 and png.with_suffix(".pdf").is_file()
    index = (report.out / "index.md").read_text()
    for link in re.findall(r"\]\(([^)]+)\)", index):
        assert (report.out / link).is_file(), link


def test_cli_writes_the_report(results: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from benchmark.cli import main

    out = tmp_path / "build"
    assert main(["report", "--results", str(results), "--out", str(out), "--no-pdf", "--no-figures",
                 "--compare", "lesps[start=epoch:1,f=1]", "point"]) == 0
    printed = capsys.readouterr().out
    assert "Suite tiny" in printed and str(out / "index.md") in printed
    paired = (out / "tables" / "paired.md").read_text()
    assert "LESPS [f=1,start=epoch:1] | Point" in paired and "seeds x images" in paired  # one spelling per spec


def test_the_report_path_never_imports_torch(results: Path, tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from benchmark.cli import main\n"
        f"rc = main(['report', '--results', {str(results)!r}, '--out', {str(tmp_path / 'r')!r}, '--no-pdf'])\n"
        "assert rc == 0, rc\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "MPLBACKEND": "Agg"})
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "[]"
    assert any((tmp_path / "r" / "figures").glob("*.png"))


def test_a_run_ends_with_its_report(results: Path, capsys: pytest.CaptureFixture) -> None:
    import argparse

    from reports.cli import report_after_run

    store = Store(results, "tiny")
    args = argparse.Namespace(no_report=False)
    report_after_run(args, store, store.records(), ran=True)
    index = results / "tiny" / "report" / "index.md"
    assert index.is_file() and (results / "tiny" / "report" / "tables" / "tiny.tex").is_file()
    assert str(index) in capsys.readouterr().err
    before = index.stat().st_mtime_ns
    report_after_run(args, store, store.records(), ran=False)  # nothing ran: the report stands
    assert index.stat().st_mtime_ns == before and "stands" in capsys.readouterr().err
    assert load_records(results, ["tiny"]) == store.records()  # the report folder is not read as records
