"""One rule for a cell's state: the store, the planner and ``pointbench status`` agree."""

from __future__ import annotations

import json
from pathlib import Path

from benchmark.liveness import Heartbeat, cell_state
from benchmark.schema import error_info, label_record, mark_failed, stamp
from benchmark.store import Store


def test_store_status_is_cell_state_in_every_state(tmp_path: Path) -> None:
    store = Store(tmp_path, "t")
    seen = {}
    seen["pending"] = (store.status("k"), cell_state(store, "k"))
    (store.work_dir("k")).mkdir(parents=True)
    (store.work_dir("k") / "checkpoint.pt").write_bytes(b"")
    seen["interrupted"] = (store.status("k"), cell_state(store, "k"))
    with Heartbeat(store, "k", "test"):
        seen["running"] = (store.status("k"), cell_state(store, "k"))
        store.write({"key": "k", "status": "failed"})
        seen["running, a retry after a failure"] = (store.status("k"), cell_state(store, "k"))
    seen["failed"] = (store.status("k"), cell_state(store, "k"))
    store.write({"key": "k", "status": "done"})
    seen["done"] = (store.status("k"), cell_state(store, "k"))
    assert seen == {
        "pending": ("pending", "pending"), "interrupted": ("interrupted", "interrupted"),
        "running": ("running", "running"), "running, a retry after a failure": ("running", "running"),
        "failed": ("failed", "failed"), "done": ("done", "done"),
    }


class _Method:
    name, spec, label_types = "m", "m[x=1]", ("centroid",)

    def describe(self) -> dict:
        return {"name": "m"}


def test_one_failed_record_shape_for_exceptions_and_lost_workers(tmp_path: Path) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        raised = error_info(exc)
    lost = error_info(kind="TrialError", message="The actor is dead")
    assert set(raised) == set(lost) == {"type", "message", "traceback"}
    assert raised["type"] == "RuntimeError" and "Traceback" in raised["traceback"] and lost["traceback"] == ""
    record = stamp(mark_failed(label_record("k", "n", "s", {"seed": 0}, _Method()), raised), executor="test")
    assert record["status"] == "failed" and record["kind"] == "labels" and record["method"]["spec"] == "m[x=1]"
    assert set(record["provenance"]) == {"finished_at", "executor"}  # no device: a driver writing for a lost worker
    Store(tmp_path, "s").write(record)
    assert json.loads((tmp_path / "s" / "k.json").read_text())["error"]["message"] == "boom"


def test_a_method_finds_a_finished_record_of_any_suite_by_key(tmp_path: Path) -> None:
    from benchmark.engine import find_record

    Store(tmp_path, "a").write({"key": "k1", "status": "failed"})
    Store(tmp_path, "b").write({"key": "k1", "status": "done", "suite": "b"})
    Store(tmp_path, "b").write({"key": "k2", "status": "failed"})
    assert find_record(tmp_path, "k1")["suite"] == "b"
    assert find_record(tmp_path, "k2") is None and find_record(tmp_path / "nowhere", "k1") is None
