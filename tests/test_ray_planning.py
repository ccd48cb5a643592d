"""Dispatch without Ray: the resource policy, unregistered names, heartbeats and the
built-in suites. Fast: nothing here starts Ray or trains."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cells import Cell
from benchmark.registry import METHODS
from benchmark.dispatch import check_registered, plan, suite_size
from benchmark.liveness import Heartbeat, cell_state, heartbeat_path
from benchmark.errors import ConfigError
from benchmark.resolve import resolve
from benchmark.resources import ClusterShape, ResourceOverrides, cell_resources, policy_gpu_fraction
from benchmark.store import Store
from benchmark.suites import load_suite
from methods.base import Method, register_method

CPU_BOX = ClusterShape(cpus=2, gpus=0, max_node_cpus=2, max_node_gpus=0)
GPU_NODE = ClusterShape(cpus=16, gpus=1, max_node_cpus=16, max_node_gpus=1)


def paper(detector: str):
    return resolve(Cell(detector, "full", "SIRST3", "full", 0, profile="paper"))


def tiny():
    return resolve(Cell("DNANet", "full", "synthetic", "full", 0, profile="smoke"))


# resources ----------------------------------------------------------------------------
def test_no_gpu_is_ever_asked_of_a_gpu_less_cluster() -> None:
    assert cell_resources(paper("UIUNet"), CPU_BOX) == {"cpu": 2.0, "gpu": 0.0}  # 1 + 4 loaders, capped at the node
    assert cell_resources(tiny(), CPU_BOX) == {"cpu": 1.0, "gpu": 0.0}
    assert cell_resources(tiny(), CPU_BOX, cells_in_run=4) == {"cpu": 1.0, "gpu": 0.0}
    assert cell_resources(tiny(), CPU_BOX, cells_in_run=1) == {"cpu": 2.0, "gpu": 0.0}  # one cell: every core
    laptop = ClusterShape(cpus=8, gpus=0, max_node_cpus=8, max_node_gpus=0)
    assert cell_resources(tiny(), laptop, cells_in_run=2)["cpu"] == 4.0
    with pytest.raises(ConfigError, match="has no GPU"):
        cell_resources(tiny(), CPU_BOX, ResourceOverrides(gpus=0.25))


def test_gpu_share_follows_training_step_cost() -> None:
    assert policy_gpu_fraction(100) == 0.25 and policy_gpu_fraction(400) == 0.5 and policy_gpu_fraction(900) == 1.0
    assert cell_resources(paper("ALCLNet"), GPU_NODE)["gpu"] == 0.25  # small: 4 per GPU
    assert cell_resources(paper("UIUNet"), GPU_NODE)["gpu"] == 1.0
    small = cell_resources(paper("MLCLNet"), GPU_NODE)
    assert small["cpu"] == 4.0  # its quarter of the node's 16 CPUs (1 + 4 loaders wanted)


def test_overrides_flags_over_suite_over_policy() -> None:
    suite = ResourceOverrides.from_suite({"gpus_per_cell": {"UIUNet": 1, "default": 0.5}, "cpus_per_cell": 3})
    assert cell_resources(paper("ALCLNet"), GPU_NODE, suite) == {"cpu": 3.0, "gpu": 0.5}
    flags = ResourceOverrides(gpus=0.125).over(suite)
    assert cell_resources(paper("UIUNet"), GPU_NODE, flags) == {"cpu": 3.0, "gpu": 0.125}
    with pytest.raises(ConfigError, match="largest node has 16"):
        cell_resources(tiny(), GPU_NODE, ResourceOverrides(cpus=32))
    with pytest.raises(ConfigError, match="whole number"):
        cell_resources(tiny(), ClusterShape(16, 4, 16, 4), ResourceOverrides(gpus=1.5))
    with pytest.raises(ConfigError, match="unknown key"):
        ResourceOverrides.from_suite({"gpu": 1})


# unregistered names ---------------------------------------------------------------------
def test_unregistered_names_are_reported_at_once_with_the_way_out() -> None:
    suite = load_suite("smoke").with_axes(methods=["full", "nope_a", "nope_b[x=1]"], detectors=["DNANet", "NoNet"])
    with pytest.raises(ConfigError) as err:
        check_registered(suite)
    text = str(err.value)
    assert "2 methods not registered: nope_a, nope_b" in text and "1 detector not registered: NoNet" in text
    assert "--methods full" in text and "--detectors DNANet" in text and "--registered-only" in text
    part = check_registered(suite, registered_only=True, echo=lambda _: None)
    assert part.methods == ("full",) and part.detectors == ("DNANet",)


def test_plan_reports_every_unregistered_name_of_a_cell_list(tmp_path: Path) -> None:
    cells = [Cell("DNANet", m, "synthetic", "centroid", 0) for m in ("point", "nope_a", "nope_b")]
    with pytest.raises(ConfigError, match="2 methods not registered: nope_a, nope_b"):
        plan(cells, Store(tmp_path, "t"))


def test_a_single_typo_keeps_the_closest_match() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'DNANet'"):
        check_registered(load_suite("quick").with_axes(detectors=["DNANte"]))


if "test_ray_opt" not in METHODS.names():

    @register_method
    class WithOption(Method):
        name = "test_ray_opt"
        description = "a method with one option (tests only)"
        defaults = {"a": 1}


def test_equal_keys_run_once(tmp_path: Path) -> None:
    a = Cell("DNANet", "test_ray_opt", "synthetic", "centroid", 0, profile="smoke")
    b = Cell("DNANet", "test_ray_opt", "synthetic", "centroid", 0, profile="smoke", method_options=(("a", 1),))
    assert a != b and resolve(a).key == resolve(b).key  # the default written out is the same cell
    assert len(plan([a, b], Store(tmp_path, "t")).todo) == 1


# built-in suites ------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["table1", "table2", "ablation", "pseudolabels"])
def test_published_suites_load(name: str) -> None:
    suite = load_suite(name)
    cells, unregistered = suite_size(suite)
    assert cells > 0 or unregistered
    if name == "pseudolabels":
        assert suite.kind == "labels" and suite.detectors == ()
    else:
        assert suite.profile == "paper" and suite.kind == "train"


def test_table1_is_the_papers_grid() -> None:
    s = load_suite("table1")
    assert len(s.detectors) == 7 and s.datasets == ("SIRST3",) and s.labels == ("centroid", "coarse") and s.seeds == (0, 1, 2)
    assert set(s.methods) == {"full", "lesps", "pal", "mclc", "diffusion", "gsacp", "learnable_distance"}
    s2 = load_suite("table2")
    assert set(s2.detectors) == {"ALCLNet", "DNANet", "UIUNet", "MSDANet"}
    assert set(s2.datasets) == {"SIRST", "NUDT-SIRST", "IRSTD-1K"}


# heartbeat and status ---------------------------------------------------------------------
def test_heartbeat_makes_running_accurate(tmp_path: Path) -> None:
    store = Store(tmp_path, "t")
    key = "k" * 16
    assert cell_state(store, key) == "pending"
    with Heartbeat(store, key, "test", epochs=3) as beat:
        assert cell_state(store, key) == "running"
        beat.epoch({"epoch": 2})
        assert json.loads(heartbeat_path(store, key).read_text())["epoch"] == 2
    assert cell_state(store, key) == "pending" and not heartbeat_path(store, key).exists()
    # a checkpoint whose writer died: interrupted, not running
    store.work_dir(key).mkdir(parents=True)
    (store.work_dir(key) / "checkpoint.pt").write_bytes(b"x")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    info = {"host": socket.gethostname(), "pid": int(dead.stdout), "epoch": 1}
    heartbeat_path(store, key).write_text(json.dumps(info))
    assert cell_state(store, key) == "interrupted"
    # a failed record with a live heartbeat: a retry in progress
    store.write({"key": key, "status": "failed"})
    assert cell_state(store, key) == "failed"
    heartbeat_path(store, key).write_text(json.dumps({**info, "pid": os.getpid()}))
    assert cell_state(store, key) == "running"


# the command line -------------------------------------------------------------------------
def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    from benchmark.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ray_flags_need_the_ray_executor(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run_cli(capsys, "run", "--executor", "serial", "--gpus-per-cell", "0.25", "--results", str(tmp_path))
    assert code == 2 and "--gpus-per-cell only apply to --executor ray" in err


def test_unregistered_suite_fails_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code, _, err = run_cli(capsys, "run", "--methods", "full,nope_a,nope_b", "--results", str(tmp_path))
    assert code == 2 and "2 methods not registered: nope_a, nope_b" in err and "--methods full" in err
    assert not (tmp_path / "quick").exists()
    code, out, _ = run_cli(capsys, "status", "--methods", "full,nope_a", "--results", str(tmp_path), "--json")
    payload = json.loads(out)
    assert code == 0 and payload["unregistered"] == ["nope_a"] and payload["pending"]["count"] == 1


def test_labels_suite_scores_labels_without_training(tmp_path: Path, shared_cache: Path, capsys: pytest.CaptureFixture) -> None:
    suite = tmp_path / "labels.toml"
    suite.write_text('kind = "labels"\nmethods = ["point"]\ndatasets = ["synthetic"]\nlabels = ["centroid", "full"]\nseeds = [0]\n')
    common = ["--suite", str(suite), "--results", str(tmp_path), "--cache-dir", str(shared_cache)]
    code, out, err = run_cli(capsys, "run", *common, "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 1 and rows[0]["method"] == "point" and rows[0]["labels"] == "centroid"  # "full" is not a point label
    assert 0 < rows[0]["iou"] < 50  # single pixels against whole targets
    (record,) = [json.loads(p.read_text()) for p in (tmp_path / "labels").glob("*.json")]
    assert record["kind"] == "labels" and record["status"] == "done" and record["targets"] > 0
    code, _, err = run_cli(capsys, "run", *common)
    assert code == 0 and "1 already done, 0 to run" in err
    code, out, _ = run_cli(capsys, "status", *common, "--json")
    assert json.loads(out)["done"]["count"] == 1
