"""Test-set evaluation of a cell and the choice of its best epoch.

The test set is evaluated every ``eval_every`` epochs and at the last; the record keeps
the last epoch's metrics and, separately, the best evaluated epoch's (the field's papers
select on the test set). Which metric picks the best epoch is a :class:`BestEpoch`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from benchmark import metrics as metriclib
from benchmark.build import Built
from benchmark.data.split import Split
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


def evaluate(b: Built, epoch: int, selection: str = LAST_SELECTION) -> tuple[Evaluation, float]:
    """The test metrics after ``epoch`` (overall, and per subset for unions) and the seconds it took."""
    start = time.perf_counter()
    test = b.test
    probs = b.predict([s.image for s in test.samples])
    subsets = metriclib.evaluate_by_subset(probs, [s.mask for s in test.samples], test.subsets)
    if len(set(test.subsets)) == 1:
        subsets = {"all": subsets["all"]}
    return {"epoch": epoch, "selection": selection, "subsets": subsets}, time.perf_counter() - start


def label_iou(labels: Sequence[np.ndarray], split: Split) -> float | None:
    """Dataset-level IoU (%) of the training labels against the ground truth (None without masks)."""
    if any(s.mask is None for s in split.samples):
        return None
    return label_quality(labels, split.samples)["iou"]
