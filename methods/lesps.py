"""LESPS: label evolution with single point supervision (Ying et al., CVPR 2023).

The detector trains on the point labels with the Gaussian focal loss; from a start
epoch on, every ``f`` epochs each label grows into the pixels the detector itself is
confident about near that target (``methods._evolution``), averaging label and
prediction there, sequentially region by region, the points kept at 1. The evolved
labels stay soft and are the focal loss's soft targets. Field-notes 3.1.

Start rules: ``start=loss<10`` (the public code since June 2023: the first epoch whose
mean training loss is below 10) or ``start=epoch:50`` (the paper's T_epoch: the first
epoch after epoch 50).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import numpy as np

from benchmark.errors import ConfigError
from benchmark.lazy import lazy_module
from methods._evolution import binary_growth, label_regions, region_candidates
from methods.base import Method, MethodContext, register_method

losses = lazy_module("benchmark.losses")  # torch loads with the first loss, not on import (listing, status)
if TYPE_CHECKING:
    import torch

_START = re.compile(r"^\s*(?:epoch\s*:\s*(\d+)|loss\s*<\s*([0-9.eE+-]+))\s*$")


def parse_start(text: str) -> tuple[str, float]:
    """``"epoch:50"`` -> ("epoch", 50); ``"loss<10"`` -> ("loss", 10.0)."""
    match = _START.match(str(text))
    if not match:
        raise ConfigError(f"lesps start={text!r}: write epoch:N (paper, start after epoch N) or loss<X (public code)")
    if match.group(1) is not None:
        return "epoch", int(match.group(1))
    try:
        return "loss", float(match.group(2))
    except ValueError:
        raise ConfigError(f"lesps start={text!r}: {match.group(2)!r} is not a number") from None


def evolve(label: np.ndarray, prob: np.ndarray, tb: float, k: float) -> np.ndarray:
    """One LESPS update of one label: regions in raster order, each averaging the label
    (as already updated by earlier regions) with the prediction over its candidates;
    pixels that were exactly 1 stay 1."""
    out = label.astype(np.float32, copy=True)
    for coords in label_regions(label):
        cand = region_candidates(prob, coords, tb, k, drop_lone=False)
        window = out[cand.rows, cand.cols]
        window[cand.mask] = (window[cand.mask] + prob[cand.rows, cand.cols][cand.mask]) / 2
    return np.maximum(out, (label == 1).astype(np.float32))


@register_method
class LESPS(Method):
    name = "lesps"
    description = "LESPS label evolution (CVPR'23): soft labels grown from the detector's predictions, Gaussian focal loss"
    protocol = "\n".join(
        [
            "LESPS @9292bba5 (train.py, net.py Net.update_gt, utils.py, dataset.py) and the CVPR'23 paper; deviations:",
            "- labels kept in float32 in memory (the code's --cache True path; its default round-trips uint8 PNGs, truncating)",
            "- predictions padded to a multiple of 32 (the code always adds 1-32 rows and columns)",
            "- the evolution threshold computed in float64 (the code: float32 on the GPU)",
            "- labels live in the cell's checkpoint, not in a shared dataset folder",
            "- evolution IoU is logged by the engine; the method never reads the full masks (the code does, for that log)",
            "- every random choice is seeded (the code has no seed since Nov 2023)",
        ]
    )
    label_types = ("centroid", "coarse")
    defaults = {"start": "loss<10", "f": 5, "tb": 0.5, "k": 0.5}

    def __init__(self, **options: Any):
        super().__init__(**options)
        self.start_rule = parse_start(self.options["start"])
        if int(self.options["f"]) < 1:
            raise ConfigError(f"lesps f={self.options['f']!r}: the evolution period must be >= 1 epoch")
        self.start_epoch: int | None = None  # 1-based epoch whose end started the evolution
        self.updates = 0

    def paper_overrides(self) -> dict[str, Any]:
        # LESPS train.py: outputs summed; grey 1-channel input; plain random crops (no
        # positive-crop sampling); Adam 5e-4, milestones 200/300 x0.1, 400 epochs, batch
        # 16, crop 256 are the paper profile's already.
        return {"deep_supervision": "sum", "in_channels": 1, "pos_prob": 0.0}

    def output_loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor], ctx: MethodContext) -> torch.Tensor:
        return losses.gaussian_focal(logits, batch["label"])

    # evolution ------------------------------------------------------------------------
    def _starts_now(self, epoch: int, ctx: MethodContext) -> bool:
        if self.start_epoch is not None:
            return False
        kind, value = self.start_rule
        if kind == "epoch":
            return epoch + 1 > value
        return float(ctx.last_epoch.get("loss", float("inf"))) < value

    def updates_due(self, epoch: int, ctx: MethodContext) -> int:
        """How many updates run after this 0-based epoch (and record the start): the start
        epoch updates once, and any epoch ``(epoch+1) % f == 0`` from the start on updates;
        at a start epoch that is also a multiple of ``f`` the public code updates twice."""
        due = 0
        if self._starts_now(epoch, ctx):
            self.start_epoch = epoch + 1
            due += 1
        if self.start_epoch is not None and (epoch + 1) % int(self.options["f"]) == 0:
            due += 1
        return due

    def end_epoch(self, epoch: int, ctx: MethodContext) -> dict[str, Any]:
        due = self.updates_due(epoch, ctx)
        if not due:
            return {}
        probs = ctx.predict(range(len(ctx.labels)))  # one model, so one prediction for both updates
        before = list(ctx.labels)
        changed = [self._update(ctx, probs) for _ in range(due)]
        self.updates += due
        log = {"labels_changed": True, "start_epoch": self.start_epoch, "updates": self.updates, "changed_labels": changed}
        return {**log, **binary_growth(before, ctx.labels)}

    def _update(self, ctx: MethodContext, probs: list[np.ndarray]) -> int:
        """Evolve every label in place; return how many labels changed."""
        tb, k = float(self.options["tb"]), float(self.options["k"])
        changed = 0
        for i, prob in enumerate(probs):
            new = evolve(ctx.labels[i], prob, tb, k)
            changed += not np.array_equal(new, ctx.labels[i])
            ctx.labels[i] = new
        return changed

    # resume ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"start_epoch": self.start_epoch, "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.start_epoch = state.get("start_epoch")
        self.updates = int(state.get("updates", 0))
