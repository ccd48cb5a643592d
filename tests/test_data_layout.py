"""Reading the common layout: cache behaviour and an error for each kind of bad input."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmark.data import layout
from benchmark.data.loader import load_split
from benchmark.errors import DataError


def write_png(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr.astype(np.uint8)).save(path)


def make_dataset(root: Path, name: str = "TOY", n: int = 4, points: bool = True) -> Path:
    folder = root / name
    rng = np.random.default_rng(0)
    ids = [f"img{i}" for i in range(n)]
    for i, sample_id in enumerate(ids):
        image = rng.integers(0, 255, (24, 32))
        mask = np.zeros((24, 32))
        if i % 2 == 0:  # odd ids have no target: valid everywhere
            mask[5:8, 6:9] = 255
        write_png(folder / "images" / f"{sample_id}.png", image)
        write_png(folder / "masks" / f"{sample_id}.png", mask)
        if points:
            pts = np.zeros((24, 32))
            if i % 2 == 0:
                pts[6, 7] = 255
            write_png(folder / "masks_centroid" / f"{sample_id}.png", pts)
    (folder / "img_idx").mkdir(parents=True, exist_ok=True)
    (folder / "img_idx" / f"train_{name}.txt").write_text("\n".join(ids[:2]) + "\n")
    (folder / "img_idx" / f"test_{name}.txt").write_text("\n".join(ids[2:]) + "\n")
    return folder


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A registered toy dataset in a temporary root."""
    from benchmark.data.catalog import DatasetSpec
    from benchmark.registry import DATASETS

    DATASETS.load()
    if "TOY" not in DATASETS._entries:
        DATASETS.add("TOY", DatasetSpec("TOY", "test dataset"))
    root = tmp_path / "data"
    make_dataset(root)
    return root, tmp_path / "cache"


def test_reads_points_and_derives_missing_ones(toy) -> None:
    root, cache = toy
    split = load_split("TOY", "train", root, cache)
    assert [s.name for s in split.samples] == ["img0", "img1"]
    assert split.samples[0].centroid.tolist() == [[6, 7]]  # from the file
    assert split.samples[0].coarse.tolist()[0] in [[r, c] for r in range(5, 8) for c in range(6, 9)]  # derived, on target
    assert split.samples[1].centroid.shape == (0, 2)  # no target: valid, zero points


def test_second_load_reads_cache_not_pngs(toy, monkeypatch: pytest.MonkeyPatch) -> None:
    root, cache = toy
    first = load_split("TOY", "test", root, cache)

    def no_png(*args, **kwargs):
        raise AssertionError("a PNG was read although the cache is valid")

    monkeypatch.setattr(layout, "_read_png", no_png)
    second = load_split("TOY", "test", root, cache)
    assert second.fingerprint == first.fingerprint
    assert np.array_equal(second.samples[0].image, first.samples[0].image)


def test_cache_is_rebuilt_when_a_file_changes(toy) -> None:
    root, cache = toy
    first = load_split("TOY", "test", root, cache)
    path = root / "TOY" / "images" / "img2.png"
    write_png(path, np.full((24, 32), 7))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    second = load_split("TOY", "test", root, cache)
    assert second.fingerprint != first.fingerprint
    assert (second.samples[0].image == 7).all()
    assert len(list((cache / "arrow" / "TOY").glob("test-*"))) == 1  # the stale cache is gone


def _error(toy, split: str = "train") -> str:
    root, cache = toy
    with pytest.raises(DataError) as err:
        load_split("TOY", split, root, cache)
    return str(err.value)


def test_missing_data_root_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="--data-root"):
        load_split("SIRST", "train", tmp_path / "nowhere", tmp_path / "cache")


def test_missing_split_file(toy) -> None:
    root, _ = toy
    (root / "TOY" / "img_idx" / "train_TOY.txt").unlink()
    message = _error(toy)
    assert "train_TOY.txt" in message and "not found" in message


def test_empty_split_file(toy) -> None:
    root, _ = toy
    (root / "TOY" / "img_idx" / "train_TOY.txt").write_text("\n\n")
    assert "is empty" in _error(toy)


def test_id_without_image(toy) -> None:
    root, _ = toy
    (root / "TOY" / "img_idx" / "train_TOY.txt").write_text("img0\nghost\n")
    message = _error(toy)
    assert "'ghost'" in message and "ghost.png" in message and "remove the id" in message


def test_image_and_mask_of_different_sizes(toy) -> None:
    root, _ = toy
    write_png(root / "TOY" / "masks" / "img1.png", np.zeros((10, 10)))
    message = _error(toy)
    assert "img1.png" in message and "32x24" in message and "10x10" in message


def test_unreadable_png(toy) -> None:
    root, _ = toy
    (root / "TOY" / "images" / "img0.png").write_bytes(b"not a png at all")
    message = _error(toy)
    assert "cannot read image" in message and "img0.png" in message


def test_point_label_of_wrong_size_is_repaired_and_logged(toy, caplog: pytest.LogCaptureFixture) -> None:
    root, cache = toy
    big = np.zeros((48, 64))
    big[12, 14] = 255  # the same place at twice the size
    write_png(root / "TOY" / "masks_centroid" / "img0.png", big)
    split = load_split("TOY", "train", root, cache)
    assert split.samples[0].centroid.tolist() == [[6, 7]]
    assert split.repairs and "img0.png" in split.repairs[0]
