"""Loss parts logged by a method reach the report's training curves."""

from __future__ import annotations

from pathlib import Path

from reports.history import history_frame, plot_loss_parts


def test_loss_parts_become_series_and_a_plot(tmp_path: Path) -> None:
    record = {"key": "k", "name": "DNANet/gsacp/synthetic/centroid/s0", "method": {"spec": "gsacp"}, "history": [
        {"epoch": 1, "loss": 1.5, "loss_parts": {"target": 1.0, "contrastive": 0.5}},
        {"epoch": 2, "loss": 1.2, "loss_parts": {"target": 0.9, "contrastive": 0.3}, "label_iou": 40.0,
         "test": {"iou": 30.0}},
    ]}
    frame = history_frame([record])
    got = {(r.epoch, r.series): r.value for r in frame.itertuples()}
    assert got[(2, "loss/contrastive")] == 0.3 and got[(1, "loss/target")] == 1.0
    assert got[(2, "label_iou")] == 40.0 and got[(2, "test_iou")] == 30.0 and (1, "test_iou") not in got
    path = plot_loss_parts(frame, tmp_path / "curves.png")
    assert path.stat().st_size > 1000
