"""The synthetic records of ``pointbench bench report`` are records a report can trust
(their metrics are the sums of their per-image counts), and they fill every layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.metrics import Counts, counts_from_breakdown
from reports.bench import synthetic_records
from reports.build import write_report


def test_synthetic_records_are_consistent() -> None:
    assert len(synthetic_records(1000)) == 1000
    records = synthetic_records(400)
    assert len({(r["suite"], r["key"]) for r in records}) == 400  # one cell in two suites shares its key, as in runs
    for r in records[::37]:
        evaluation = r["metrics"]["last"]
        counts = counts_from_breakdown(evaluation["per_image"])
        assert sum(counts, Counts()).metrics() == evaluation["subsets"]["all"]
        for subset, expected in evaluation["subsets"].items():
            if subset != "all":
                part = [c for c, s in zip(counts, evaluation["per_image"]["subset"]) if s == subset]
                assert sum(part, Counts()).metrics() == expected


@pytest.mark.slow
def test_bench_records_fill_every_layout(tmp_path: Path) -> None:
    records = [r for r in synthetic_records(1000) if r["suite"] != "table2"]  # Table 2 is Table 1's shape again
    report = write_report(records, tmp_path, figures=False, pdf=False)
    names = {t.name for t in report.tables}
    assert {"table1", "ablation", "pseudolabels"} <= names
    assert any(n.startswith("ablation-ablation-diffusion") for n in names)
    table1 = next(t for t in report.tables if t.name == "table1")
    assert table1.groups == ["SIRST3", "SIRST", "NUDT-SIRST", "IRSTD-1K"] and len(table1.rows) == 7 * 9
    assert table1.intervals == {"seeds x images"}
    assert not report.comparison.empty and not report.paired.empty
