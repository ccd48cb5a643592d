"""What records keep beyond aggregates: per-image counts, the threshold sweep, PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.evidence import (crop_box, fixed_images, predictions_dir, read_manifest, save_prediction_pngs,
                                threshold_sweep)
from benchmark.metrics import (Counts, PER_IMAGE_FIELDS, counts_from_breakdown, evaluate, evaluate_by_subset,
                               pd_fa_curve, per_image_breakdown)


def scenes(n: int = 7, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray], list[str]]:
    rng = np.random.default_rng(seed)
    probs, masks, subsets = [], [], []
    for i in range(n):
        mask = np.zeros((30 + i, 40), np.uint8)
        r, c = rng.integers(3, 25, 2)
        mask[r:r + 3, c:c + 4] = 255
        prob = np.clip(mask / 255.0 * rng.uniform(0.3, 1.0) + rng.uniform(0, 0.6, mask.shape) ** 4, 0, 1)
        probs.append(prob.astype(np.float32))
        masks.append(mask)
        subsets.append("A" if i % 2 else "B")
    return probs, masks, subsets


def test_breakdown_sums_to_the_metrics_of_every_subset() -> None:
    probs, masks, subsets = scenes()
    columns = per_image_breakdown(probs, masks, subsets)
    assert set(PER_IMAGE_FIELDS) <= set(columns) and len(columns["union"]) == len(probs)
    assert all(isinstance(v, int) for v in columns["intersection"])  # compact integers in JSON
    counts = counts_from_breakdown(json.loads(json.dumps(columns)))
    expected = evaluate_by_subset(probs, masks, subsets)
    assert sum(counts, Counts()).metrics() == expected["all"]
    for subset in ("A", "B"):
        part = [c for c, s in zip(counts, columns["subset"]) if s == subset]
        assert sum(part, Counts()).metrics() == expected[subset]


def test_sweep_is_pd_fa_curve_and_holds_the_table_threshold() -> None:
    probs, masks, _ = scenes()
    sweep = threshold_sweep(probs, masks)
    curve = pd_fa_curve(probs, masks)
    assert sweep["pd"] == [p["pd"] for p in curve] and sweep["fa"] == [p["fa"] for p in curve]
    at_half = sweep["threshold"].index(0.5)
    table = evaluate(probs, masks)
    assert sweep["iou"][at_half] == pytest.approx(table["iou"]) and sweep["fa"][at_half] == pytest.approx(table["fa"])
    assert sweep["fa"][0] >= sweep["fa"][-1]  # a low threshold admits more false-alarm pixels


def test_fixed_images_depend_only_on_the_split() -> None:
    masks = [np.zeros((8, 8), np.uint8) for _ in range(10)]
    for i in (1, 4, 5, 9):
        masks[i][2, 2] = 255
    assert fixed_images(masks, 3) == [1, 5, 9]  # spread over the images with a target
    assert fixed_images(masks, 10) == [1, 4, 5, 9]
    assert fixed_images([None, np.zeros((4, 4))], 2) == []


def test_crop_centres_the_target_and_stays_inside() -> None:
    mask = np.zeros((200, 300), np.uint8)
    mask[190:194, 5:9] = 255
    top, left, bottom, right = crop_box(mask.shape, mask, np.zeros((0, 2)), side=64)
    assert (bottom - top, right - left) == (64, 64) and bottom == 200 and left == 0
    assert crop_box((40, 50), None, np.zeros((0, 2)), side=64) == [0, 0, 40, 50]


def test_pngs_hold_the_crops_and_the_manifest_the_points(tmp_path: Path) -> None:
    probs, masks, _ = scenes(2)
    images = [(p * 200).astype(np.uint8) for p in probs]
    points = [np.argwhere(m > 0)[:1] for m in masks]
    folder = predictions_dir(tmp_path, "abc")
    entries = save_prediction_pngs(folder, "test", ["x", "y"], images, probs, masks, points, epoch=3, side=16)
    save_prediction_pngs(folder, "train", ["x"], images[:1], [m / 255.0 for m in masks[:1]], masks[:1], points[:1], 3, 16)
    top, left, bottom, right = entries[0]["box"]
    saved = np.asarray(Image.open(folder / entries[0]["files"]["map"]))
    assert np.array_equal(saved, np.rint(probs[0][top:bottom, left:right] * 255).astype(np.uint8))
    gt = np.asarray(Image.open(folder / entries[0]["files"]["gt"]))
    assert set(np.unique(gt)) <= {0, 255} and gt.any()
    r, c = points[0][0]
    assert entries[0]["points"] == [[int(r) - top, int(c) - left]]
    manifest = read_manifest(tmp_path, "abc")
    assert [e["kind"] for e in manifest] == ["test", "test", "train"]  # a second kind keeps the first


def test_cell_pngs_take_the_same_fixed_images_for_every_cell(tmp_path: Path) -> None:
    from benchmark.data.split import Sample
    from benchmark.evidence import save_cell_pngs

    probs, masks, _ = scenes(5)
    samples = [Sample(f"img{i}", "all", (p * 200).astype(np.uint8), m, np.argwhere(m > 0)[:1].astype(np.int32),
                      np.argwhere(m > 0)[:1].astype(np.int32)) for i, (p, m) in enumerate(zip(probs, masks))]
    a = save_cell_pngs(tmp_path / "a.pngs", samples, probs, samples, [m / 255.0 for m in masks], "full", 3, count=2)
    b = save_cell_pngs(tmp_path / "b.pngs", samples, [p * 0.5 for p in probs], samples, probs, "centroid", 3, count=2)
    assert a["images"] == b["images"] == ["test/img0", "test/img4", "train/img0", "train/img4"]
    assert a["dir"] == "a.pngs" and len(read_manifest(tmp_path, "a")) == 4
