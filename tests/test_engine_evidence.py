"""What the engine keeps beyond aggregates, for reports that never retrain: per-image
counts at both selections, the last epoch's threshold sweep (also across a resume from
the last checkpoint) and PNGs of fixed images, which change no result."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.cells import Cell
from benchmark.data.loader import load_split
from benchmark.engine import RunOptions, run_cell
from benchmark.evidence import SAVED_IMAGES, fixed_images, read_manifest, saved_images
from benchmark.metrics import Counts, counts_from_breakdown
from benchmark.profiles import get_profile
from benchmark.store import Store

TINY = (("epochs", 3), ("max_train_images", 8), ("max_test_images", 6), ("checkpoint_every", 1))
CELL = Cell("DNANet", "point", "synthetic", "centroid", 0, profile="smoke", profile_overrides=TINY)


class Interrupt(BaseException):
    """A kill after the last epoch's checkpoint, before the record is written."""


def _kill_at_last(entry: dict) -> None:
    if entry["epoch"] == 3:
        raise Interrupt


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> tuple[Store, dict, dict]:
    """The cell killed after its last checkpoint and resumed (2 PNGs each split), then
    rerun from scratch in the same folder without PNGs."""
    store = Store(tmp_path_factory.mktemp("evidence"), "t")
    with_pngs = RunOptions(cache_dir=shared_cache, progress=False, threads=1, save_images=2)
    with pytest.raises(Interrupt):
        run_cell(CELL, store, with_pngs, on_epoch=_kill_at_last)
    resumed = run_cell(CELL, store, with_pngs)
    store.retire(resumed["key"])
    rerun = run_cell(CELL, store, RunOptions(cache_dir=shared_cache, progress=False, threads=1, save_images=0))
    return store, resumed, rerun


@pytest.mark.slow  # three tiny trainings (module fixture), ~40-80 s on a shared CPU
def test_per_image_counts_sum_to_both_selections(runs) -> None:
    _, record, _ = runs
    assert record["status"] == "done", record.get("error")
    for selection in ("last", "best"):
        evaluation = record["metrics"][selection]
        assert len(evaluation["per_image"]["union"]) == record["data"]["test_images"]
        assert sum(counts_from_breakdown(evaluation["per_image"]), Counts()).metrics() == evaluation["subsets"]["all"]


@pytest.mark.slow  # three tiny trainings (module fixture), ~40-80 s on a shared CPU
def test_sweep_is_the_last_epoch_and_survives_the_resume(runs) -> None:
    _, resumed, rerun = runs
    sweep = resumed["sweep"]
    assert sweep["epoch"] == resumed["metrics"]["last"]["epoch"] == 3
    at_half = sweep["threshold"].index(0.5)
    last = resumed["metrics"]["last"]["subsets"]["all"]
    assert sweep["iou"][at_half] == pytest.approx(last["iou"]) and sweep["pd"][at_half] == pytest.approx(last["pd"])
    assert rerun["sweep"] == sweep  # the uninterrupted run's: the checkpoint carried it


@pytest.mark.slow  # three tiny trainings (module fixture), ~40-80 s on a shared CPU
def test_pngs_of_the_fixed_images_and_none_after_a_rerun_without(runs, shared_cache: Path) -> None:
    store, resumed, rerun = runs
    test = load_split("synthetic", "test", None, shared_cache).head(6)
    expected = [f"test/{test.samples[i].name}" for i in fixed_images([s.mask for s in test.samples], 2)]
    assert resumed["predictions"]["images"][:2] == expected and len(resumed["predictions"]["images"]) == 4
    # the rerun saved none and left none behind; PNGs changed no result and no key
    assert "predictions" not in rerun and read_manifest(store.dir, rerun["key"]) == []
    assert not (store.dir / resumed["predictions"]["dir"]).exists()
    assert rerun["key"] == resumed["key"] and rerun["metrics"]["last"]["subsets"] == resumed["metrics"]["last"]["subsets"]


def test_reduced_profiles_save_pngs_by_default_and_the_paper_none() -> None:
    assert saved_images(get_profile("smoke")) == saved_images(get_profile("quick")) == SAVED_IMAGES > 0
    assert saved_images(get_profile("paper")) == 0 and saved_images(get_profile("paper"), 3) == 3
    assert saved_images(get_profile("smoke"), 0) == 0


def test_a_negative_image_count_is_a_usage_error(capsys: pytest.CaptureFixture) -> None:
    from benchmark.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--save-images", "-1"])
    assert exit_info.value.code == 2 and "--save-images" in capsys.readouterr().err
