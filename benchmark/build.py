"""Everything one cell trains with, built from its resolved configuration: the data, the
detector, the method's own parts, the optimizers and scheduler, and the method context.

Nothing here trains; ``benchmark.loop`` does. The order of construction is part of the
contract: the global seed is set from the cell, then the detector is built, then the
method's parts, so a cell builds the same initial weights every time (and a resumed
cell rebuilds them before loading its checkpoint).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from benchmark.contract import Part
from benchmark.data.augmentation import augmentation
from benchmark.data.catalog import dataset_spec
from benchmark.data.loader import load_split
from benchmark.data.split import Split, carve_validation
from benchmark.data.training import TrainingData
from benchmark.data.transforms import norm_stats
from benchmark.inference import predict_probs, predict_with_features
from benchmark.profiles import Profile
from benchmark.pseudolabels import visible_samples
from benchmark.resolve import ResolvedCell
from benchmark.seeding import seed_everything, seed_hash
from detectors.base import WithTargetPrior, build_detector, detector_info
from methods.base import MethodContext


def pick_device(requested: str | None) -> torch.device:
    if requested:
        return torch.device(requested)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def make_optimizer(model: torch.nn.Module | list[dict[str, Any]], profile: Profile) -> torch.optim.Optimizer:
    """The profile's optimizer over a module's parameters (or over parameter groups)."""
    params = model.parameters() if isinstance(model, torch.nn.Module) else model
    name = profile.optimizer.lower()
    if name == "adam":
        return torch.optim.Adam(params, lr=profile.lr, weight_decay=profile.weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=profile.lr, weight_decay=profile.weight_decay)  # 0 means 0 (Profile sets AdamW's 0.01)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=profile.lr, weight_decay=profile.weight_decay)
    if name == "sgd":
        return torch.optim.SGD(params, lr=profile.lr, momentum=0.9, weight_decay=profile.weight_decay)
    raise ValueError(f"unknown optimizer {profile.optimizer!r}; use adam, adamw, adagrad or sgd")


def make_scheduler(optimizer: torch.optim.Optimizer, profile: Profile) -> torch.optim.lr_scheduler.LRScheduler:
    name = profile.scheduler.lower()
    if name == "multistep":
        milestones = sorted({max(1, int(round(f * profile.epochs))) for f in profile.milestones})
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=profile.gamma)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=profile.epochs, eta_min=profile.min_lr)
    if name == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    raise ValueError(f"unknown scheduler {profile.scheduler!r}; use multistep, cosine or constant")


@dataclass
class Built:
    """One cell's training material. ``parts`` are the method's; ``optimizers`` are the
    parts' own (the detector's ``optimizer`` holds the parts that joined it)."""

    rc: ResolvedCell
    device: torch.device
    train: Split
    test: Split
    norm: tuple[float, float]
    model: nn.Module
    parts: dict[str, Part]
    optimizer: torch.optim.Optimizer
    optimizers: dict[str, torch.optim.Optimizer]
    scheduler: torch.optim.lr_scheduler.LRScheduler
    ctx: MethodContext
    training: TrainingData

    @property
    def profile(self) -> Profile:
        return self.rc.profile

    @property
    def channels(self) -> int:
        return self.rc.profile.in_channels

    def test_model(self) -> nn.Module:
        """The method's test-time predictor; it is given only the parts marked ``at_test``."""
        return self.rc.method.test_model(self.model, {n: p.module for n, p in self.parts.items() if p.at_test})

    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        p = self.profile
        return predict_probs(self.test_model(), images, self.norm, self.channels, self.device, p.eval_batch_size, p.amp)

    def predict_train(self, indices: Sequence[int]) -> list[np.ndarray]:
        return self.predict([self.train.samples[i].image for i in indices])

    def predict_train_features(self, indices: Sequence[int], model: nn.Module | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        """``model``: a method's copy of the detector (an EMA teacher) in the detector's place."""
        p, images = self.profile, [self.train.samples[i].image for i in indices]
        return predict_with_features(model or self.model, images, self.norm, self.channels, self.device, p.eval_batch_size,
                                     p.amp, self.ctx.feature_stride)

    def batches(self, indices: Sequence[int], epoch: int, weights: np.ndarray | None = None) -> Iterator[dict[str, torch.Tensor]]:
        """Augmented batches of chosen samples on the device (``ctx.batches``)."""
        for batch in self.training.loader(epoch, np.asarray(indices, dtype=np.int64), weights):
            yield to_device(batch, self.device)

    def part_parameters(self) -> dict[str, dict[str, Any]]:
        """The record's account of the method's parts, apart from the detector's count."""
        return {
            name: {"parameters": sum(t.numel() for t in p.module.parameters()), "trainable": p.trainable,
                   "optimizer": p.optimizer or ("detector's" if p.trainable else None), "at_test": p.at_test}
            for name, p in self.parts.items()
        }


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    """A loader batch on the device; images channels-last on CUDA (faster convolutions)."""
    batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    if device.type == "cuda":
        batch["image"] = batch["image"].contiguous(memory_format=torch.channels_last)
    return batch


def build(rc: ResolvedCell, workdir: Path, device: str | None = None, data_root: Path | None = None,
          cache_dir: Path | None = None) -> Built:
    """The data, the detector, the method's parts and context, the optimizers, in that order."""
    cell, profile = rc.cell, rc.profile
    augmentation(profile.augmentation)  # an unknown name fails here, before any data loads
    train = load_split(cell.dataset, "train", data_root, cache_dir).head(profile.max_train_images)
    test = load_split(cell.dataset, "test", data_root, cache_dir).head(profile.max_test_images)
    spec = dataset_spec(cell.dataset)
    norm = (spec.mean, spec.std) if spec.mean is not None else norm_stats(train.samples)
    seed_everything(rc.init_seed)
    on = pick_device(device)
    model = build_model(rc, on)
    ctx = make_context(rc, train, model, on, workdir, cache_dir)
    training = TrainingData(ctx.samples, ctx.labels, cell.labels, norm, profile.in_channels, profile, rc.data_seed)
    parts = build_parts(rc, ctx, on)
    optimizer, optimizers = make_optimizers(model, parts, profile)
    scheduler = make_scheduler(optimizer, profile)
    built = Built(rc, on, train, test, norm, model, parts, optimizer, optimizers, scheduler, ctx, training)
    ctx.predict, ctx.predict_features, ctx.batches = built.predict_train, built.predict_train_features, built.batches
    ctx.optimizers, ctx.optimizer = optimizers, optimizer
    return built


def build_model(rc: ResolvedCell, device: torch.device) -> nn.Module:
    profile, channels = rc.profile, rc.profile.in_channels
    model = build_detector(rc.cell.detector, in_channels=channels, width=profile.detector_width)
    if profile.target_prior is not None:
        model = WithTargetPrior(model, profile.target_prior, standardize=profile.standardize_logits, in_channels=channels)
    model.to(device)
    if device.type == "cuda":
        model = model.to(memory_format=torch.channels_last)
    return model


def make_context(
    rc: ResolvedCell, train: Split, model: nn.Module, device: torch.device, workdir: Path, cache_dir: Path | None
) -> MethodContext:
    """What the method sees: masks only if privileged; the validation split held out."""
    cell, method = rc.cell, rc.method
    info = detector_info(cell.detector)
    train_idx, val_idx = carve_validation(len(train), float(method.validation_fraction()))
    return MethodContext(
        samples=visible_samples(method, train.samples),
        label_type=cell.labels,
        profile=rc.profile,
        labels=[np.zeros(s.shape, np.float32) for s in train.samples],
        rng=np.random.default_rng(seed_hash("method", rc.init_seed)),
        workdir=workdir,
        predict=lambda indices: [],  # replaced by build() once the predictor exists
        device=device,
        dataset=cell.dataset,
        detector=cell.detector,
        fingerprint=train.fingerprint,
        seed=cell.seed,
        cache_dir=cache_dir,
        model=model,
        feature_channels=info.channels_at(rc.profile.detector_width),
        feature_stride=info.feature_stride,
        train_indices=train_idx,
        validation_indices=val_idx,
    )


def build_parts(rc: ResolvedCell, ctx: MethodContext, device: torch.device) -> dict[str, Part]:
    """The method's parts on the device; frozen ones without gradients, in eval mode."""
    parts = rc.method.build_parts(ctx)
    for name, part in parts.items():
        if not isinstance(part, Part):
            raise TypeError(f"method {rc.method.name!r}: build_parts()[{name!r}] must be a Part, got {type(part).__name__}")
        part.module.to(device)
        if not part.trainable:
            part.module.requires_grad_(False)
            part.module.eval()
    ctx.parts = {name: part.module for name, part in parts.items()}
    return parts


def make_optimizers(
    model: nn.Module, parts: dict[str, Part], profile: Profile
) -> tuple[torch.optim.Optimizer, dict[str, torch.optim.Optimizer]]:
    """The detector's optimizer (with the parts that join it, each its own group) and
    one optimizer per part that asks for its own."""
    joined = [p for p in parts.values() if p.trainable and p.optimizer is None]
    if joined:
        groups = [{"params": list(model.parameters())}]
        groups += [{"params": list(p.module.parameters()), "lr": p.lr or profile.lr} for p in joined]
        optimizer = make_optimizer(groups, profile)
    else:
        optimizer = make_optimizer(model, profile)
    own = {
        name: make_optimizer(
            p.module, dataclasses.replace(profile, optimizer=p.optimizer, lr=p.lr, weight_decay=p.weight_decay)
        )
        for name, p in parts.items()
        if p.trainable and p.optimizer is not None
    }
    return optimizer, own
