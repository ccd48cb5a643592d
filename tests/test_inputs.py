"""Bad input caught before anything trains (issue 9, points 6-8): suite values checked with
the field named, empty grids refused, exit codes as the README promises."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import pytest

from benchmark.errors import ConfigError
from benchmark.suites import load_suite

GRID = {
    "profile": '"smoke"', "detectors": '["DNANet"]', "methods": '["full"]', "datasets": '["synthetic"]',
    "labels": '["full"]', "seeds": "[0]",
}


def suite_file(tmp_path: Path, overrides: str = "", **axes: str) -> str:
    lines = [f"{k} = {v}" for k, v in {**GRID, **axes}.items()]
    path = tmp_path / "mine.toml"
    path.write_text("\n".join(lines) + ("\n[profile_overrides]\n" + overrides if overrides else "") + "\n")
    return str(path)


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    from benchmark.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# 6. suite files ---------------------------------------------------------------------------------
@pytest.mark.parametrize("axes, message", [
    ({"detectors": '"DNANet"'}, r"detectors must be a list of strings, e.g. detectors = \[\"DNANet\"\]"),
    ({"seeds": '["a"]'}, r"seeds must be integers >= 0, not 'a'"),
    ({"seeds": "[0.5]"}, r"seeds must be integers >= 0, not 0.5"),
    ({"seeds": "[-1]"}, r"seeds must be integers >= 0, not -1"),
    ({"labels": '["centriod"]'}, r"'centriod' is not a label type \(did you mean 'centroid'\?\)"),
    ({"methods": "[]"}, r"methods is empty"),
])
def test_suite_axes_are_checked_when_the_file_loads(tmp_path: Path, axes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as err:
        load_suite(suite_file(tmp_path, **axes))
    assert "mine.toml" in str(err.value)


@pytest.mark.parametrize("overrides, message", [
    ('epochs = "one"', r"epochs = 'one' must be an integer"),
    ('lr = "fast"', r"lr = 'fast' must be a number"),
    ("amp = 1", r"amp = 1 must be true or false"),
    ('detector_width = {ISNet = "wide"}', r"detector_width.ISNet\): profile field detector_width = 'wide' must be a number"),
    ("epochs = 0", r"epochs = 0 must be at least 1"),
])
def test_profile_overrides_are_typed_when_the_file_loads(tmp_path: Path, overrides: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_suite(suite_file(tmp_path, overrides))


def test_an_integer_for_a_float_field_is_the_same_configuration(tmp_path: Path) -> None:
    from benchmark.resolve import resolve

    one = load_suite(suite_file(tmp_path, "lr = 1")).cells()[0]
    assert isinstance(dict(one.profile_overrides)["lr"], float)
    other = load_suite(suite_file(tmp_path, "lr = 1.0")).cells()[0]
    assert resolve(one).key == resolve(other).key


# 7. empty grids and names that do not exist --------------------------------------------------------
@pytest.mark.parametrize("flags, message", [
    (["--labels", "centriod"], "did you mean 'centroid'"),
    (["--methods", "lesps", "--labels", "full"], "method 'lesps' trains on centroid/coarse labels"),
    (["--set", "epochs=one"], "--set: profile field epochs = 'one' must be an integer"),
])
def test_an_empty_or_bad_grid_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture, flags: list, message: str) -> None:
    for command in ("status", "run"):
        code, out, err = run_cli(capsys, command, *flags, "--results", str(tmp_path))
        assert code == 2 and message in err, (command, err)
    assert not (tmp_path / "quick").exists()


@pytest.mark.parametrize("seeds", ["", "-1", "0,x"])
def test_seeds_must_be_integers_from_zero(tmp_path: Path, capsys: pytest.CaptureFixture, seeds: str) -> None:
    with pytest.raises(SystemExit) as exit_:
        run_cli(capsys, "status", f"--seeds={seeds}", "--results", str(tmp_path))
    assert exit_.value.code == 2 and "seeds must be" in capsys.readouterr().err


def test_report_names_the_suites_and_subsets_that_exist(capsys: pytest.CaptureFixture) -> None:
    reference = str(Path(__file__).resolve().parents[1] / "results" / "reference")
    code, _, err = run_cli(capsys, "report", "--results", reference, "--suite", "sirst-shrt")
    listed = err.split("Suites there:")[-1].strip().split(", ")
    assert code == 2 and "Did you mean 'sirst-short'" in err and {"detectors-quick", "sirst-short"} <= set(listed)
    code, _, err = run_cli(capsys, "report", "--results", reference, "--subset", "NUDT")
    assert code == 2 and "no records of subset 'NUDT'" in err and "have: all" in err


# 8. exit codes --------------------------------------------------------------------------------------
@pytest.fixture
def toy_root(tmp_path: Path) -> Path:
    from tests.test_data_layout import make_dataset

    make_dataset(tmp_path / "data", "SIRST", n=4)
    return tmp_path / "data"


def smoke(toy_root: Path, tmp_path: Path, results: Path | None = None) -> list[str]:
    """One epoch of the smoke cell on the toy data (a suite file: the same on older code)."""
    suite = tmp_path / "smoke.toml"
    suite.write_text("\n".join(f"{k} = {v}" for k, v in {**GRID, "datasets": '["SIRST"]'}.items()) + "\n"
                     "[profile_overrides]\nepochs = 1\n")
    return ["run", "--suite", str(suite), "--data-root", str(toy_root), "--cache-dir", str(tmp_path / "cache"),
            "--results", str(results or tmp_path / "results"), "--threads", "1"]


def test_bad_data_exits_2_with_its_message_once(toy_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (toy_root / "SIRST" / "images" / "img2.png").write_bytes(b"not a png")  # a test image
    code, _, err = run_cli(capsys, *smoke(toy_root, tmp_path))
    assert code == 2
    assert err.count("cannot read image") == 1 and "img2.png" in err
    assert not list((tmp_path / "results").glob("*/*.json"))  # nothing trained, nothing recorded


def test_unwritable_results_folder_is_one_line(toy_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    code, _, err = run_cli(capsys, *smoke(toy_root, tmp_path, blocker / "results"))
    assert code == 2 and "Traceback" not in err
    (line,) = [l for l in err.splitlines() if l.startswith("error:")]
    assert "cannot write records in the results folder" in line and str(blocker) in line


@pytest.mark.slow
def test_full_disk_when_the_record_is_written_is_one_line(toy_root: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    import benchmark.store as store

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.tempfile, "mkstemp", full)
    code, _, err = run_cli(capsys, *smoke(toy_root, tmp_path))
    assert code == 2 and "Traceback" not in err
    assert "No space left on device" in err and "cannot write records in the results folder" in err


@pytest.mark.slow
def test_cells_another_run_finished_do_not_fail_the_run(toy_root: Path, tmp_path: Path, capsys, monkeypatch) -> None:
    from benchmark import executor
    from benchmark.engine import RunOptions, run_cell
    from benchmark.serial_executor import run_serial as serial

    def another_run_first(todo, store, options, settings=None):
        for rc in todo:  # another `pointbench run` on the same folder finishes the cell first
            run_cell(rc.cell, store, RunOptions(data_root=options.data_root, cache_dir=options.cache_dir, progress=False))
        return serial(todo, store, options, settings=settings)

    monkeypatch.setattr(executor, "get_executor", lambda name: another_run_first)
    code, _, err = run_cli(capsys, *smoke(toy_root, tmp_path))
    assert code == 0, err
    assert "skipped, done in another run" in err and "1 cell(s) finished or held by another run" in err
    assert "did not finish" not in err
    assert json.loads(next((tmp_path / "results" / "smoke").glob("*.json")).read_text())["status"] == "done"
