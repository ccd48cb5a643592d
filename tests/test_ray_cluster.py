"""The Ray executor on a two-node cluster (``ray.cluster_utils.Cluster``, both nodes on
this machine): cells spread over nodes, records land in the one results folder."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from benchmark.dispatch import plan
from benchmark.executor import DispatchSettings
from benchmark.ray_executor import run_ray
from benchmark.engine import RunOptions
from benchmark.store import Store
from tests.test_ray_dispatch import REPO, tiny_cell

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[object]:
    import ray
    from ray.cluster_utils import Cluster

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.makedirs("/tmp/ray", exist_ok=True)  # Cluster writes /tmp/ray/ray_current_cluster whatever temp_dir says
    temp = tempfile.mkdtemp(prefix="pbclu", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "num_gpus": 0, "include_dashboard": False, "temp_dir": temp,
                        "object_store_memory": 80 * 1024 * 1024},
    )
    cluster.add_node(num_cpus=1, num_gpus=0, temp_dir=temp, object_store_memory=80 * 1024 * 1024)
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}})
    yield cluster
    ray.shutdown()
    cluster.shutdown()
    shutil.rmtree(temp, ignore_errors=True)


def test_two_cell_grid_on_two_nodes(two_nodes: object, tmp_path: Path, shared_cache: Path) -> None:
    import ray

    assert len([n for n in ray.nodes() if n["Alive"]]) == 2
    store = Store(tmp_path, "cluster")
    cells = [tiny_cell(seed) for seed in range(2)]
    lines: list[str] = []
    records = run_ray(plan(cells, store).todo, store, RunOptions(cache_dir=shared_cache, progress=False),
                      DispatchSettings(echo=lines.append))
    assert sorted(r["status"] for r in records) == ["done", "done"], [r.get("error") for r in records]
    assert any("2 CPUs, 0 GPUs in 2 node(s)" in line for line in lines), lines
    assert plan(cells, store).todo == []
