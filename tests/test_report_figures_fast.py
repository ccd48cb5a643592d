"""What the figures' speed work must keep: statistics split by position equal pandas'
per-group ones, inner panels' grid lines sit at the shown ticks, log ticks read as
powers of ten, and the fixed-grid legend gives every label room."""

from __future__ import annotations

import io

import numpy as np
import pytest

from reports.bench import synthetic_records
from reports.figures import legend
from reports.figures.curves import seed_stats
from reports.figures.gridlines import SharedGrid
from reports.figures.pdfa import _means
from reports.figures.style import apply_style, grid, power_label
from reports.frames import Frames


@pytest.fixture(scope="module")
def frames() -> Frames:
    return Frames.of(synthetic_records(400))


def test_seed_statistics_by_position_equal_pandas_per_group(frames: Frames) -> None:
    history = frames.history[frames.history["suite"] == "table1"]
    series = ["loss", "test_iou", "label_iou"]
    found = seed_stats(history, series)
    expected = history.groupby(["detector", "method_spec", "epoch"])[series].agg(["mean", "std", "count"])
    groups = list(expected.groupby(level=[0, 1]))
    assert len(found) == len(groups) > 10
    for key, part in groups:
        part = part.droplevel([0, 1])
        assert np.array_equal(found[key]["epoch"], part.index.to_numpy())
        for y in series:
            for i, stat in enumerate(("mean", "std", "count")):
                np.testing.assert_array_equal(found[key][y][i], part[(y, stat)].to_numpy(float))


def test_pd_fa_means_by_position_equal_pandas_per_group(frames: Frames) -> None:
    found = _means(frames.sweeps)
    expected = frames.sweeps.groupby(["dataset", "detector", "method_spec", "threshold"])[["pd", "fa"]].mean()
    groups = list(expected.groupby(level=[0, 1, 2]))
    assert len(found) == len(groups) > 10
    for key, part in groups:
        thresholds, pd_, fa = found[key]
        assert np.array_equal(thresholds, part.index.get_level_values(3).to_numpy(float))
        assert np.array_equal(pd_, part["pd"].to_numpy()) and np.array_equal(fa, part["fa"].to_numpy())


@pytest.mark.parametrize("log", [False, True])
def test_inner_panels_draw_grid_lines_at_the_first_panels_ticks(log: bool) -> None:
    apply_style()
    fig, axes = grid(1, 3, sharex=True, sharey="row")
    for k, ax in enumerate(axes[0]):
        ax.plot([1, 20], [0.5 + k, 40.0 * (k + 1)])
    if log:
        axes[0][0].set_yscale("log")
    fig.savefig(io.BytesIO(), format="png")
    low, high = axes[0][0].get_ylim()
    shown = [y for y in axes[0][0].yaxis.get_majorticklocs() if low <= y <= high]
    for ax in axes[0][1:]:
        assert not ax.yaxis.get_visible()
        (lines,) = [c for c in ax.collections if isinstance(c, SharedGrid)]
        assert [seg[0][1] for seg in lines.get_segments()] == pytest.approx(shown)
        assert len(shown) >= 2


def test_log_ticks_read_as_unicode_powers_of_ten() -> None:
    assert [power_label(v) for v in (0, 1, 10, 1000, 0.01, -100, 5)] == ["0", "10⁰", "10¹", "10³", "10⁻²", "−10²", "5"]


def test_legend_columns_give_the_longest_label_room() -> None:
    labels = ["Full", "Diffusion [online_labels=off]", "loss part: segmentation", "GSACP"]
    columns, rows, width = legend.shape(6.0, labels)
    assert columns * width <= 6.0 and columns * rows >= len(labels)
    assert width >= legend.HANDLE + legend.PAD + 0.6 * 7 / 72 * len(labels[1])
    assert legend.shape(20.0, labels)[:2] == (4, 1) and legend.shape(2.0, labels)[:2] == (1, 4)


def test_legend_entries_fill_column_after_column() -> None:
    apply_style()
    fig, _ = grid(1, 4, legend=[f"scheme {i}" for i in range(7)])
    from matplotlib.lines import Line2D

    legend.draw(fig, [Line2D([], [], color="C0", marker="o") for _ in range(7)], [f"scheme {i}" for i in range(7)])
    columns, rows, width = legend.shape(fig.get_figwidth(), [f"scheme {i}" for i in range(7)])
    placed = {t.get_text(): t.get_position() for t in fig.texts if t.get_text().startswith("scheme")}
    assert len(placed) == 7 and rows == 2
    assert placed["scheme 1"][0] == placed["scheme 0"][0] and placed["scheme 1"][1] < placed["scheme 0"][1]
    assert placed["scheme 2"][0] == pytest.approx(placed["scheme 0"][0] + width)
