"""Records keep no pixels of a real dataset: a cell on SIRST saves its maps and each
window's box, the report reads the image and ground truth back from the data root, and
without one the qualitative grid leaves those columns blank and says why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmark.cells import Cell
from benchmark.data.loader import load_split
from benchmark.engine import RunOptions, run_cell
from benchmark.evidence import predictions_dir, read_manifest, save_prediction_pngs
from benchmark.metrics import binarize_mask
from benchmark.store import Store
from reports.figures import qualitative
from reports.figures.source import WindowSource
from reports.figures.style import apply_style

TINY = (("epochs", 1), ("max_train_images", 4), ("max_test_images", 3), ("checkpoint_every", 1))


@pytest.mark.slow  # one tiny training on real SIRST, ~10-20 s
def test_a_real_data_cell_stores_maps_only_and_the_data_root_gives_the_pixels_back(
        tmp_path: Path, data_root: Path, shared_cache: Path) -> None:
    store = Store(tmp_path, "t")
    cell = Cell("DNANet", "point", "SIRST", "centroid", 0, profile="smoke", profile_overrides=TINY)
    record = run_cell(cell, store, RunOptions(data_root=data_root, cache_dir=shared_cache, progress=False, threads=1,
                                              save_images=1))
    assert record["status"] == "done", record.get("error")
    folder = predictions_dir(store.dir, record["key"])
    assert sorted(p.name for p in folder.glob("*.png")) and not list(folder.glob("*_image.png"))
    assert not list(folder.glob("*_gt.png"))
    entries = read_manifest(store.dir, record["key"])
    assert entries and all(e["source"] == "data-root" and set(e["files"]) == {"map"} for e in entries)
    test = {s.name: s for s in load_split("SIRST", "test", data_root, shared_cache).samples}
    entry = next(e for e in entries if e["kind"] == "test")
    top, left, bottom, right = entry["box"]
    image, mask = WindowSource(data_root, "SIRST").window(entry)
    sample = test[entry["name"]]
    assert np.array_equal(image, sample.image[top:bottom, left:right])
    assert np.array_equal(mask > 0, binarize_mask(sample.mask)[top:bottom, left:right])


def _map_only(root: Path, name: str) -> tuple[Path, list[dict]]:
    image = np.zeros((96, 96), np.uint8)
    prob = np.full((96, 96), 0.5)
    return root, save_prediction_pngs(root, "test", [name], [image], [prob], [None], [np.zeros((0, 2))], 3,
                                      source_pixels=False)


def _layout(root: Path, name: str) -> np.ndarray:
    from PIL import Image

    pixels = np.arange(96 * 96, dtype=np.uint32).reshape(96, 96) % 251
    for sub in ("images", "masks"):
        (root / "MyData" / sub).mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(root / "MyData" / "images" / f"{name}.png")
    Image.fromarray(np.zeros((96, 96), np.uint8)).save(root / "MyData" / "masks" / f"{name}.png")
    return pixels.astype(np.uint8)


def _squeezed(text: str) -> str:
    return "".join(text.split())  # the title is wrapped into lines


def test_the_grid_draws_the_image_from_the_data_root_or_leaves_it_blank_and_says_so(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from matplotlib.figure import Figure

    apply_style()
    shown: list[Figure] = []
    monkeypatch.setattr(qualitative, "save", lambda fig, folder, name: shown.append(fig) or [folder / f"{name}.png"])
    pixels = _layout(tmp_path / "data", "img7")
    manifests = {"point": _map_only(tmp_path / "pngs", "img7")}
    qualitative.qualitative_figure(manifests, tmp_path, "q", "DNANet, MyData", WindowSource(tmp_path / "data", "MyData"))
    drawn = shown[-1].axes[0].get_images()[0].get_array()[:96, :96, 0]
    assert np.allclose(drawn, pixels / 255.0, atol=1e-6)  # the image column is the data root's pixels
    assert _squeezed(qualitative.NOT_STORED) not in _squeezed(shown[-1]._suptitle.get_text())
    qualitative.qualitative_figure(manifests, tmp_path, "q", "DNANet, MyData", WindowSource(None, "MyData"))
    blank = shown[-1].axes[0].get_images()[0].get_array()[:96, :96]
    assert np.all(blank == 1.0)  # white: no pixels stored and no data root
    assert _squeezed(qualitative.NOT_STORED) in _squeezed(shown[-1]._suptitle.get_text())
