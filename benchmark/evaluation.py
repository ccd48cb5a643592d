"""Test-set evaluation of a cell and the choice of its best epoch.

The test set is evaluated every ``eval_every`` epochs and at the last; the record keeps
the last epoch's metrics and, separately, the best evaluated epoch's (the field's papers
select on the test set). Which metric picks the best epoch is a :class:`BestEpoch`.

Each evaluation keeps its per-image counts (``per_image``: what the reports' bootstrap
over test images resamples), and the last epoch adds the evidence a report needs
without the model: the threshold sweep (Pd-Fa curves) and PNGs of a few fixed images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from benchmark import metrics as metriclib
from benchmark.build import Built
from benchmark.data.catalog import dataset_spec
from benchmark.data.split import Split
from benchmark.evidence import clear_pngs, save_cell_pngs, threshold_sweep
from benchmark.pseudolabels import label_quality
from benchmark.schema import Evaluation

BEST_SELECTION = "best test IoU over evaluated epochs (as PAL/D2D select)"
LAST_SELECTION = "last epoch"


@dataclass(frozen=True)
class BestEpoch:
    """The best-epoch rule: the evaluated epoch with the best ``metric`` on the whole test
    set (the first one on ties)."""

    metric: str = "iou"
    higher_is_better: bool = True

    @property
    def selection(self) -> str:
        if (self.metric, self.higher_is_better) == ("iou", True):
            return BEST_SELECTION
        return f"{'best' if self.higher_is_better else 'lowest'} test {self.metric} over evaluated epochs"

    def better(self, candidate: Evaluation, best: Evaluation | None) -> bool:
        if best is None:
            return True
        new, old = candidate["subsets"]["all"][self.metric], best["subsets"]["all"][self.metric]  # type: ignore[literal-required]
        return new > old if self.higher_is_better else new < old

    def update(self, candidate: Evaluation, best: Evaluation | None) -> Evaluation | None:
        """The best evaluation so far, relabelled with this rule's selection."""
        return {**candidate, "selection": self.selection} if self.better(candidate, best) else best


@dataclass(frozen=True)
class TestPass:
    """One evaluation of the test set: the record's entry and the maps it scored (the
    last epoch's evidence is made from them)."""

    evaluation: Evaluation
    probs: list[np.ndarray]


def evaluate(b: Built, epoch: int, selection: str = LAST_SELECTION) -> TestPass:
    """The test metrics after ``epoch`` (overall, and per subset for unions) with the
    per-image counts they are sums of (one pass over the maps)."""
    test = b.test
    probs = b.predict([s.image for s in test.samples])
    counts = metriclib.accumulate(probs, [s.mask for s in test.samples])
    several = len(set(test.subsets)) > 1
    subsets = metriclib.metrics_by_subset(counts, test.subsets)
    if not several:
        subsets = {"all": subsets["all"]}
    evaluation: Evaluation = {"epoch": epoch, "selection": selection, "subsets": subsets,
                              "per_image": metriclib.breakdown(counts, test.subsets if several else None)}
    return TestPass(evaluation, probs)


@dataclass(frozen=True)
class EvidencePlan:
    """Where a cell's PNGs go (``<suite>/<key>.pngs``) and how many fixed images of each
    split it saves (0: none, and an earlier run's folder is removed)."""

    folder: Path | None = None
    images: int = 0


def last_epoch_evidence(b: Built, passed: TestPass, plan: EvidencePlan = EvidencePlan()) -> dict[str, Any]:
    """The record's ``sweep`` (metrics at every threshold, pooled over the test set) and,
    when the plan asks, its ``predictions`` (PNGs of fixed test images with the model's
    maps and of fixed training images with the labels the method trained on)."""
    epoch = passed.evaluation["epoch"]
    out: dict[str, Any] = {"sweep": {"epoch": epoch, **threshold_sweep(passed.probs, [s.mask for s in b.test.samples])}}
    if plan.folder is not None and plan.images <= 0:
        clear_pngs(plan.folder)
    elif plan.folder is not None:
        out["predictions"] = save_cell_pngs(plan.folder, b.test.samples, passed.probs, b.train.samples, b.ctx.labels,
                                            b.rc.cell.labels, epoch, plan.images,
                                            source_pixels=dataset_spec(b.rc.cell.dataset).embedded)
    return out


def label_iou(labels: Sequence[np.ndarray], split: Split) -> float | None:
    """Dataset-level IoU (%) of the training labels against the ground truth (None without masks)."""
    if any(s.mask is None for s in split.samples):
        return None
    return label_quality(labels, split.samples)["iou"]
