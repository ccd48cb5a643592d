"""The engine: reproducible on the CPU, resumable, failures recorded not raised."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.cells import Cell
from benchmark.engine import RunOptions, run_cell
from benchmark.registry import METHODS
from benchmark.store import Store
from methods.base import Method, register_method

TINY = (("epochs", 3), ("max_train_images", 8), ("max_test_images", 6), ("checkpoint_every", 1))


def tiny_cell(method: str = "full", labels: str = "full", overrides: tuple = TINY) -> Cell:
    return Cell("DNANet", method, "synthetic", labels, 0, profile="smoke", profile_overrides=overrides)


def options(cache: Path) -> RunOptions:
    return RunOptions(cache_dir=cache, progress=False)


def metrics_of(record: dict) -> dict:
    return record["metrics"]["last"]["subsets"]["all"]


def test_same_cell_twice_gives_same_metrics(tmp_path: Path, shared_cache: Path) -> None:
    a = run_cell(tiny_cell(), Store(tmp_path / "a", "t"), options(shared_cache))
    b = run_cell(tiny_cell(), Store(tmp_path / "b", "t"), options(shared_cache))
    assert a["status"] == b["status"] == "done", a.get("error")
    assert metrics_of(a) == metrics_of(b)
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]
    assert a["key"] == b["key"]


def test_record_contents(tmp_path: Path, shared_cache: Path) -> None:
    store = Store(tmp_path, "t")
    record = run_cell(tiny_cell("point", "centroid"), store, options(shared_cache))
    assert record["status"] == "done"
    assert store.record_path(record["key"]).is_file()
    assert not store.work_dir(record["key"]).exists()  # checkpoint removed after success
    assert record["method"]["name"] == "point" and record["method"]["privileged"] is False
    assert record["metrics"]["best"]["selection"].startswith("best test IoU")
    assert record["metrics"]["last"]["epoch"] == 3
    assert len(record["history"]) == 3
    assert record["label_quality"][0]["epoch"] == 0  # point labels vs masks, logged by the engine
    assert record["data"]["train_images"] == 8 and record["data"]["test_images"] == 6
    assert record["provenance"]["torch"] and record["seeds"]["data_seed"] != record["seeds"]["init_seed"]


class Interrupt(BaseException):
    """Stands for a kill: not an Exception, so run_cell does not record it."""


def test_interrupted_cell_resumes_to_the_same_result(tmp_path: Path, shared_cache: Path) -> None:
    reference = run_cell(tiny_cell(), Store(tmp_path / "ref", "t"), options(shared_cache))
    store = Store(tmp_path / "cut", "t")

    def kill_after_two(entry: dict) -> None:
        if entry["epoch"] == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_cell(tiny_cell(), store, options(shared_cache), on_epoch=kill_after_two)
    key = reference["key"]
    assert store.read(key) is None and store.status(key) == "interrupted"  # a checkpoint, nobody on it
    seen = []
    resumed = run_cell(tiny_cell(), store, options(shared_cache), on_epoch=lambda e: seen.append(e["epoch"]))
    assert seen == [3]  # only the remaining epoch ran
    assert metrics_of(resumed) == metrics_of(reference)
    assert [h["loss"] for h in resumed["history"]] == [h["loss"] for h in reference["history"]]


if "test_boom" not in METHODS.names():

    @register_method
    class Boom(Method):
        name = "test_boom"
        description = "raises during setup (tests only)"

        def setup(self, ctx):  # noqa: D401
            raise RuntimeError("boom in setup")


def test_failure_is_recorded_and_the_grid_goes_on(tmp_path: Path, shared_cache: Path) -> None:
    from benchmark.dispatch import plan
    from benchmark.serial_executor import run_serial

    store = Store(tmp_path, "t")
    cells = [tiny_cell("test_boom", "centroid"), tiny_cell()]
    records = run_serial(plan(cells, store).todo, store, options(shared_cache), echo=lambda s: None)
    assert [r["status"] for r in records] == ["failed", "done"]
    assert "boom in setup" in records[0]["error"]["message"]
    assert "Traceback" in records[0]["error"]["traceback"]
    assert plan(cells, store).todo[0].cell.method == "test_boom"  # failed cells run again
    assert len(plan(cells, store).todo) == 1


def test_threads_option_is_applied_recorded_and_restored(tmp_path: Path, shared_cache: Path) -> None:
    import torch

    before = torch.get_num_threads()
    overrides = (("epochs", 1), ("max_train_images", 4), ("max_test_images", 2))
    record = run_cell(tiny_cell(overrides=overrides), Store(tmp_path, "t"), RunOptions(cache_dir=shared_cache, progress=False, threads=1))
    assert record["status"] == "done" and record["provenance"]["threads"] == 1
    assert torch.get_num_threads() == before


def test_serial_run_skips_cells_another_run_finished_or_holds(tmp_path: Path, shared_cache: Path) -> None:
    """Two serial runs on one results folder share the grid: each cell is checked at its turn."""
    from benchmark.dispatch import plan
    from benchmark.liveness import Heartbeat
    from benchmark.serial_executor import run_serial

    store = Store(tmp_path, "t")
    one = tiny_cell()
    two = Cell("DNANet", "full", "synthetic", "full", 1, profile="smoke", profile_overrides=TINY)
    todo = plan([one, two], store).todo
    assert len(todo) == 2
    lines: list[str] = []
    with Heartbeat(store, todo[1].key, "test"):  # "another process" holds the second cell
        run_cell(one, store, options(shared_cache))  # ... and another run already finished the first
        records = run_serial(todo, store, options(shared_cache), echo=lines.append)
    assert records == []
    assert "skipped, done in another run" in lines[0] and "skipped, running in another run" in lines[1]
