"""``pointbench run`` ends with its suite's report: the table printed, the report's
tables, figures and index written under ``<results>/<suite>/report`` (real data, the
smoke suite: one tiny cell)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.cli import main

pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_run_prints_the_table_and_writes_the_report(tmp_path: Path, data_root: Path, shared_cache: Path,
                                                    capsys: pytest.CaptureFixture) -> None:
    code = main(["run", "--suite", "smoke", "--data-root", str(data_root), "--cache-dir", str(shared_cache),
                 "--results", str(tmp_path), "--threads", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "| DNANet" in out and "IoU (%)" in out  # the table
    report = tmp_path / "smoke" / "report"
    assert f"report: {report / 'index.md'}" in err
    assert (report / "tables" / "smoke.tex").read_text().count(r"\toprule") == 1
    assert "DNANet" in (report / "tables" / "smoke.md").read_text()
    for name in ("curves-smoke-SIRST", "seeds-smoke", "pdfa-smoke", "qualitative-smoke-SIRST-DNANet"):
        assert (report / "figures" / f"{name}.png").stat().st_size > 5000
        assert (report / "figures" / f"{name}.pdf").read_bytes().startswith(b"%PDF")
    assert "figures/curves-smoke-SIRST.png" in (report / "index.md").read_text()
