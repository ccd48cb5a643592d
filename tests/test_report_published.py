"""Published numbers as package data, and ours held against them with the protocol
differences named."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from reports.published import compare, published_frame, spec_matches


def test_published_frame_normalises_every_source() -> None:
    frame = published_frame()
    assert set(frame["metric"]) <= {"iou", "niou", "pd", "fa", "seconds_per_target"}
    d2d = frame[(frame["source"] == "diffuse_to_detect_table1") & (frame["detector"] == "DNANet")
                & (frame["scheme"] == "diffusion") & (frame["test_dataset"] == "SIRST3") & (frame["metric"] == "iou")]
    assert d2d["value"].tolist() == [71.08] and d2d["train_dataset"].tolist() == ["SIRST3"]  # D2D's "Ours"
    assert (frame[frame["scheme"] == "full"]["labels"] == "full").all()
    # D2D's README repeats its Table 1: the shared cells are kept once, under Table 1
    assert not ((frame["source"] == "d2d_readme") & (frame["detector"] == "DNANet") & (frame["scheme"] == "diffusion")
                & (frame["metric"] == "iou")).any()


@pytest.mark.parametrize("published, spec, options, expected", [
    ("diffusion", "diffusion", {"prior": "both"}, True),
    ("diffusion[prior=both]", "diffusion", {"prior": "both"}, True),  # the default, written out
    ("diffusion[prior=both]", "diffusion[balance=off]", {"prior": "both", "balance": False}, False),
    ("diffusion[balance=off]", "diffusion[balance=false]", {"balance": False}, True),  # off == false
    ("lesps", "lesps[start=epoch:15]", {"start": "epoch:15"}, False),
    ("mclc", "com", {}, False),
])
def test_spec_matches(published: str, spec: str, options: dict, expected: bool) -> None:
    assert spec_matches(published, spec, options) is expected


def summary_row(**overrides) -> dict:
    row = {"variant": "v", "suite": "s", "detector": "DNANet", "method": "pal", "method_spec": "pal",
           "options": json.dumps({}), "dataset": "SIRST3", "labels": "centroid", "profile": "paper",
           "profile_changes": "", "max_test_images": None, "privileged": False, "subset": "all", "seeds": 3,
           "iou": 70.0, "niou": 71.0, "pd": 95.0, "fa": 12.0, "iou_std": 1.0, "niou_std": 1.0, "pd_std": 1.0,
           "fa_std": 1.0}
    return {**row, **overrides}


def test_ours_against_theirs_names_what_differs() -> None:
    best = pd.DataFrame([summary_row(), summary_row(subset="SIRST", iou=75.0)])
    out = compare({"best": best})
    pal = out[(out["source"] == "pal_sirst3") & (out["metric"] == "iou") & (out["test"] == "SIRST3")].iloc[0]
    assert pal["theirs"] == 66.97 and pal["difference"] == pytest.approx(70.0 - 66.97)
    assert pal["differences"] == ""  # same split, size, selection, Fa code, labels, full schedule
    d2d = out[(out["source"] == "diffuse_to_detect_table1") & (out["metric"] == "fa") & (out["test"] == "SIRST3")].iloc[0]
    assert "split: ours standard, theirs d2d-resplit" in d2d["differences"]
    assert "evaluation size: ours original, theirs 256x256" in d2d["differences"]
    subset = out[(out["source"] == "pal_sirst3") & (out["test"] == "SIRST") & (out["metric"] == "iou")].iloc[0]
    assert subset["ours"] == 75.0 and subset["theirs"] == 71.01  # SIRST3-trained model, SIRST part
    last = compare({"last": pd.DataFrame([summary_row(profile="quick", max_test_images=6)])})
    assert last.empty  # PAL and D2D select the best epoch: our last epoch is not held against them
    basic = compare({"last": pd.DataFrame([summary_row(method="full", method_spec="full", labels="full",
                                                       dataset="SIRST", profile="quick", max_test_images=6)])})
    row = basic[basic["metric"] == "iou"].iloc[0]
    assert row["source"] == "full_supervision_basicirstd"
    assert "schedule: ours the reduced 'quick' profile" in row["differences"] and "first 6" in row["differences"]


def test_legacy_fa_is_named_against_the_lesps_paper() -> None:
    out = compare({"best": pd.DataFrame([summary_row(method="lesps", method_spec="lesps", subset="SIRST")])})
    fa = out[(out["source"] == "lesps_paper") & (out["metric"] == "fa")].iloc[0]
    assert "Fa code: ours fixed, theirs legacy" in fa["differences"]
    assert "model selection: ours best, theirs unknown" in fa["differences"]
    iou = out[(out["source"] == "lesps_paper") & (out["metric"] == "iou")].iloc[0]
    assert "Fa code" not in iou["differences"]
