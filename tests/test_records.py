"""Trustworthy records (issue 9): one identity per run, variants, honest reports, stale
records found and rerun only when asked, strict JSON, AdamW's decay, Ray without clocks."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from benchmark.cells import Cell, parse_spec
from benchmark.resolve import resolve
from benchmark.store import Store, load_records, records_frame

REPO = Path(__file__).resolve().parents[1]


def cell(spec: str, detector: str = "DNANet", seed: int = 0, overrides: tuple = (), profile: str = "smoke") -> Cell:
    name, options = parse_spec(spec)
    labels = "full" if name == "full" else "centroid"
    return Cell(detector, name, "synthetic", labels, seed, profile, tuple(sorted(options.items())), overrides)


# 1. seeds from what runs -------------------------------------------------------------------
def test_one_configuration_one_key_one_set_of_seeds() -> None:
    from benchmark.schema import cell_record as _base_record

    spellings = ["lesps", "lesps[f=5]", "lesps[f=5.0]", "LESPS[start=loss<10,f=5]"]
    records = [_base_record(resolve(cell(s, detector="dnanet")), "t") for s in spellings]
    assert len({r["key"] for r in records}) == 1
    assert all(r["seeds"] == records[0]["seeds"] for r in records), [r["seeds"] for r in records]
    assert {r["name"] for r in records} == {"DNANet/lesps/synthetic/centroid/s0"}
    other = _base_record(resolve(cell("lesps[f=3]")), "t")
    assert other["key"] != records[0]["key"]
    assert other["seeds"]["init_seed"] != records[0]["seeds"]["init_seed"]
    assert other["seeds"]["data_seed"] == records[0]["seeds"]["data_seed"]  # paired: same data order


# 2 and 4. variants and the report -------------------------------------------------------------
def fake_record(c: Cell, suite: str, iou: float) -> dict:
    from benchmark.schema import cell_record as _base_record

    record = _base_record(resolve(c), suite)
    values = {"iou": iou, "niou": iou, "pd": 90.0, "fa": 1.0}
    record.update(status="done", metrics={s: {"epoch": 2, "selection": s, "subsets": {"all": values}} for s in ("last", "best")})
    return record


def test_variant_groups_seeds_and_nothing_else() -> None:
    from reports.tables import summarize

    prior = (("target_prior", 0.01),)
    records = [
        fake_record(cell("full"), "quick", 50.0),
        fake_record(cell("full", overrides=prior), "detectors-quick", 60.0),  # the same cell under another profile
        fake_record(cell("full", overrides=prior), "again", 60.0),  # one variant and seed stored twice
        fake_record(cell("full", seed=1, overrides=prior), "detectors-quick", 62.0),
    ]
    frame = records_frame(records)
    assert {"variant", "profile_changes", "protocol_version", "key", "method_spec"} <= set(frame.columns)
    variants = frame.drop_duplicates("key").set_index("key")["variant"]
    assert variants[records[1]["key"]] == variants[records[3]["key"]] != variants[records[0]["key"]]
    assert records[1]["variant"] == records[3]["variant"]  # stored in the record too
    summary = summarize(frame).set_index("profile_changes")
    assert len(summary) == 2
    assert summary.loc["", "seeds"] == 1 and summary.loc["", "iou"] == 50.0
    assert summary.loc["target_prior=0.01", "seeds"] == 2  # seeds 0 and 1, seed 0 counted once
    assert summary.loc["target_prior=0.01", "iou"] == pytest.approx(61.0)
    assert summary.loc["target_prior=0.01", "suite"] == "again, detectors-quick"


def test_reference_records_are_read_only_when_asked() -> None:
    assert not (REPO / "results" / "detectors-quick").exists() and not (REPO / "results" / "sirst-short").exists()
    mine = [r for r in load_records(REPO / "results") if r.get("suite") in ("detectors-quick", "sirst-short")]
    assert mine == []  # the default ./results never mixes them in
    reference = load_records(REPO / "results" / "reference")
    frame = records_frame(reference)
    old = frame[frame["suite"].isin(["detectors-quick", "sirst-short"])]
    assert old["key"].nunique() == 20 and set(old["protocol_version"]) == {2}  # they say which protocol they ran
    cpu = frame[frame["suite"] == "sirst-cpu"]
    assert cpu["key"].nunique() >= 4 and set(cpu["protocol_version"]) == {3}


def test_report_json_is_strict_and_counts_seeds(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from benchmark.cli import main

    store = Store(tmp_path, "quick")
    store.write(fake_record(cell("full"), "quick", 50.0))
    assert main(["report", "--results", str(tmp_path), "--json"]) == 0
    out = capsys.readouterr().out

    def refuse(constant: str) -> None:
        raise AssertionError(f"not strict JSON: {constant}")

    (row,) = json.loads(out, parse_constant=refuse)
    assert row["seeds"] == 1 and row["iou_std"] is None and row["iou"] == 50.0


# 9. AdamW -------------------------------------------------------------------------------------
def test_adamw_honours_zero_weight_decay_and_defaults_where_the_profile_switches() -> None:
    import torch

    from benchmark.build import make_optimizer
    from benchmark.profiles import get_profile

    quick = get_profile("quick")
    switched = quick.with_overrides({"optimizer": "adamw"})
    assert switched.weight_decay == 0.01  # AdamW's own default, where the profile is built
    zero = quick.with_overrides({"optimizer": "adamw", "weight_decay": 0.0})
    assert zero.weight_decay == 0.0
    model = torch.nn.Linear(2, 1)
    assert make_optimizer(model, zero).param_groups[0]["weight_decay"] == 0.0
    assert make_optimizer(model, switched).param_groups[0]["weight_decay"] == 0.01
    assert zero.with_overrides({"lr": 1e-3}).weight_decay == 0.0  # already AdamW: left alone


# 3. content fingerprints and staleness --------------------------------------------------------
@pytest.fixture
def toy_root(tmp_path: Path) -> Path:
    """A tiny dataset in the common layout, under the registered name SIRST."""
    from tests.test_data_layout import make_dataset

    root = tmp_path / "data"
    make_dataset(root, "SIRST", n=6)
    return root


def test_fingerprint_is_the_content_not_the_copy(toy_root: Path, tmp_path: Path) -> None:
    from benchmark.data.loader import load_split

    copy = tmp_path / "copy"
    shutil.copytree(toy_root, copy)
    image = copy / "SIRST" / "images" / "img0.png"
    os.utime(image, ns=(1, 1))  # another machine's mtimes
    a = load_split("SIRST", "train", toy_root, tmp_path / "cache-a").fingerprint
    b = load_split("SIRST", "train", copy, tmp_path / "cache-b").fingerprint
    assert a == b
    stat = image.stat()
    data = bytearray(image.read_bytes())
    from PIL import Image

    pixels = Image.open(image).convert("L")
    pixels.putpixel((0, 0), (pixels.getpixel((0, 0)) + 1) % 256)
    pixels.save(image)
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same mtime: still found
    assert load_split("SIRST", "train", copy, tmp_path / "cache-b").fingerprint != a
    assert bytes(data) != image.read_bytes()


def test_digests_are_cached_by_size_and_mtime(toy_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmark.data import digests
    from benchmark.data.loader import split_fingerprint

    calls: list[Path] = []
    real = digests.file_digest
    monkeypatch.setattr(digests, "file_digest", lambda p: calls.append(p) or real(p))
    first = split_fingerprint("SIRST", "train", toy_root, tmp_path / "cache")
    assert len(calls) == 2 * 3  # image, mask, centroid of the 2 training ids (no coarse files)
    calls.clear()
    assert split_fingerprint("SIRST", "train", toy_root, tmp_path / "cache") == first
    assert calls == []  # a second run stats, it does not reread


def run_cli(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    from benchmark.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.slow
def test_stale_records_are_found_and_rerun_only_when_asked(toy_root: Path, tmp_path: Path, capsys) -> None:
    common = ["--suite", "smoke", "--data-root", str(toy_root), "--cache-dir", str(tmp_path / "cache"),
              "--results", str(tmp_path / "results"), "--set", "epochs=1", "--threads", "1"]
    status = [a for a in common if a not in ("--threads", "1")]
    code, _, err = run_cli(capsys, "run", *common)
    assert code == 0, err
    (path,) = (tmp_path / "results" / "smoke").glob("*.json")
    record = json.loads(path.read_text())
    assert record["fingerprints"]["data"]["train"] == record["data"]["train_fingerprint"]
    assert record["fingerprints"]["pointbench"]["version"] and record["fingerprints"]["distributions"] == {}
    code, out, _ = run_cli(capsys, "status", *status, "--json")
    assert json.loads(out)["done"]["count"] == 1
    image = toy_root / "SIRST" / "images" / "img1.png"  # a training image
    image.write_bytes((toy_root / "SIRST" / "images" / "img3.png").read_bytes())
    code, out, _ = run_cli(capsys, "status", *status, "--json")
    payload = json.loads(out)
    assert payload["stale"]["count"] == 1 and payload["done"]["count"] == 0
    assert payload["stale"]["reasons"][record["name"]] == ["its train data changed"]
    code, _, err = run_cli(capsys, "run", *common)
    assert code == 0 and "1 already done (1 stale" in err and "0 to run" in err
    assert json.loads(path.read_text()) == record  # kept, not reused silently: reported
    code, _, err = run_cli(capsys, "run", *common, "--rerun-stale")
    assert code == 0 and "1 to run (1 from scratch" in err
    rerun = json.loads(path.read_text())
    assert rerun["fingerprints"]["data"]["train"] != record["fingerprints"]["data"]["train"]
    assert json.loads((path.parent / ".replaced" / path.name).read_text()) == record
    code, _, err = run_cli(capsys, "run", *common, "--force", "dnanet/*")
    assert code == 0 and "1 to run (1 from scratch" in err
    code, _, err = run_cli(capsys, "run", *common, "--force", "UIUNet/*")
    assert code == 2 and "matches no cell" in err


def test_a_plugin_version_change_makes_a_record_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmark.registry import METHODS
    from benchmark.staleness import Review

    rc = resolve(cell("full"))
    review = Review()
    monkeypatch.setattr(review, "split_fingerprint", lambda *a: "same")
    record = {"status": "done", "fingerprints": {"data": {"train": "same", "test": "same"},
                                                 "distributions": {"method": {"name": "pb-x", "version": "0.1"}}}}
    assert review.stale_reasons(rc, record) == ["its method comes from pb-x 0.1, now from pointbench itself"]
    monkeypatch.setattr(METHODS, "distribution", lambda name: ("pb-x", "0.1"))
    assert review.stale_reasons(rc, record) == [] and review(rc, record) == "done"
    assert Review(force=("*/full/*",))(rc, record) == "redo"


# 10. Ray: this run's records by content, not by clocks -----------------------------------------
class FakeTrial:
    def __init__(self, key: str):
        self.config = {"cell": {"key": key}}
        self.error_file = None


def test_ray_driver_reads_records_whatever_the_storage_clock_says(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    from benchmark.ray_executor import GridProgress, records_of_this_run

    store = Store(tmp_path, "t")
    rc = resolve(cell("full"))
    progress = GridProgress([rc], store, echo=lambda _: None, retries=0, tty=False)
    before = {rc.key: store.stamp(rc.key)}
    progress.on_trial_start(0, [], FakeTrial(rc.key))
    written = {**fake_record(rc.cell, "t", 40.0), "status": "failed",
               "error": {"type": "CellFailed", "message": "boom", "traceback": ""}}
    store.write(written)  # the worker's record, on a file server whose clock is an hour behind
    os.utime(store.record_path(rc.key), (os.path.getatime(store.record_path(rc.key)) - 3600,) * 2)
    progress.on_trial_error(0, [], FakeTrial(rc.key))
    assert store.read(rc.key)["error"]["type"] == "CellFailed"  # not replaced by a "lost worker" record
    assert [r["key"] for r in records_of_this_run(store, before)] == [rc.key]
    assert records_of_this_run(store, {rc.key: store.stamp(rc.key)}) == []  # unchanged since launch: not ours


def test_records_are_written_as_strict_json_with_nan_as_null(tmp_path: Path) -> None:
    """A metric with no targets is NaN; the file must still parse in a strict JSON reader."""
    import json

    import numpy as np

    from benchmark.store import write_json_atomic

    def refuse(constant: str) -> None:
        raise ValueError(f"non-standard JSON constant {constant}")

    path = tmp_path / "r.json"
    write_json_atomic(path, {"pd": float("nan"), "fa": float("inf"), "iou": np.float32(0.5),
                             "curve": np.array([1.0, np.nan]), "where": tmp_path, "pair": (1, 2)})
    back = json.loads(path.read_text(), parse_constant=refuse)
    assert back == {"pd": None, "fa": None, "iou": 0.5, "curve": [1.0, None], "where": str(tmp_path), "pair": [1, 2]}
    with pytest.raises(TypeError, match="object"):
        write_json_atomic(tmp_path / "bad.json", {"x": object()})
    assert not (tmp_path / "bad.json").exists()
