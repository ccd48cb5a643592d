"""The data types of the engine-method contract (``methods.base`` documents the hooks).

Kept apart from ``methods.base`` so the engine and the methods share them without the
engine importing a method module, and from ``benchmark.engine`` so a method never
imports the engine.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple

import numpy as np
import torch
from torch import nn

from benchmark.inference import autocast


@dataclass
class Part:
    """A trainable module the method owns (a distance head, a meta-classifier, a teacher).

    The engine moves it to the device, checkpoints it with the cell and counts its
    parameters apart from the detector's. ``optimizer=None`` puts it in the detector's
    optimizer (at ``lr`` if given, else the detector's learning rate, and under the
    detector's scheduler); a name (``adam``, ``adamw``, ``adagrad``, ``sgd``) gives it an
    optimizer of its own at ``lr`` (required), not scheduled. ``trainable=False`` (an
    EMA teacher) freezes it: no optimizer, no gradient. Test-time inference never sees
    it unless ``at_test`` (then ``Method.test_model`` receives it).
    """

    module: nn.Module
    optimizer: str | None = None
    lr: float | None = None
    weight_decay: float = 0.0
    trainable: bool = True
    at_test: bool = False

    def __post_init__(self) -> None:
        if self.optimizer is not None and self.lr is None:
            raise ValueError("a Part with its own optimizer needs lr")
        if not self.trainable and (self.optimizer is not None or self.lr is not None):
            raise ValueError("a frozen Part (trainable=False) takes no optimizer or lr")


@dataclass(frozen=True)
class EpochPlan:
    """Which training samples an epoch draws (None: every training sample, that is
    ``ctx.train_indices``) and each one's loss weight (None: no weights; the batch then
    has no ``"weight"``). Weights go one per entry of ``indices`` (of ``ctx.train_indices``
    when indices is None) and travel with their sample through the shuffle."""

    indices: np.ndarray | None = None
    weights: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.weights is not None and self.indices is not None and len(self.weights) != len(self.indices):
            raise ValueError(f"epoch plan: {len(self.weights)} weights for {len(self.indices)} indices")


class StepOutput(NamedTuple):
    """What a training step reports: its total loss and named parts (for the history)."""

    loss: torch.Tensor
    parts: Mapping[str, torch.Tensor | float] = {}


LossValue = torch.Tensor | tuple[torch.Tensor, Mapping[str, torch.Tensor | float]]


def split_loss(value: LossValue) -> tuple[torch.Tensor, Mapping[str, torch.Tensor | float]]:
    """``Method.loss`` returns a tensor, or (total, {name: part}) to log its parts."""
    if isinstance(value, tuple):
        return value[0], value[1]
    return value, {}


@dataclass
class TrainStep:
    """Everything one training step may touch; built by the engine for each batch."""

    model: nn.Module  # the detector, in training mode
    batch: dict[str, torch.Tensor]  # on the device: image, label, points, index, crop, flips, warped (+ weight)
    optimizer: torch.optim.Optimizer  # the detector's (and the parts that joined it)
    optimizers: dict[str, torch.optim.Optimizer]  # parts with an optimizer of their own, by part name
    parts: dict[str, nn.Module]
    ctx: Any  # the cell's methods.base.MethodContext (not imported: methods import this module)
    epoch: int  # 0-based
    iteration: int  # optimizer steps taken by this cell before this one
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    amp: bool = False

    def autocast(self) -> AbstractContextManager[Any]:
        """The forward's precision context (bf16 on CUDA when the profile asks; else none)."""
        return autocast(self.device, self.amp)

    def check_finite(self, loss: torch.Tensor) -> None:
        if not torch.isfinite(loss):
            raise FloatingPointError(f"loss is {loss.item()} at epoch {self.epoch + 1}; lower the learning rate")

    def zero_grad(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        for opt in self.optimizers.values():
            opt.zero_grad(set_to_none=True)

    def step_all(self) -> None:
        """Step the detector's optimizer and every part's own."""
        self.optimizer.step()
        for opt in self.optimizers.values():
            opt.step()
