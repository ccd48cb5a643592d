"""A driver killed with SIGKILL mid-grid, then run again: finished cells are not rerun,
the interrupted cell resumes from its checkpoint, and no record is partial.

The driver is ``pointbench run --executor ray`` in a subprocess (its own session, so
whatever Ray leaves behind can be ended by process group), one cell at a time
(``--max-concurrent 1``) so that when the first record exists the second cell is
mid-training with a checkpoint on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from benchmark.cells import Cell
from benchmark.liveness import cell_state, heartbeat_path
from benchmark.resolve import resolve
from benchmark.store import Store

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
EPOCHS = 12
SUITE = f"""
description = "kill test"
profile = "smoke"
detectors = ["DNANet"]
methods = ["full"]
datasets = ["synthetic"]
labels = ["full"]
seeds = [0, 1]
[profile_overrides]
epochs = {EPOCHS}
max_train_images = 4
max_test_images = 2
detector_width = 0.125
"""


def wait_for(predicate, timeout: float, every: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def end_group(proc: subprocess.Popen) -> None:
    """End what the driver started (Ray's raylet, GCS, agents): its own process group."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def test_killed_driver_then_rerun_resumes(tmp_path: Path, shared_cache: Path) -> None:
    suite = tmp_path / "killme.toml"
    suite.write_text(SUITE)
    results = tmp_path / "results"
    ray_tmp = tempfile.mkdtemp(prefix="pbkill", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    env = {**os.environ, "RAY_TMPDIR": ray_tmp, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "benchmark.cli", "run", "--suite", str(suite), "--executor", "ray",
               "--max-concurrent", "1", "--results", str(results), "--cache-dir", str(shared_cache)]
    store = Store(results, "killme")
    from benchmark.suites import load_suite

    first, second = [resolve(c) for c in load_suite(str(suite)).cells()]
    log = tmp_path / "driver1.log"
    with log.open("w") as err:
        driver = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
    try:
        checkpoint = store.work_dir(second.key) / "checkpoint.pt"
        caught = wait_for(lambda: store.read(first.key) is not None and checkpoint.is_file(), timeout=180)
        assert caught, f"never saw one record and one checkpoint:\n{log.read_text()}"
        assert store.read(second.key) is None, "the second cell ended before the kill; raise EPOCHS"
        assert cell_state(store, second.key) == "running"  # its worker's heartbeat is live
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
        # Ray ends the driver's workers when it dies; the heartbeat says when
        assert wait_for(lambda: cell_state(store, second.key) == "interrupted", timeout=60, every=0.5), \
            json.loads(heartbeat_path(store, second.key).read_text())
    finally:
        end_group(driver)

    status = subprocess.run([sys.executable, "-m", "benchmark.cli", "status", "--suite", str(suite), "--results",
                             str(results), "--json"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    counts = {k: v["count"] for k, v in json.loads(status.stdout).items() if isinstance(v, dict)}
    assert counts == {"done": 1, "stale": 0, "failed": 0, "running": 0, "interrupted": 1, "pending": 0}, status.stdout
    first_mtime = store.record_path(first.key).stat().st_mtime_ns

    rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, start_new_session=True)
    assert rerun.returncode == 0, rerun.stderr
    assert "1 already done, 1 to run" in rerun.stderr
    assert store.record_path(first.key).stat().st_mtime_ns == first_mtime  # not run again
    resumed = store.read(second.key)
    assert resumed is not None and resumed["status"] == "done", resumed
    assert resumed["timing"]["resumed_from_epoch"] >= 1  # continued its checkpoint, did not restart at epoch 1
    assert [h["epoch"] for h in resumed["history"]] == list(range(1, EPOCHS + 1))
    # every record whole, nothing half-written or left behind
    for path in store.dir.glob("*.json"):
        assert json.loads(path.read_text())["status"] == "done"
    leftovers = [p for p in store.dir.rglob("*") if p.name.endswith(".tmp") or p.suffix == ".alive"]
    assert leftovers == []
    assert not store.work_dir(second.key).exists()  # checkpoint removed once the cell was done
    shutil.rmtree(ray_tmp, ignore_errors=True)
