"""Whole-image inference at the original size: normalize, pad bottom/right with zeros
to a multiple of 32 (BasicIRSTD), predict, crop back; images of equal size share a batch."""

from __future__ import annotations

from collections import defaultdict
from contextlib import nullcontext
from typing import Sequence

import numpy as np
import torch

from benchmark.data import transforms
from benchmark.padding import pad_bottom_right

STRIDE = 32


def autocast(device: torch.device, enabled: bool):
    """bf16 autocast on CUDA when enabled; a no-op elsewhere (AMP only on CUDA)."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


@torch.no_grad()
def predict_probs(
    model: torch.nn.Module,
    images: Sequence[np.ndarray],
    norm: tuple[float, float],
    channels: int,
    device: torch.device,
    batch_size: int = 8,
    amp: bool = False,
) -> list[np.ndarray]:
    """Sigmoid probability maps (float32, original size) of uint8 grey images."""
    was_training = model.training
    model.eval()
    by_shape: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, img in enumerate(images):
        by_shape[img.shape].append(i)
    out: list[np.ndarray | None] = [None] * len(images)
    try:
        for (h, w), members in by_shape.items():
            for start in range(0, len(members), batch_size):
                chunk = members[start : start + batch_size]
                batch = np.stack([pad_bottom_right(transforms.normalize(images[i], *norm), STRIDE) for i in chunk])
                x = torch.from_numpy(batch)[:, None].expand(-1, channels, -1, -1).to(device)
                with autocast(device, amp):
                    logits = model(x).logits
                probs = torch.sigmoid(logits.float())[:, 0, :h, :w].cpu().numpy()
                for i, p in zip(chunk, probs):
                    out[i] = p
    finally:
        model.train(was_training)
    return out  # type: ignore[return-value]
