"""Loss parts logged by a method reach the report's training curves."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reports.figures.curves import curve_rows, curves_figure
from reports.figures.style import apply_style
from reports.frames import history_frame


def _record(seed: int, scale: float) -> dict:
    return {"key": f"k{seed}", "status": "done", "suite": "s", "name": f"DNANet/gsacp/synthetic/centroid/s{seed}",
            "cell": {"detector": "DNANet", "method": "gsacp", "dataset": "synthetic", "labels": "centroid", "seed": seed},
            "method": {"spec": "gsacp"}, "label_quality": [{"epoch": 0, "iou": 20.0}, {"epoch": 2, "iou": 40.0}],
            "history": [
                {"epoch": 1, "loss": 1.5 * scale, "loss_parts": {"target": 1.0 * scale, "contrastive": 0.5 * scale}},
                {"epoch": 2, "loss": 1.2 * scale, "loss_parts": {"target": 0.9 * scale, "contrastive": 0.3 * scale},
                 "label_iou": 40.0, "test": {"iou": 30.0}},
            ]}


def test_loss_parts_become_columns_and_a_plot(tmp_path: Path) -> None:
    frame = history_frame([_record(0, 1.0), _record(1, 2.0)])
    first = frame[frame["seed"] == 0].set_index("epoch")
    assert first.loc[2, "loss_contrastive"] == 0.3 and first.loc[1, "loss_target"] == 1.0
    assert first.loc[2, "test_iou"] == 30.0 and first["test_iou"].isna().loc[1]  # only at evaluated epochs
    assert list(first["label_iou"]) == [20.0, 40.0]  # carried from epoch 0 until the labels changed
    assert (frame["label_changes"] == 1).all()
    assert curve_rows(frame, ["DNANet"])[-1] == ("parts", "loss parts", None)
    assert "parts" not in [r[0] for r in curve_rows(frame.drop(columns=["loss_target", "loss_contrastive"]), ["DNANet"])]
    apply_style()
    paths = curves_figure(frame, tmp_path, "curves", "suite s")
    assert paths and all(p.stat().st_size > 1000 for p in paths)


def test_one_detector_gets_a_loss_parts_row_per_scheme(tmp_path: Path) -> None:
    """An ablation's many variants of two schemes: one row each, not one crowded panel."""
    gsacp = history_frame([_record(0, 1.0)])
    other = gsacp.assign(method_spec="diffusion", loss_segmentation=gsacp["loss_target"]).drop(
        columns=["loss_target", "loss_contrastive"])
    both = pd.concat([gsacp, other], ignore_index=True)
    rows = [r for r in curve_rows(both, ["DNANet"]) if r[0] == "parts"]
    assert [family for _, _, family in rows] == ["diffusion", "gsacp"]
    assert len([r for r in curve_rows(both, ["DNANet", "ALCLNet"]) if r[0] == "parts"]) == 1
