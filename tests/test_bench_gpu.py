"""``pointbench bench gpu`` at its --tiny size on the CPU, its docs section, and the data staging.

No GPU is needed: the tiny run goes through every stage's code (detectors in two modes,
packing through the local executor, the four paper cells on real SIRST) at a size that
trains in seconds; the numbers mean nothing and nothing here checks a timing.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark import cli
from benchmark.bench import gpu
from benchmark.bench.gpu_data import stage_data, wheel_command


def _fake_result() -> dict:
    return {"device": "Test GPU", "torch": "2.x", "cuda": "13.0", "tiny": False, "skipped": ["detectors", "packing"],
            "stage_seconds": {"paper": 400.0}, "total_seconds": 400.0, "within_target": True,
            "paper": {"seconds": 400.0, "records": "results/gpu/table2", "ran_now": 4,
                      "rows": [{"method": m, "status": "done", "key": m, "iou": 50.0, "niou": 51.0, "pd": 90.0, "fa": 10.0,
                                "table2_iou": gpu.TABLE2_DNANET_SIRST[m]["iou"], "train_seconds": 100.0}
                               for m in gpu.PAPER_METHODS]}}


def test_docs_section_replaces_the_previous_run_and_keeps_the_rest(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text("# Performance\n\nbefore\n", encoding="utf-8")
    gpu.write_doc_section(doc, gpu.doc_section(_fake_result(), "pointbench bench gpu"))
    doc.write_text(doc.read_text(encoding="utf-8") + "\n## After\n\nafter\n", encoding="utf-8")
    second = _fake_result()
    second["paper"]["rows"][0]["iou"] = 76.5
    gpu.write_doc_section(doc, gpu.doc_section(second, "pointbench bench gpu --skip detectors,packing"))
    text = doc.read_text(encoding="utf-8")
    assert text.count(gpu.DOC_BEGIN) == 1 and text.count(gpu.DOC_END) == 1
    assert text.startswith("# Performance\n\nbefore\n") and text.rstrip().endswith("after")
    assert "| full | done | 76.50 | 77.55 |" in text and "| full | done | 50.00 |" not in text
    assert "| mclc | done | 50.00 | 69.61 |" in text
    assert "within the 8-minute target" in text and "--skip detectors,packing" in text


def test_saved_result_is_strict_json_with_null_for_a_missing_metric(tmp_path: Path) -> None:
    result = _fake_result()
    result["paper"]["rows"][0]["fa"] = float("nan")  # a cell that predicted nothing has no Fa to show
    run = gpu.GpuRun(None, None, tmp_path, "cpu", gpu.TINY)
    path = gpu.save(result, run, None, "pointbench bench gpu")
    text = path.read_text(encoding="utf-8")
    assert "NaN" not in text and json.loads(text)["paper"]["rows"][0]["fa"] is None


def test_without_cuda_the_full_size_refuses_with_the_way_out(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is visible")
    assert cli.main(["bench", "gpu", "--results", str(tmp_path)]) == 2
    assert "--tiny" in capsys.readouterr().err
    assert cli.main(["bench", "gpu", "--tiny", "--skip", "detectors,bogus", "--results", str(tmp_path)]) == 2
    assert "bogus" in capsys.readouterr().err


def test_paper_cells_are_table2s_dnanet_sirst_column() -> None:
    cells = gpu.paper_cells()
    assert [c.method for c in cells] == list(gpu.PAPER_METHODS)
    assert {c.dataset for c in cells} == {"SIRST"} and {c.profile for c in cells} == {"paper"}
    assert [c.labels for c in cells] == ["full", "centroid", "centroid", "centroid"]
    tiny = gpu.paper_cells(gpu.TINY.paper_overrides)
    assert dict(tiny[0].profile_overrides)["epochs"] == 2


def test_data_staging_copies_the_layout_and_refuses_a_wrong_folder(tmp_path: Path) -> None:
    src = tmp_path / "data" / "SIRST"
    for sub, name in (("images", "a.png"), ("masks", "a.png"), ("img_idx", "train_SIRST.txt")):
        (src / sub).mkdir(parents=True)
        (src / sub / name).write_bytes(b"x")
    (src / "README.txt").write_text("not copied")
    copied = stage_data(tmp_path / "data", tmp_path / ".gpu-data")
    assert copied == [tmp_path / ".gpu-data" / "SIRST"]
    assert sorted(p.name for p in copied[0].iterdir()) == ["images", "img_idx", "masks"]
    stage_data(tmp_path / "data", tmp_path / ".gpu-data")  # again: replaced, not nested
    assert not (copied[0] / "images" / "images").exists()
    with pytest.raises(SystemExit, match="not a dataset folder"):
        stage_data(tmp_path / "nowhere", tmp_path / ".gpu-data")
    command = wheel_command(tmp_path / "w")
    assert "--no-deps" in command and "3.12" in command and any(a.startswith("datasets==") for a in command)


def test_gpu_data_folders_are_git_ignored() -> None:
    ignored = (Path(__file__).resolve().parents[1] / ".gitignore").read_text(encoding="utf-8").split()
    assert ".gpu-data/" in ignored and ".gpu-wheels/" in ignored


@pytest.mark.slow
@pytest.mark.realdata
def test_tiny_run_goes_through_every_stage(tmp_path: Path, data_root: Path, shared_cache: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    doc = tmp_path / "performance.md"
    code = cli.main(["bench", "gpu", "--tiny", "--device", "cpu", "--data-root", str(data_root), "--cache-dir",
                     str(shared_cache), "--results", str(tmp_path / "out"), "--doc", str(doc), "--json"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    saved = json.loads((tmp_path / "out" / "bench-gpu-tiny.json").read_text())
    assert saved["total_seconds"] == result["total_seconds"] and result["tiny"] is True
    rows = result["detectors"]["rows"]
    assert {(r["detector"], r["mode"]) for r in rows} == {(d, m) for d in gpu.TINY.detectors for m in gpu.TINY.modes}
    assert all(r["images_per_second"] > 0 for r in rows)
    assert all(r["speedup_vs_fp32"] == 1.0 for r in rows if r["mode"] == "fp32")
    packing = result["packing"]
    assert packing["one_at_a_time"]["done"] == packing["packed"]["done"] == gpu.TINY.packed_cells
    assert not packing["one_at_a_time"]["failed"] and not packing["packed"]["failed"]
    paper = result["paper"]
    assert [r["method"] for r in paper["rows"]] == list(gpu.PAPER_METHODS)
    assert all(r["status"] == "done" and r["iou"] is not None for r in paper["rows"]), paper["rows"]
    for r in paper["rows"]:  # each row is the record stored under its key
        record = json.loads((tmp_path / "out" / "table2" / f"{r['key']}.json").read_text())
        assert record["metrics"]["last"]["subsets"]["all"]["iou"] == r["iou"]
        assert record["config"]["profile"]["epochs"] == 2 and record["cell"]["profile"] == "paper"
    text = doc.read_text()
    assert "at the --tiny size" in text and "| pal | done |" in text and "| DNANet | bf16+channels_last |" in text
