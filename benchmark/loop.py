"""One training epoch: the method's plan picks the samples, its ``train_step`` takes each
optimizer step, the engine keeps the counts and the epoch's log.

Each epoch reseeds torch from (seed, epoch), so an epoch after a resume draws what it
would have drawn in an uninterrupted run.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from benchmark.build import Built, to_device
from benchmark.contract import EpochPlan, TrainStep
from benchmark.schema import Evaluation
from benchmark.seeding import seed_hash


@dataclass
class RunState:
    """What the loop accumulates; checkpointed with the cell (field names are the
    checkpoint's keys)."""

    history: list[dict[str, Any]] = field(default_factory=list)
    label_quality: list[dict[str, float]] = field(default_factory=list)
    best: Evaluation | None = None
    last: Evaluation | None = None
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    trained_images: int = 0
    iterations: int = 0  # optimizer steps taken (TrainStep.iteration)
    start_epoch: int = 0  # not checkpointed: the epoch this process started at

    CHECKPOINTED = ("history", "label_quality", "best", "last", "train_seconds", "eval_seconds", "trained_images", "iterations")


def plan_epoch(b: Built, epoch: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The method's plan as (indices, weights) for the loader; validation images never train."""
    ctx, name = b.ctx, b.rc.method.name
    plan: EpochPlan = b.rc.method.epoch_plan(epoch, ctx)
    indices, weights = plan.indices, plan.weights
    if indices is None and (weights is not None or len(ctx.validation_indices)):
        indices = ctx.train_indices
    if indices is not None and len(ctx.validation_indices) and np.isin(indices, ctx.validation_indices).any():
        raise ValueError(f"method {name!r}: its epoch plan draws validation images")
    if weights is not None and len(weights) != len(indices):  # type: ignore[arg-type]
        raise ValueError(f"method {name!r}: {len(weights)} sample weights for {len(indices)} samples")  # type: ignore[arg-type]
    return indices, weights


def train_epoch(b: Built, state: RunState, epoch: int) -> dict[str, Any]:
    """Train one epoch; return its log (mean loss and loss parts, lr, seconds, images)."""
    torch.manual_seed(seed_hash(b.rc.init_seed, "epoch", epoch))
    b.ctx.epoch = epoch
    method = b.rc.method
    loader = b.training.loader(epoch, *plan_epoch(b, epoch))
    b.model.train()
    for part in b.parts.values():
        part.module.train(part.trainable)
    parts_modules = b.ctx.parts
    total, batches, images = 0.0, 0, 0
    sums: dict[str, float] = {}
    start = time.perf_counter()
    for batch in loader:
        batch = to_device(batch, b.device)
        step = TrainStep(b.model, batch, b.optimizer, b.optimizers, parts_modules, b.ctx, epoch, state.iterations,
                         b.device, b.profile.amp)
        out = method.train_step(step)
        state.iterations += 1
        total += float(out.loss)
        for name, value in out.parts.items():
            sums[name] = sums.get(name, 0.0) + float(value)
        batches += 1
        images += batch["image"].shape[0]
    seconds = time.perf_counter() - start
    state.train_seconds += seconds
    state.trained_images += images
    lr = b.optimizer.param_groups[0]["lr"]
    b.scheduler.step()
    entry = {"epoch": epoch + 1, "loss": total / max(batches, 1), "lr": lr, "seconds": seconds, "train_images": images}
    if sums:
        entry["loss_parts"] = {name: value / max(batches, 1) for name, value in sums.items()}
    return entry
