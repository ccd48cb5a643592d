"""Tables on records whose answer is known: grouping by variant, marks, LaTeX/Markdown."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from benchmark.cells import parse_spec
from benchmark.profiles import PROFILES
from reports import latex, text
from reports.frames import tidy_frame, variant_of
from reports.layout import comparison_table
from reports.marks import rank_marks
from reports.summary import summarize_variants


def record(spec: str, seed: int, iou: float, fa: float, detector: str = "DNANet", labels: str = "centroid",
           privileged: bool = False, overrides: dict | None = None, finished: str = "2026-01-01") -> dict:
    method, options = parse_spec(spec)
    profile = {**PROFILES["quick"].to_dict(), **(overrides or {})}
    cell = {"detector": detector, "method": method, "method_options": options, "dataset": "synthetic",
            "labels": labels, "seed": seed, "profile": "quick", "profile_overrides": overrides or {}}
    values = {"iou": iou, "niou": iou + 1, "pd": 80.0 + iou / 10, "fa": fa, "images": 10, "targets": 12, "hits": 10}
    evaluation = {"epoch": 20, "selection": "last epoch", "subsets": {"all": values}}
    key = f"{detector}-{spec}-{seed}-{sorted((overrides or {}).items())}"
    return {"key": key, "name": key, "suite": "t", "status": "done", "cell": cell,
            "config": {"protocol_version": 2, "cell": cell, "profile": profile},
            "method": {"name": method, "options": options, "privileged": privileged, "spec": spec},
            "metrics": {"last": evaluation, "best": evaluation}, "provenance": {"finished_at": finished},
            "data": {"test_fingerprint": "f", "test_images": 10}}


def table_of(records: list[dict], **kwargs):
    summary = summarize_variants(tidy_frame(records), "last", None)
    return comparison_table(summary, "t", "test table", **kwargs), summary


KNOWN = [  # IoU: lesps 60/62 -> 61 best; pal 58 second; point 10. Fa: pal 5 best, point 9 second, lesps 20.
    record("full", 0, 90.0, 1.0, labels="full", privileged=True),
    record("point", 0, 10.0, 9.0),
    record("lesps", 0, 60.0, 19.0), record("lesps", 1, 62.0, 21.0),
    record("pal", 0, 58.0, 5.0),
]


def test_seeds_of_one_variant_are_averaged_and_counted_distinct() -> None:
    records = KNOWN + [record("lesps", 1, 99.0, 0.0, finished="2025-01-01")]  # an older copy of seed 1
    _, summary = table_of(records)
    lesps = summary[summary["method_spec"] == "lesps"].iloc[0]
    assert lesps["seeds"] == 2 and lesps["iou"] == pytest.approx(61.0)  # the later copy of seed 1 counts once
    assert lesps["iou_std"] == pytest.approx(np.std([60.0, 62.0], ddof=1))
    assert np.isnan(summary[summary["method_spec"] == "pal"].iloc[0]["iou_std"])


def test_variant_key_is_seedless_and_tells_profiles_apart() -> None:
    a, b, c = record("lesps", 0, 1, 1), record("lesps", 1, 1, 1), record("lesps", 0, 1, 1, overrides={"epochs": 50})
    assert variant_of(a) == variant_of(b) != variant_of(c)
    assert variant_of({**a, "variant": "given"}) == "given"  # a record's own key wins
    table, _ = table_of([a, b, c])
    assert len(table.rows) == 2 and any("epochs=50" in r[1] for r in table.rows)  # two variants, two rows


def test_marks_are_direction_aware_and_skip_privileged_rows() -> None:
    table, _ = table_of(KNOWN)
    marks = rank_marks(table)
    row = {r[1]: i for i, r in enumerate(table.rows)}
    iou, fa = table.col("synthetic", "iou"), table.col("synthetic", "fa")
    assert marks[row["LESPS"], iou] == "best" and marks[row["PAL"], iou] == "second"
    assert marks[row["Full"], iou] == ""  # 90 IoU, but privileged
    assert marks[row["PAL"], fa] == "best" and marks[row["Point"], fa] == "second"  # lower Fa is better
    assert marks[row["LESPS"], fa] == ""


def test_a_lead_inside_the_interval_is_flagged_not_marked() -> None:
    table, _ = table_of(KNOWN)
    i, j = [r[1] for r in table.rows].index("LESPS"), table.col("synthetic", "iou")
    table.values["low"][i, j] = 57.0  # PAL's 58 lies inside LESPS's interval
    table.values["high"][i, j] = 65.0
    marks = rank_marks(table)
    assert marks[i, j] == "best~"
    assert "\\textbf{61.00}" not in latex.tabular(table) and "61.00$^{\\approx}$" in latex.tabular(table)


def test_ties_share_the_mark_and_detectors_rank_apart() -> None:
    records = [record("point", 0, 50.0, 1.0), record("pal", 0, 50.0, 2.0), record("lesps", 0, 40.0, 3.0),
               record("point", 0, 5.0, 1.0, detector="UIUNet"), record("pal", 0, 7.0, 2.0, detector="UIUNet")]
    table, _ = table_of(records)
    marks = rank_marks(table)[:, table.col("synthetic", "iou")]
    dna = [i for i, b in enumerate(table.blocks) if b == table.blocks[0]]
    uiu = [i for i, b in enumerate(table.blocks) if b != table.blocks[0]]
    assert table.rows[dna[0]][0] == "DNANet" and table.rows[uiu[0]][0] == "UIUNet"
    assert sorted(marks[dna]) == ["best", "best", "second"]  # tied means share the mark
    assert sorted(marks[uiu]) == ["best", "second"]  # UIUNet's 7 is not ranked against DNANet's 50


def _latex_rows(tex: str) -> list[list[str]]:
    body = tex.split("\\midrule", 1)[1].split("\\bottomrule")[0]
    return [[c.strip() for c in line.rstrip("\\ ").split(" & ")] for line in body.splitlines()
            if line.strip().endswith("\\\\")]


def _numbers(cell: str) -> list[float]:
    """The mean and (where shown) the std of a LaTeX cell, seed-count notes removed."""
    return [float(x) for x in re.findall(r"-?\d+\.\d+", re.sub(r"\$\^\{\(\d+\)\}\$", "", cell))]


def test_latex_cells_marks_dashes_daggers_and_seed_notes() -> None:
    records = KNOWN + [record("com", 0, 30.0, 7.0)]
    records[-1]["metrics"]["last"]["subsets"]["all"]["pd"] = float("nan")  # a number with no value
    table, _ = table_of(records)
    rows = _latex_rows(latex.tabular(table))
    labels = [r[1] for r in rows]
    lesps, pal, full, com = (labels.index(x) for x in ("LESPS", "PAL", "Full$^{\\dagger}$", "COM"))
    # most cells have one seed: LESPS's two seeds get the (2) note and a std; one seed shows no std
    assert rows[lesps][2] == "\\textbf{61.00}$^{(2)}$ {\\scriptsize$\\pm$1.41}"
    assert rows[pal][2] == "\\underline{58.00}" and rows[pal][5] == "\\textbf{5.00}"  # Fa: lowest is best
    assert "\\textbf" not in " ".join(rows[full]) and "\\underline" not in " ".join(rows[full])
    assert rows[com][4] == "--"  # missing is a dash, never 0


def test_every_number_in_the_table_is_the_frames() -> None:
    from reports.naming import scheme_name

    table, summary = table_of(KNOWN)
    rows = {r[1].replace("$^{\\dagger}$", ""): r for r in _latex_rows(latex.tabular(table))}
    assert len(rows) == len(summary)
    for _, s in summary.iterrows():
        row = rows[scheme_name(s["method_spec"])]
        for j, metric in enumerate(["iou", "niou", "pd", "fa"]):
            numbers = _numbers(row[2 + j])
            assert numbers[0] == pytest.approx(round(s[metric], 2), abs=1e-9)
            if s["seeds"] >= 2:
                assert numbers[1] == pytest.approx(round(s[f"{metric}_std"], 2), abs=1e-9)
            else:
                assert len(numbers) == 1


def test_markdown_and_terminal_carry_the_same_marks() -> None:
    table, _ = table_of(KNOWN)
    md = text.markdown(table)
    assert "**61.00 ± 1.41 (2)**" in md and "<ins>58.00</ins>" in md and "Full†" in md
    term = text.terminal(table)
    assert "61.00 ± 1.41 (2) *" in term and "58.00 +" in term
    long = text.long_frame(table)
    assert set(long["metric"]) == {"iou", "niou", "pd", "fa"} and len(long) == 4 * 4  # 4 variants x 4 metrics
    assert pd.api.types.is_float_dtype(long["mean"])


def test_the_summary_lists_schemes_in_the_papers_order_not_alphabetically() -> None:
    import pandas as pd

    from reports.tables import DESCRIBE, METRIC_COLUMNS, summarize

    specs = ["pal", "com", "full", "lesps[f=2]", "point", "mclc", "lesps", "zeta"]
    rows = [{"status": "done", "selection": "last", "subset": "all", "variant": spec, "seed": 0,
             **{m: 1.0 for m in METRIC_COLUMNS}, **{d: "x" for d in DESCRIBE}, "method_spec": spec} for spec in specs]
    order = summarize(pd.DataFrame(rows))["method_spec"].tolist()
    assert order == ["full", "point", "lesps", "lesps[f=2]", "pal", "mclc", "com", "zeta"]


def test_a_schemes_caveats_are_printed_under_the_table_once() -> None:
    """A number low for a known reason (naive points' flip ceiling) says so where it is printed."""
    from methods.point import Point

    flagged = [record("point", s, 10.0 + s, 9.0) for s in (0, 1)]
    for r in flagged:
        r["method"]["caveats"] = list(Point.caveats)
    table, _ = table_of([record("lesps", 0, 60.0, 19.0), *flagged])
    said = [n for n in table.notes if "floored-centroid" in n]
    assert len(said) == 1 and said[0].startswith("Point: ")
    assert "floored-centroid" in latex.table_float(table)  # in the LaTeX footnote too
    plain, _ = table_of(KNOWN)
    assert not any("floored-centroid" in n for n in plain.notes)  # records without caveats: no note
