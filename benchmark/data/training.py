"""The training set the engine iterates: images, the method's current labels, points.

Every random choice of an item comes from a generator seeded by (data seed, epoch,
position in the epoch), so a batch is the same whatever the number of loader workers,
and an epoch is the same after a resume as in an uninterrupted run. The augmentation is
the one the profile names (``benchmark.data.augmentation``); each item says where its
crop lies in its image (``crop``: top, left; ``flips``: vertical, horizontal, transpose;
``warped``) and, when the epoch plan has weights, its loss ``weight``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from benchmark.data.augmentation import augmentation
from benchmark.data.points import point_map
from benchmark.data.split import Sample
from benchmark.profiles import Profile


@dataclass
class TrainingData:
    """What every epoch draws from. ``labels`` is the engine's live list (methods update it)."""

    samples: Sequence[Sample]
    labels: Sequence[np.ndarray]
    label_type: str
    norm: tuple[float, float]
    channels: int
    profile: Profile
    seed: int

    def loader(self, epoch: int, indices: np.ndarray | None = None, weights: np.ndarray | None = None) -> DataLoader:
        """One epoch, shuffled by (seed, epoch); the last short batch is dropped when there
        is more than one batch (batch-norm cannot train on one image). ``weights`` go
        with ``indices`` (one each) and travel with their sample through the shuffle."""
        pool = np.arange(len(self.samples)) if indices is None else np.asarray(indices)
        shuffle = np.random.default_rng([self.seed, epoch]).permutation(len(pool))
        order = pool[shuffle]
        weighted = None if weights is None else np.asarray(weights, dtype=np.float32)[shuffle]
        return DataLoader(
            EpochItems(self, epoch, order, weighted),
            batch_size=self.profile.batch_size,
            shuffle=False,
            drop_last=len(order) > self.profile.batch_size,
            num_workers=self.profile.num_workers,
            persistent_workers=False,
        )


class EpochItems(Dataset):
    """The items of one epoch: ``order`` fixes which sample each position holds."""

    def __init__(self, data: TrainingData, epoch: int, order: np.ndarray, weights: np.ndarray | None = None):
        self.data, self.epoch, self.order, self.weights = data, epoch, order, weights
        self.augment = augmentation(data.profile.augmentation)

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        d = self.data
        index = int(self.order[position])
        sample = d.samples[index]
        rng = np.random.default_rng([d.seed, self.epoch, position])
        label = d.labels[index].astype(np.float32, copy=False)
        if d.label_type == "full":
            points = np.zeros(sample.shape, np.float32)
        else:
            points = point_map(sample.points(d.label_type), sample.shape)
        image, label, points, geometry = self.augment(sample.image, label, points, d.norm, d.profile, rng)
        item = {
            "image": torch.from_numpy(image)[None].expand(d.channels, -1, -1).contiguous(),
            "label": torch.from_numpy(label)[None],
            "points": torch.from_numpy(points)[None],
            "index": torch.tensor(index),
            "crop": torch.tensor((geometry.top, geometry.left)),
            "flips": torch.tensor(geometry.flips),
            "warped": torch.tensor(geometry.warped),
        }
        if self.weights is not None:
            item["weight"] = torch.tensor(float(self.weights[position]))
        return item
