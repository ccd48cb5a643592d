"""The command line: smoke run on real data, skip on rerun, and clear errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.cli import main


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.realdata
def test_smoke_suite_trains_on_sirst_then_skips(tmp_path: Path, data_root: Path, shared_cache: Path, capsys) -> None:
    common = ["--suite", "smoke", "--data-root", str(data_root), "--cache-dir", str(shared_cache), "--results", str(tmp_path)]
    code, out, err = run_cli(capsys, "run", *common)
    assert code == 0, err
    records = list((tmp_path / "smoke").glob("*.json"))
    assert len(records) == 1
    record = json.loads(records[0].read_text())
    assert record["status"] == "done" and record["cell"]["dataset"] == "SIRST"
    assert record["data"]["train_images"] == 8
    assert "IoU" in out and "DNANet" in out
    code, out, err = run_cli(capsys, "run", *common)
    assert code == 0
    assert "1 already done, 0 to run" in err
    assert records[0].stat().st_mtime == (tmp_path / "smoke" / records[0].name).stat().st_mtime
    code, out, _ = run_cli(capsys, "status", *common, "--json")
    assert json.loads(out)["done"]["count"] == 1
    code, out, _ = run_cli(capsys, "report", "--results", str(tmp_path), "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 1
    assert rows[0]["detector"] == "DNANet" and rows[0]["iou"] == record["metrics"]["last"]["subsets"]["all"]["iou"]


def test_unknown_detector_suggests_closest(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "run", "--detectors", "DNANte", "--results", str(tmp_path))
    assert code == 2
    assert "unknown detector 'DNANte'" in err and "Did you mean 'DNANet'" in err


def test_unknown_method_option(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "run", "--methods", "point[tb=0.5]", "--results", str(tmp_path))
    assert code == 2 and "has no option 'tb'" in err


def test_suite_file_with_unknown_key(tmp_path: Path, capsys) -> None:
    suite = tmp_path / "mine.toml"
    suite.write_text('profile = "smoke"\ndetectors = ["DNANet"]\nmethod = ["full"]\nmethods = ["full"]\n'
                     'datasets = ["synthetic"]\nlabels = ["full"]\nseeds = [0]\n')
    code, _, err = run_cli(capsys, "run", "--suite", str(suite), "--results", str(tmp_path))
    assert code == 2
    assert "unknown key 'method'" in err and "mine.toml" in err and "did you mean 'methods'" in err


def test_missing_data_root_fails_before_training(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "run", "--suite", "smoke", "--data-root", str(tmp_path / "nope"), "--results", str(tmp_path))
    assert code == 2
    assert "does not exist" in err and "--data-root" in err
    assert not (tmp_path / "smoke").exists()


def test_unknown_suite_lists_builtins(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "run", "--suite", "quik", "--results", str(tmp_path))
    assert code == 2 and "Did you mean 'quick'" in err


def test_list_json(capsys) -> None:
    code, out, _ = run_cli(capsys, "list", "detectors", "DNA*", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [r["name"] for r in rows] == ["DNANet"]
    assert rows[0]["params_m"] == pytest.approx(4.697, abs=0.01)
    assert rows[0]["side_outputs"] == 3
    code, out, _ = run_cli(capsys, "list", "datasets", "--json")
    assert {r["name"] for r in json.loads(out)} >= {"SIRST3", "synthetic"}


def test_report_without_records_says_what_to_do(tmp_path: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "report", "--results", str(tmp_path))
    assert code == 2 and "pointbench run" in err
