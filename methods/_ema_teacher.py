"""An exponential-moving-average copy of a detector (GSACP's decoupling teacher).

The teacher never trains: its parameters follow the student's after each optimizer
step, ``t <- m t + (1 - m) s``, its buffers (BatchNorm statistics) are copied, and it
runs in eval mode without gradients, so the targets it makes are constants to the
student's loss and the self-referential loop is damped by the momentum.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class EmaTeacher:
    """Holds the EMA copy; ``update(student)`` after each optimizer step."""

    def __init__(self, student: nn.Module, momentum: float = 0.99):
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"EMA momentum must be in [0, 1), got {momentum}")
        self.momentum = momentum
        self.module = copy.deepcopy(student)
        self.module.eval()
        self.module.requires_grad_(False)
        self.steps = 0

    @torch.no_grad()
    def update(self, student: nn.Module) -> None:
        params = dict(student.named_parameters())
        for name, mine in self.module.named_parameters():
            mine.lerp_(params[name].detach().to(mine.dtype), 1.0 - self.momentum)
        buffers = dict(student.named_buffers())
        for name, mine in self.module.named_buffers():
            mine.copy_(buffers[name])
        self.steps += 1

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> Any:
        self.module.eval()
        return self.module(x)

    def to(self, device: torch.device) -> "EmaTeacher":
        self.module.to(device)
        return self

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "steps": self.steps, "momentum": self.momentum}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.steps = int(state["steps"])
