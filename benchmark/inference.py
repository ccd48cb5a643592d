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
    return [probs for probs, _ in _predict(model, images, norm, channels, device, batch_size, amp, features=False)]


def predict_with_features(
    model: torch.nn.Module,
    images: Sequence[np.ndarray],
    norm: tuple[float, float],
    channels: int,
    device: torch.device,
    batch_size: int = 8,
    amp: bool = False,
    stride: int = 1,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(probabilities, decoder features) per image: features float32 (F, ceil(h/stride),
    ceil(w/stride)), the padding cropped off as for the probabilities."""
    return _predict(model, images, norm, channels, device, batch_size, amp, features=True, stride=stride)  # type: ignore[return-value]


@torch.no_grad()
def _predict(
    model: torch.nn.Module,
    images: Sequence[np.ndarray],
    norm: tuple[float, float],
    channels: int,
    device: torch.device,
    batch_size: int,
    amp: bool,
    features: bool,
    stride: int = 1,
) -> list[tuple[np.ndarray, np.ndarray | None]]:
    was_training = model.training
    model.eval()
    by_shape: dict[tuple[int, int], list[int]] = defaultdict(list)
    for i, img in enumerate(images):
        by_shape[img.shape].append(i)
    out: list[tuple[np.ndarray, np.ndarray | None] | None] = [None] * len(images)
    try:
        for (h, w), members in by_shape.items():
            for start in range(0, len(members), batch_size):
                chunk = members[start : start + batch_size]
                batch = np.stack([pad_bottom_right(transforms.normalize(images[i], *norm), STRIDE) for i in chunk])
                x = torch.from_numpy(batch)[:, None].expand(-1, channels, -1, -1).to(device)
                with autocast(device, amp):
                    result = model(x)
                probs = torch.sigmoid(result.logits.float())[:, 0, :h, :w].cpu().numpy()
                feats = _crop_features(result.features, h, w, stride) if features else [None] * len(chunk)
                for i, p, f in zip(chunk, probs, feats):
                    out[i] = (p, f)
    finally:
        model.train(was_training)
    return out  # type: ignore[return-value]


def _crop_features(features: torch.Tensor | None, h: int, w: int, stride: int) -> np.ndarray:
    if features is None:
        raise ValueError("this detector returns no decoder features (DetectorOutput.features is None)")
    fh, fw = -(-h // stride), -(-w // stride)
    return features.float()[:, :, :fh, :fw].cpu().numpy()
