"""The Ray executor on a local 2-CPU cluster: a grid completes and is not rerun; a cell
that fails once is retried from its checkpoint; a cell that always fails is recorded.

Ray starts once for the module (6-10 s here). Workers import this module to find the
test-only methods below: the executor ships the modules that registered a cell's method.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest

from benchmark.cells import Cell
from benchmark.dispatch import plan
from benchmark.executor import DispatchSettings
from benchmark.ray_executor import run_ray
from benchmark.engine import RunOptions
from benchmark.registry import METHODS
from benchmark.store import Store
from methods.base import Method, register_method

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
TINY = (("epochs", 2), ("max_train_images", 4), ("max_test_images", 2), ("detector_width", 0.125))


def tiny_cell(seed: int, method: str = "full", labels: str = "full", epochs: int = 2) -> Cell:
    overrides = tuple(sorted({**dict(TINY), "epochs": epochs}.items()))
    return Cell("DNANet", method, "synthetic", labels, seed, profile="smoke", profile_overrides=overrides)


if "test_ray_flaky" not in METHODS.names():
    FullMethod = METHODS.get("full")

    @register_method
    class FlakyOnce(FullMethod):  # type: ignore[misc, valid-type]
        """Full supervision that crashes once in its second epoch, after the first checkpoint."""

        name = "test_ray_flaky"
        description = "raises once at epoch 2 (tests only)"

        def end_epoch(self, epoch: int, ctx: Any) -> dict:
            marker = ctx.workdir.parent / f"{ctx.workdir.name}.raised"
            if epoch == 1 and not marker.exists():
                marker.write_text("raised once")
                raise RuntimeError("flaky: first attempt dies at epoch 2")
            return {}

    @register_method
    class AlwaysBoom(Method):
        name = "test_ray_boom"
        description = "raises during setup, every time (tests only)"

        def setup(self, ctx: Any) -> None:
            raise RuntimeError("boom in setup, every attempt")


    @register_method
    class WorkerDies(Method):
        name = "test_ray_dies"
        description = "its Ray worker process exits mid-cell, every time (tests only)"

        def setup(self, ctx: Any) -> None:
            import ray

            if ray.is_initialized() and ray.get_runtime_context().get_actor_id() is not None:
                os._exit(3)  # as an out-of-memory kill would: no record, no exception
            raise RuntimeError("test_ray_dies only dies inside a Ray actor")


def ray_init(temp: Path, **extra: Any) -> None:
    import ray

    ray.init(
        address="local", num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False, _temp_dir=str(temp),
        object_store_memory=100 * 1024 * 1024,
        runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "RAY_CHDIR_TO_TRIAL_DIR": "0",
                                  "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}},
        **extra,
    )


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    import tempfile

    import ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    temp = Path(tempfile.mkdtemp(prefix="pbray", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    ray_init(temp)
    yield
    ray.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


def options(cache: Path) -> RunOptions:
    return RunOptions(cache_dir=cache, progress=False)


def quiet(retries: int = 2) -> tuple[DispatchSettings, list[str]]:
    """Settings whose progress lines go to a list instead of stderr."""
    lines: list[str] = []
    return DispatchSettings(retries=retries, echo=lines.append), lines


def test_grid_of_four_completes_and_is_not_run_again(ray_session: None, tmp_path: Path, shared_cache: Path) -> None:
    store = Store(tmp_path, "grid")
    cells = [tiny_cell(seed) for seed in range(4)]
    settings, lines = quiet()
    records = run_ray(plan(cells, store).todo, store, options(shared_cache), settings)
    assert sorted(r["status"] for r in records) == ["done"] * 4, [r.get("error") for r in records]
    paths = sorted(store.dir.glob("*.json"))
    assert len(paths) == 4 and all(json.loads(p.read_text())["status"] == "done" for p in paths)
    assert all(r["timing"]["resumed_from_epoch"] == 0 for r in records)
    assert any("4/4 done, 0 failed" in line for line in lines), lines
    # trial folders live under the results folder, absolute; nothing in the cwd
    assert (store.dir / ".ray" / "tune").is_dir()
    mtimes = [p.stat().st_mtime_ns for p in paths]
    again = plan(cells, store)
    assert again.todo == [] and len(again.done) == 4
    assert run_ray(again.todo, store, options(shared_cache), quiet()[0]) == []
    assert [p.stat().st_mtime_ns for p in paths] == mtimes


def test_retry_resumes_and_final_failure_is_recorded(ray_session: None, tmp_path: Path, shared_cache: Path) -> None:
    store = Store(tmp_path, "retry")
    flaky = tiny_cell(0, "test_ray_flaky", epochs=3)
    boom = tiny_cell(0, "test_ray_boom", "centroid")
    fine = tiny_cell(1)
    dies = tiny_cell(0, "test_ray_dies", "centroid")
    work = plan([flaky, boom, fine, dies], store)
    settings, lines = quiet(retries=1)
    records = {r["name"]: r for r in run_ray(work.todo, store, options(shared_cache), settings)}
    assert len(records) == 4
    retried = records[flaky.name]
    assert retried["status"] == "done", retried.get("error")
    assert retried["timing"]["resumed_from_epoch"] == 1  # the retry continued the checkpoint after epoch 1
    assert [h["epoch"] for h in retried["history"]] == [1, 2, 3]
    failed = records[boom.name]
    assert failed["status"] == "failed" and "boom in setup, every attempt" in failed["error"]["message"]
    assert "Traceback" in failed["error"]["traceback"]
    assert records[fine.name]["status"] == "done"
    assert any("retrying from its checkpoint" in line for line in lines), lines
    assert any(line.startswith("[") and "FAILED " + boom.name in line for line in lines), lines
    lost = records[dies.name]  # the driver writes the record its dead worker could not
    assert lost["status"] == "failed" and lost["error"]["type"] == "TrialError" and lost["cell"]["method"] == "test_ray_dies"
    assert [rc.cell for rc in plan([flaky, boom, fine, dies], store).todo] == [boom, dies]  # failed cells run again
