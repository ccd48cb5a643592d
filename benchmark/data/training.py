"""The training set the engine iterates: images, the method's current labels, points.

Every random choice of an item comes from a generator seeded by (data seed, epoch,
position in the epoch), so a batch is the same whatever the number of loader workers,
and an epoch is the same after a resume as in an uninterrupted run.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from benchmark.data import transforms
from benchmark.data.points import point_map
from benchmark.data.split import Sample
from benchmark.profiles import Profile


class TrainingSet(Dataset):
    """Items for one epoch: ``order`` fixes which sample each position holds."""

    def __init__(
        self,
        samples: Sequence[Sample],
        labels: Sequence[np.ndarray],
        label_type: str,
        norm: tuple[float, float],
        channels: int,
        profile: Profile,
        seed: int,
        epoch: int,
        order: np.ndarray,
    ):
        self.samples, self.labels, self.label_type = samples, labels, label_type
        self.norm, self.channels, self.profile = norm, channels, profile
        self.seed, self.epoch, self.order = seed, epoch, order

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, position: int) -> dict[str, torch.Tensor]:
        index = int(self.order[position])
        sample = self.samples[index]
        rng = np.random.default_rng([self.seed, self.epoch, position])
        image = transforms.normalize(sample.image, *self.norm)
        label = self.labels[index].astype(np.float32, copy=False)
        if self.label_type == "full":
            points = np.zeros(sample.shape, np.float32)
        else:
            points = point_map(sample.points(self.label_type), sample.shape)
        image, label, points = transforms.random_crop(
            [image, label, points], label > 0, self.profile.crop_size, self.profile.pos_prob, rng
        )
        image, label, points = transforms.random_flips([image, label, points], rng)
        image_t = torch.from_numpy(image)[None].expand(self.channels, -1, -1).contiguous()
        return {
            "image": image_t,
            "label": torch.from_numpy(label)[None],
            "points": torch.from_numpy(points)[None],
            "index": torch.tensor(index),
        }


def epoch_loader(
    samples: Sequence[Sample],
    labels: Sequence[np.ndarray],
    label_type: str,
    norm: tuple[float, float],
    channels: int,
    profile: Profile,
    seed: int,
    epoch: int,
    indices: np.ndarray | None = None,
) -> DataLoader:
    """A loader over one epoch, shuffled by (seed, epoch); the last short batch is dropped
    when there is more than one batch (batch-norm cannot train on one image)."""
    pool = np.arange(len(samples)) if indices is None else np.asarray(indices)
    order = np.random.default_rng([seed, epoch]).permutation(pool)
    dataset = TrainingSet(samples, labels, label_type, norm, channels, profile, seed, epoch, order)
    drop_last = len(order) > profile.batch_size
    return DataLoader(
        dataset,
        batch_size=profile.batch_size,
        shuffle=False,
        drop_last=drop_last,
        num_workers=profile.num_workers,
        persistent_workers=False,
    )
