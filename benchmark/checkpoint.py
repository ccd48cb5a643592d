"""A cell's resumable state in one file: the detector, the method's parts, every
optimizer and the scheduler, the labels, the method's own state and the loop's counts.

Written to a temporary file and renamed, so a kill mid-write leaves the previous
checkpoint; a checkpoint of another configuration (another key) is ignored.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from benchmark.build import Built
from benchmark.loop import RunState

log = logging.getLogger(__name__)


def save_checkpoint(path: Path, b: Built, state: RunState, next_epoch: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "key": b.rc.key,
        "next_epoch": next_epoch,
        "model": b.model.state_dict(),
        "optimizer": b.optimizer.state_dict(),
        "scheduler": b.scheduler.state_dict(),
        "parts": {name: p.module.state_dict() for name, p in b.parts.items()},
        "part_optimizers": {name: opt.state_dict() for name, opt in b.optimizers.items()},
        "labels": [l.astype(np.float32) for l in b.ctx.labels],
        "method_state": b.rc.method.state_dict(),
        "ctx_state": b.ctx.state,
        **{name: getattr(state, name) for name in RunState.CHECKPOINTED},
    }
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, b: Built) -> RunState | None:
    """Restore ``b`` in place from ``path``; the loop's state, or None (nothing to resume)."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location=b.device, weights_only=False)
    except Exception as exc:  # a torn file from a kill mid-write cannot happen (rename), but be safe
        log.warning("ignoring unreadable checkpoint %s: %s", path, exc)
        return None
    if payload.get("key") != b.rc.key:
        return None
    b.model.load_state_dict(payload["model"])
    b.optimizer.load_state_dict(payload["optimizer"])
    b.scheduler.load_state_dict(payload["scheduler"])
    for name, part in b.parts.items():
        part.module.load_state_dict(payload["parts"][name])
    for name, opt in b.optimizers.items():
        opt.load_state_dict(payload["part_optimizers"][name])
    b.ctx.labels[:] = payload["labels"]
    b.rc.method.load_state_dict(payload["method_state"])
    b.ctx.state.update(payload["ctx_state"])
    state = RunState(**{name: payload[name] for name in RunState.CHECKPOINTED if name in payload})
    state.start_epoch = payload["next_epoch"]
    log.info("resumed %s at epoch %d", b.rc.cell.name, state.start_epoch + 1)
    return state
