"""Figures: a scheme keeps its colour in every figure, the qualitative grid's maps are
coloured by its labelled colour bar, and the one-draw PDF holds the PNG's pixels."""

from __future__ import annotations

import colorsys
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import LineCollection

from benchmark.evidence import SWEEP_THRESHOLDS, save_prediction_pngs
from reports.figures import pdfa, qualitative
from reports.figures.style import apply_style, scheme_colour, scheme_styles
from reports.naming import SCHEME_ORDER


def test_a_scheme_has_one_colour_whatever_else_is_drawn() -> None:
    alone = scheme_styles(["lesps"])["lesps"]["color"]
    crowded = scheme_styles(["full", "point", "gsacp", "lesps", "diffusion[bilevel=off]", "my_new_scheme"])
    assert crowded["lesps"]["color"] == alone == scheme_colour("lesps")
    assert len({scheme_colour(s) for s in SCHEME_ORDER}) == len(SCHEME_ORDER)  # the paper's nine: all distinct
    assert scheme_styles(["my_new_scheme", "full"])["my_new_scheme"]["color"] == crowded["my_new_scheme"]["color"]


def test_variants_keep_the_hue_in_distinct_readable_shades() -> None:
    specs = ["diffusion", "diffusion[bilevel=off]", "diffusion[balance=off]", "diffusion[prior=superpixel]", "point"]
    styles = scheme_styles(specs)
    hue = colorsys.rgb_to_hls(*scheme_colour("diffusion"))[0]
    variants = [styles[s]["color"] for s in specs[:4]]
    assert variants[0] == scheme_colour("diffusion") and len(set(variants)) == 4
    for colour in variants[1:]:
        h, lightness, _ = colorsys.rgb_to_hls(*colour)
        assert abs(h - hue) < 1e-6 and 0.1 <= lightness <= 0.85  # never washed out to white nor to black
    assert len({styles[s]["linestyle"] for s in specs[:4]}) == 4


def _captured(monkeypatch: pytest.MonkeyPatch, module) -> list:
    figures: list = []
    monkeypatch.setattr(module, "save", lambda fig, folder, name: figures.append(fig) or [folder / f"{name}.png"])
    return figures


def _sweeps(specs: list[str]) -> pd.DataFrame:
    rows = [{"suite": "s", "dataset": "SIRST", "detector": "DNANet", "method_spec": spec, "seed": 0, "threshold": t,
             "pd": 90 - 10 * i - 20 * t, "fa": 5 + i + 10 * (1 - t)}
            for i, spec in enumerate(specs) for t in SWEEP_THRESHOLDS]
    return pd.DataFrame(rows)


def test_drawn_curves_use_the_schemes_colours(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    apply_style()
    figures = _captured(monkeypatch, pdfa)
    for specs in (["full", "lesps"], ["point", "gsacp", "lesps", "pal"]):
        pdfa.pdfa_figure(_sweeps(specs), tmp_path, "p", "s")
        lines = [c for c in figures[-1].axes[0].collections if isinstance(c, LineCollection)][0]
        drawn = [tuple(np.round(c[:3], 6)) for c in lines.get_colors()]
        assert drawn == [tuple(np.round(scheme_colour(s), 6)) for s in sorted(specs, key=SCHEME_ORDER.index)]


def _pngs(root: Path, value: float) -> tuple[Path, list[dict]]:
    image = np.full((96, 96), 90, np.uint8)
    mask = np.zeros((96, 96), np.uint8)
    mask[40:46, 50:55] = 255
    prob = np.full((96, 96), value)
    entries = save_prediction_pngs(root, "test", ["a"], [image], [prob], [mask], [np.array([[42, 52]])], 3)
    return root, entries


def test_qualitative_grid_maps_follow_its_labelled_colour_bar(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    apply_style()
    figures = _captured(monkeypatch, qualitative)
    manifests = {"full": _pngs(tmp_path / "full", 1.0), "point": _pngs(tmp_path / "point", 0.0)}
    qualitative.qualitative_figure(manifests, tmp_path, "q", "DNANet, SIRST")
    fig = figures[-1]
    bar = [ax for ax in fig.axes if ax.get_xlabel() == qualitative.COLOURBAR_LABEL]
    assert len(bar) == 1 and "probability" in qualitative.COLOURBAR_LABEL
    mosaic = fig.axes[0].get_images()[0].get_array()
    step = qualitative.PIXELS + qualitative.GAP
    magma = matplotlib.colormaps[qualitative.COLORMAP]
    shown = [c.cmap.name for c in bar[0].collections if type(c).__name__ == "QuadMesh"]
    assert shown == [qualitative.COLORMAP]  # the bar shows the maps' colormap
    full_cell = mosaic[10, 3 * step + 10]  # columns: image, ground truth, points, Full, Point
    point_cell = mosaic[10, 4 * step + 10]
    assert np.allclose(full_cell, magma(1.0)[:3], atol=1e-6) and np.allclose(point_cell, magma(0.0)[:3], atol=1e-6)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()][3:] == ["Full", "Point"]


