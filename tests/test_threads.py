"""The thread rule (benchmark/cpu_plan.py) and the executors that apply it.

The rule, not timings: resolved threads and cells at once for given core counts, which
executor a run picks, what Ray reserves, and that the serial and local executors train
with the resolved count (recorded in provenance.threads) and give the same records.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import pytest
import torch

from benchmark import cli, cpu_plan as cp
from benchmark.cells import Cell
from benchmark.cpu_plan import cgroup_cpus, cpu_plan, default_executor, usable_cores
from benchmark.dispatch import plan
from benchmark.engine import RunOptions
from benchmark.errors import ConfigError
from benchmark.executor import get_executor
from benchmark.resolve import resolve
from benchmark.resources import ClusterShape, cell_resources
from benchmark.registry import METHODS
from benchmark.store import Store
from methods.base import register_method
from methods.full import Full

TINY = (("detector_width", 0.125), ("epochs", 1), ("eval_every", 1), ("max_test_images", 2), ("max_train_images", 4))


MEET = "POINTBENCH_TEST_MEET"


def tiny(seed: int = 0, method: str = "full") -> Cell:
    return Cell("DNANet", method, "synthetic", "full", seed, profile="smoke", profile_overrides=TINY)


if "test_meet" not in METHODS.names():

    @register_method
    class Meet(Full):
        """Full supervision whose setup, where $POINTBENCH_TEST_MEET names a folder, waits
        until two cells have reached it: it finishes only if they run side by side. It is
        registered here, so a child process finds it only by importing this module."""

        name = "test_meet"
        description = "full supervision meeting another cell in setup (tests only)"

        def setup(self, ctx) -> None:
            folder = os.environ.get(MEET)
            if folder:
                Path(folder).mkdir(parents=True, exist_ok=True)
                (Path(folder) / str(os.getpid())).touch()
                deadline = time.monotonic() + 120
                while len(list(Path(folder).iterdir())) < 2:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the other cell never started: the cells did not run side by side")
                    time.sleep(0.05)
            super().setup(ctx)


@pytest.mark.parametrize(("cells", "cores", "threads", "cap", "expected"), [
    (2, 2, None, None, (1, 2)),    # the quick suite on the 2-core VM: both cells at once, one thread each
    (1, 2, None, None, (1, 1)),    # one cell: one thread, not every core (the collapse measured)
    (8, 2, None, None, (1, 2)),
    (8, 16, None, None, (1, 8)),   # never more at once than cells
    (8, 16, 4, None, (4, 4)),      # --threads 4: cores // 4 at once
    (8, 2, 2, None, (2, 1)),       # --threads 2 on 2 cores: one at a time
    (3, 2, 4, None, (4, 1)),       # more threads than cores: still one cell runs
    (8, 16, None, 3, (1, 3)),      # --max-concurrent caps
    (0, 4, None, None, (1, 1)),
])
def test_threads_and_cells_at_once(cells, cores, threads, cap, expected) -> None:
    p = cpu_plan(cells, cores, threads, cap)
    assert (p.threads, p.concurrent) == expected
    assert p.explicit is (threads is not None)


def test_bad_counts_are_refused_with_the_flag_named() -> None:
    with pytest.raises(ConfigError, match="--threads"):
        cpu_plan(2, 2, threads=0)
    with pytest.raises(ConfigError, match="--max-concurrent"):
        cpu_plan(2, 2, max_concurrent=-1)


def test_default_executor_runs_cells_side_by_side_only_on_cpus() -> None:
    assert default_executor(cpu_plan(2, 2), on_cpu=True) == "local"
    assert default_executor(cpu_plan(1, 2), on_cpu=True) == "serial"
    assert default_executor(cpu_plan(6, 1), on_cpu=True) == "serial"  # one core
    assert default_executor(cpu_plan(6, 2, threads=2), on_cpu=True) == "serial"
    assert default_executor(cpu_plan(6, 16), on_cpu=False) == "serial"  # a GPU: each cell gets it whole


def test_describe_says_threads_and_concurrency() -> None:
    assert cpu_plan(6, 2).describe("local") == "one torch thread per cell (the default), 2 of 6 cells at once on 2 cores"
    assert cpu_plan(6, 2, threads=2).describe("serial") == "--threads 2, one cell at a time"


def test_cores_come_from_affinity_and_the_container_quota(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    quota = tmp_path / "cpu.max"
    quota.write_text("150000 100000\n")
    assert cgroup_cpus(quota) == 2  # 1.5 CPUs of quota: rounded up
    quota.write_text("max 100000\n")
    assert cgroup_cpus(quota) is None
    assert cgroup_cpus(tmp_path / "missing") is None
    monkeypatch.setattr(cp.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7}, raising=False)
    monkeypatch.setattr(cp, "cgroup_cpus", lambda: None)
    assert usable_cores() == 8
    monkeypatch.setattr(cp, "cgroup_cpus", lambda: 3)
    assert usable_cores() == 3


def _args(**kw) -> argparse.Namespace:
    base = dict(executor=None, address=None, max_concurrent=None, gpus_per_cell=None, cpus_per_cell=None, threads=None)
    return argparse.Namespace(**{**base, **kw})


def test_cli_picks_the_executor_by_the_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cp, "usable_cores", lambda: 2)
    args = _args()
    assert cli._choose_executor(args, [1, 2], "cpu").concurrent == 2 and args.executor == "local"
    args = _args()
    cli._choose_executor(args, [1], "cpu")
    assert args.executor == "serial"
    args = _args()
    cli._choose_executor(args, [1, 2], "cuda:0")
    assert args.executor == "serial"
    args = _args(threads=2)
    assert cli._choose_executor(args, [1, 2, 3], "cpu").threads == 2 and args.executor == "serial"
    args = _args(executor="serial")
    cli._choose_executor(args, [1, 2], "cpu")
    assert args.executor == "serial"  # asked for: kept


def test_flags_of_another_executor_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    base = ["run", "--suite", "smoke", "--results", str(tmp_path)]
    assert cli.main(base + ["--executor", "serial", "--max-concurrent", "2"]) == 2
    assert "--max-concurrent only apply to --executor ray or local" in capsys.readouterr().err
    assert cli.main(base + ["--executor", "local", "--gpus-per-cell", "0.5"]) == 2
    assert cli.main(base + ["--cpus-per-cell", "2"]) == 2  # the rule never picks ray by itself
    assert "--cpus-per-cell only apply to --executor ray" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(base + ["--threads", "0"])
    assert exit_.value.code == 2 and "a whole number >= 1" in capsys.readouterr().err


def test_ray_reserves_the_cells_threads_not_a_share_of_idle_cores() -> None:
    laptop = ClusterShape(cpus=8, gpus=0, max_node_cpus=8, max_node_gpus=0)
    assert cell_resources(resolve(tiny()), laptop) == {"cpu": 1.0, "gpu": 0.0}
    assert cell_resources(resolve(tiny()), laptop, threads=3) == {"cpu": 3.0, "gpu": 0.0}
    assert cell_resources(resolve(tiny()), laptop, threads=32)["cpu"] == 8.0  # capped at the node


def _metrics(records: list[dict]) -> dict[str, dict]:
    return {r["key"]: r["metrics"]["last"]["subsets"]["all"] for r in records}


def test_serial_trains_with_one_thread_by_default(tmp_path: Path, shared_cache: Path) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # what torch picks on a two-core machine without OMP_NUM_THREADS
    try:
        store = Store(tmp_path, "t")
        records = get_executor("serial")(plan([tiny()], store).todo, store,
                                         RunOptions(cache_dir=shared_cache, progress=False), echo=lambda _: None)
        assert records[0]["status"] == "done" and records[0]["provenance"]["threads"] == 1
        assert torch.get_num_threads() == 2  # restored after the cell
    finally:
        torch.set_num_threads(before)


@pytest.mark.slow
def test_local_runs_cells_side_by_side_with_the_serial_records(tmp_path: Path, shared_cache: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("benchmark.local_executor.usable_cores", lambda: 2)  # two at once even on one core
    cells = [tiny(0, "test_meet"), tiny(1, "test_meet")]
    opts = RunOptions(cache_dir=shared_cache, progress=False, device="cpu")
    serial_store, local_store = Store(tmp_path / "serial", "t"), Store(tmp_path / "local", "t")
    serial = get_executor("serial")(plan(cells, serial_store).todo, serial_store, opts, echo=lambda _: None)
    lines: list[str] = []
    from benchmark.executor import DispatchSettings

    monkeypatch.setenv(MEET, str(tmp_path / "meet"))  # each child's setup waits until both have started
    local = get_executor("local")(plan(cells, local_store).todo, local_store, opts, settings=DispatchSettings(echo=lines.append))
    assert len(local) == 2 and all(r["status"] == "done" for r in local), [r.get("error") for r in local]
    assert {r["provenance"]["threads"] for r in local} == {1}
    assert _metrics(local) == _metrics(serial)  # same cell, same thread count: the same numbers
    assert lines[0].startswith("local: one torch thread per cell (the default), 2 of 2 cells at once")
    # a second run finds both done and starts no process
    assert get_executor("local")(plan(cells, local_store).todo, local_store, opts) == []
