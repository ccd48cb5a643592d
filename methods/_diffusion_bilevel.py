"""Diffuse to Detect's training step (``train.py``, ``TrainingPipeline.bilevel_training``).

Inner level, every step: the detector minimizes the weighted per-sample SoftIoU of the
training batch; the weights are uniform before the outer level starts, then the
meta-classifier's (batch mean 1). From the outer level's start, every 4th step:

* aggregation: the detector's loss also takes ``(L_val + 0.1 L_cons) / 1.2``, SoftIoU and
  BCE of a validation batch against the validation images' own pseudo-masks;
* balance: after the detector's step, the meta-classifier takes one step on
  ``-0.25 mean(a_i s_i)`` with the detector's latest predictions (``_diffusion_weights``);

and at each label-refresh epoch's end ``theta`` takes one step through the differentiable
surrogate on a validation batch (``_diffusion_surrogate``) and the method regenerates the
pseudo-labels. ``bilevel=off`` (the paper's "direct joint learning") trains the same parts
on one objective in one step: the weights keep their gradient into the meta-classifier,
``theta`` joins with the surrogate on the training batch, no validation-driven outer steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from benchmark.contract import StepOutput, TrainStep
from benchmark.inference import autocast
from benchmark.losses import soft_iou_per_image
from methods._diffusion_surrogate import Theta, theta_objective
from methods._diffusion_weights import normalized_weights, sample_features, validation_alignment, weight_objective

PAPER_EPOCHS, PAPER_START, PAPER_EVERY = 400, 80, 20  # train.py: outer level from epoch 80, labels every 20
OUTER_EVERY = 4  # every 4th iteration: aggregation and the meta-classifier's step
VAL_WEIGHT, CONS_WEIGHT = 1.0 / 1.2, 0.1
EMA = 0.9  # memory of the per-sample loss (a feature) and of the learned weights (for subset)
_NO_PHYSICS = Theta()


@dataclass(frozen=True)
class Schedule:
    """When the outer level runs: ``paper``'s 80 and 20 of 400 epochs, scaled by the
    profile's epoch count (start ``round(E / 5)``, refresh every ``max(1, round(E / 20))``)."""

    start: int
    every: int

    @classmethod
    def for_epochs(cls, epochs: int) -> "Schedule":
        return cls(round(epochs * PAPER_START / PAPER_EPOCHS), max(1, round(epochs * PAPER_EVERY / PAPER_EPOCHS)))

    def outer(self, epoch: int) -> bool:
        return epoch >= self.start

    def refresh(self, epoch: int) -> bool:
        return epoch >= self.start and epoch % self.every == 0


@dataclass(frozen=True)
class Switches:
    bilevel: bool = True
    balance: bool = True
    online_labels: bool = True
    aggregation: bool = True


def per_image_loss(out: Any, labels: torch.Tensor, rule: str) -> torch.Tensor:
    """Per-sample SoftIoU (B,), combined over the deep-supervision outputs by ``rule``."""
    each = torch.stack([soft_iou_per_image(o, labels) for o in (out.logits, *out.side)])
    if rule == "final" or each.shape[0] == 1:
        return each[0]
    return each.sum(0) if rule == "sum" else each.mean(0)


class ValidationStream:
    """Validation batches drawn in turn within an epoch (a new shuffle per pass), so a
    resumed run, which restarts at an epoch's beginning, draws what an uninterrupted one did."""

    def __init__(self) -> None:
        self.epoch, self.cycle, self.batches = -1, 0, iter(())  # type: ignore[var-annotated]

    def next(self, ctx: Any, epoch: int) -> dict[str, torch.Tensor]:
        if epoch != self.epoch:
            self.epoch, self.cycle, self.batches = epoch, 0, self._pass(ctx, epoch, 0)
        batch = next(self.batches, None)
        if batch is None:
            self.cycle += 1
            self.batches = self._pass(ctx, epoch, self.cycle)
            batch = next(self.batches)
        return batch

    @staticmethod
    def _pass(ctx: Any, epoch: int, cycle: int) -> Iterator[dict[str, torch.Tensor]]:
        return iter(ctx.batches(ctx.validation_indices, 100_000 * (cycle + 1) + epoch))


@dataclass
class EpochLog:
    """What one epoch's steps did, for the history (not checkpointed: epochs resume whole)."""

    epoch: int = -1
    weights: list[float] = field(default_factory=list)
    batch_means: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    weight_steps: int = 0

    def summary(self) -> dict[str, Any]:
        w = np.asarray(self.weights, dtype=np.float64)
        out: dict[str, Any] = {"weight_steps": self.weight_steps}
        if len(w):
            out["weights"] = {"mean": float(w.mean()), "std": float(w.std()), "min": float(w.min()), "max": float(w.max()),
                              "worst_batch_mean": float(max(self.batch_means, key=lambda m: abs(m - 1.0)))}
        if self.val_losses:
            out["val_loss"] = float(np.mean(self.val_losses))
        return out


class BilevelTrainer:
    """The method's training state: loss and weight memories by sample, the validation stream."""

    def __init__(self, switches: Switches, schedule: Schedule):
        self.switches, self.schedule = switches, schedule
        self.ema_loss: dict[int, float] = {}
        self.learned: dict[int, float] = {}
        self.val = ValidationStream()
        self.log = EpochLog()

    # state ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"ema_loss": dict(self.ema_loss), "learned": dict(self.learned)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.ema_loss = {int(k): float(v) for k, v in state.get("ema_loss", {}).items()}
        self.learned = {int(k): float(v) for k, v in state.get("learned", {}).items()}

    def _remember(self, memory: dict[int, float], indices: list[int], values: torch.Tensor) -> None:
        for i, v in zip(indices, values.detach().float().cpu().tolist()):
            memory[i] = v if i not in memory else EMA * memory[i] + (1.0 - EMA) * v

    def epoch_log(self, epoch: int) -> dict[str, Any]:
        return self.log.summary() if self.log.epoch == epoch else {"weight_steps": 0}

    # the step -------------------------------------------------------------------------
    def step(self, step: TrainStep) -> StepOutput:
        if self.log.epoch != step.epoch:
            self.log = EpochLog(step.epoch)
        outer = self.schedule.outer(step.epoch)
        every = outer and (step.iteration + 1) % OUTER_EVERY == 0
        batch, rule = step.batch, step.ctx.profile.deep_supervision
        indices = [int(i) for i in batch["index"]]
        with step.autocast():
            out = step.model(batch["image"])
        losses = per_image_loss(out, batch["label"], rule)
        joint = not self.switches.bilevel
        weights = self._weights(step, out.logits, indices, outer, live=joint)
        train = (weights * losses).mean()
        total, parts = train, {"train": train.detach()}
        val = self.val.next(step.ctx, step.epoch) if every else None
        if val is not None and self.switches.aggregation:
            total = total + self._aggregate(step, val, rule)
        if joint and every and "theta" in step.parts:
            total = total + theta_objective(step.parts["theta"], torch.sigmoid(out.logits.detach()), batch["label"])
        step.check_finite(total)
        step.zero_grad()
        total.backward()
        if joint:
            step.step_all()  # one objective: the detector, the meta-classifier and theta step together
        else:
            step.optimizer.step()  # inner level: the detector only; the parts take their outer steps
        self._remember(self.ema_loss, indices, losses)
        if val is not None and self.switches.balance and not joint:
            self._weight_outer_step(step, val)
        return StepOutput(total.detach(), parts)

    def _weights(self, step: TrainStep, logits: torch.Tensor, indices: list[int], outer: bool, live: bool) -> torch.Tensor:
        """Uniform before the outer level (or without balance); the meta-classifier's after."""
        b = logits.shape[0]
        if not (outer and self.switches.balance):
            weights = logits.new_ones(b, dtype=torch.float32)
        else:
            features = self._features(step, logits, step.batch["label"], indices)
            weights = normalized_weights(step.parts["weigher"], features)
            if not live:
                weights = weights.detach()
            self._remember(self.learned, indices, weights)
        self.log.weights += weights.detach().cpu().tolist()
        self.log.batch_means.append(float(weights.detach().mean()))
        return weights

    def _features(self, step: TrainStep, logits: torch.Tensor, labels: torch.Tensor, indices: list[int],
                  val_residual: torch.Tensor | None = None) -> torch.Tensor:
        theta = step.parts.get("theta", _NO_PHYSICS)
        ema = torch.tensor([self.ema_loss.get(i, 0.0) for i in indices], device=logits.device)
        return sample_features(logits, labels, theta.physics(), ema, val_residual)

    def _aggregate(self, step: TrainStep, val: dict[str, torch.Tensor], rule: str) -> torch.Tensor:
        """The validation objective mixed into the detector's step (first-order aggregation).
        ``L_cons`` is against the validation crop's own pseudo-mask (the public code compares
        the crop's logits with the whole mask resized to the crop: misaligned)."""
        with step.autocast():
            out = step.model(val["image"])
        lval = per_image_loss(out, val["label"], rule).mean()
        lcons = F.binary_cross_entropy_with_logits(out.logits.float(), val["label"].float())
        self.log.val_losses.append(float(lval.detach()))
        return VAL_WEIGHT * (lval + CONS_WEIGHT * lcons)

    def _weight_outer_step(self, step: TrainStep, val: dict[str, torch.Tensor]) -> None:
        """One step of the meta-classifier on the detector's latest predictions (no gradient
        into the detector; its batch-norm statistics move, as in the public code)."""
        x, y, indices = step.batch["image"], step.batch["label"], [int(i) for i in step.batch["index"]]
        if x.shape[0] < 2:
            return  # s_i is z-scored over the batch: undefined for one sample
        with torch.no_grad(), step.autocast():
            logits, val_logits = step.model(x).logits.float(), step.model(val["image"]).logits.float()
        probs, val_probs = torch.sigmoid(logits), torch.sigmoid(val_logits)
        s = validation_alignment(probs, y, val_probs, val["label"])
        features = self._features(step, logits, y, indices, val_residual=val_probs - val["label"].float())
        optimizer = step.optimizers["weigher"]
        optimizer.zero_grad(set_to_none=True)
        weight_objective(normalized_weights(step.parts["weigher"], features), s).backward()
        optimizer.step()
        self.log.weight_steps += 1

    # the outer step on theta ------------------------------------------------------------
    def theta_outer_step(self, ctx: Any, epoch: int) -> float:
        """One AdamW step of ``theta`` on a validation batch (the detector in eval mode)."""
        val = self.val.next(ctx, epoch)
        model, theta = ctx.model, ctx.parts["theta"]
        model.eval()
        with torch.no_grad(), autocast(ctx.device, ctx.profile.amp):
            probs = torch.sigmoid(model(val["image"]).logits.float())
        model.train()
        if not bool(torch.isfinite(probs).all()):  # a diverged detector: say so, not torch's BCE range error
            raise FloatingPointError(f"the detector's predictions are not finite at epoch {epoch + 1} (theta's outer step); "
                                     "the detector diverged: lower the learning rate")
        optimizer = ctx.optimizers["theta"]
        optimizer.zero_grad(set_to_none=True)
        loss = theta_objective(theta, probs, val["label"])
        loss.backward()
        theta.theta.grad = torch.nan_to_num(theta.theta.grad, nan=0.0, posinf=0.0, neginf=0.0)
        optimizer.step()
        return float(loss.detach())
