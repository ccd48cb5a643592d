"""The peak probe (benchmark.bench.peaks) measures what it says: the highest probability
within the Pd window of each point, and the highest background probability kept clear
of every target pixel; and its plot reads those back per epoch."""

from __future__ import annotations

import numpy as np

from benchmark.bench.peaks import background_peak, summarize, target_peaks
from benchmark.bench.peaks_plot import curves
from benchmark.data.split import Sample


def _sample(points: list[tuple[int, int]], mask_box: tuple[slice, slice] | None = None) -> Sample:
    mask = np.zeros((40, 40), np.uint8)
    if mask_box is not None:
        mask[mask_box] = 255
    pts = np.asarray(points, np.int32).reshape(-1, 2)
    return Sample("s", "train", np.zeros((40, 40), np.uint8), mask, pts, pts)


def test_target_peak_is_the_maximum_inside_the_3px_disc_only() -> None:
    prob = np.zeros((40, 40), np.float32)
    prob[10, 13] = 0.7  # 3 px right of the point: inside the disc
    prob[12, 12] = 0.9  # (2, 2) away: 2.83 px, inside
    prob[13, 13] = 0.95  # (3, 3) away: 4.24 px, outside
    assert target_peaks(prob, np.array([[10, 10]])) == [np.float32(0.9)]
    prob[12, 12] = 0.0
    assert target_peaks(prob, np.array([[10, 10]])) == [np.float32(0.7)]


def test_background_peak_ignores_pixels_within_5px_of_the_target_mask() -> None:
    prob = np.full((40, 40), 0.01, np.float32)
    sample = _sample([(20, 20)], (slice(19, 22), slice(19, 22)))
    prob[20, 26] = 0.8  # 5 px from the mask's edge (column 21): excluded
    assert background_peak(prob, sample) == np.float32(0.01)
    prob[20, 28] = 0.6  # 7 px away: background
    assert background_peak(prob, sample) == np.float32(0.6)


def test_summary_shares_and_plot_curves() -> None:
    prob = np.zeros((40, 40), np.float32)
    prob[5, 5], prob[30, 30], prob[5, 35] = 0.8, 0.2, 0.7
    s = summarize([prob], [_sample([(5, 5), (30, 30)])])
    assert s["on_above"] == 0.5 and s["on_median"] == np.float32(0.5)  # median of 0.8 and 0.2
    assert s["off_median"] == np.float32(0.7) and s["off_above"] == 1.0
    history = [{"epoch": 1, "loss": 1.0}, {"epoch": 2, "loss": 0.9, "peaks": {"test": s}}]
    assert curves(history, "test") == {"epoch": [2], "on": [s["on_median"]], "off": [s["off_median"]]}
