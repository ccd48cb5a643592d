"""Full supervision: the upper bound every table starts with."""

from __future__ import annotations

import numpy as np

from methods.base import Method, register_method


@register_method
class Full(Method):
    name = "full"
    description = "full masks, SoftIoU (BasicIRSTD's protocol): the upper bound"
    protocol = "BasicIRSTD train.py @95650c39: SoftIoU, deep-supervision outputs averaged"
    label_types = ("full",)
    privileged = True  # by definition: it trains on the full masks

    def initial_labels(self, samples, label_type, rng, progress=False) -> list[np.ndarray]:
        return [(s.mask > 127).astype(np.float32) for s in samples]  # type: ignore[operator]

    def paper_overrides(self) -> dict:
        return {"deep_supervision": "mean"}
