"""The method contract: a method owns the supervision; the engine owns the loop.

The engine calls, in order:
  ``validation_fraction()``     share of the training split held out as a validation
                                split (fixed seed, points only; default 0: none);
  ``build_parts(ctx)``          once, after the detector and before the optimizers: the
                                method's own trainable ``nn.Module``s (:class:`Part`);
  ``setup(ctx)``                once, before training: writes ``ctx.labels``, by default
                                from ``initial_labels`` (the point maps; offline
                                pseudo-labels for MCLC, COM, diffusion, cached by content
                                key when ``cache_initial_labels`` is set);
  ``epoch_plan(epoch, ctx)``    which training samples the epoch uses and their loss
                                weights (default: ``epoch_indices``, PAL's pools);
  ``train_step(step)``          one optimization step on one batch (default: forward,
                                ``loss``, backward, the optimizers' step); a method may
                                replace it (bi-level steps, an EMA teacher, in-batch
                                targets from the same forward);
  ``loss(out, batch, ctx)``     the loss of one batch, optionally with named parts
                                that the record's history keeps;
  ``end_epoch(epoch, ctx)``     label evolution (LESPS, PAL), using ``ctx.predict``;
  ``test_model(model, parts)``  what test-time inference runs: the detector unless the
                                method says otherwise (it sees only parts with ``at_test``).

``ctx.labels`` (one float32 map in [0, 1] per training image, validation images
included) belongs to the engine: it checkpoints it and logs its quality against the
ground truth, which the method itself never sees unless it is ``privileged`` (and then
the record says so).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterator, Sequence

import numpy as np

from benchmark.data.points import point_map
from benchmark.data.split import Sample
from benchmark.errors import ConfigError
from benchmark.lazy import lazy_module
from benchmark.profiles import Profile
from benchmark.registry import METHODS

losses = lazy_module("benchmark.losses")  # torch loads with the first loss: resolving a cell needs no torch
contract = lazy_module("benchmark.contract")  # likewise: the contract's types hold tensors and modules
if TYPE_CHECKING:
    import torch
    from torch import nn

    from benchmark.contract import EpochPlan, LossValue, Part, StepOutput, TrainStep
    from detectors.base import DetectorOutput


def _cpu() -> "torch.device":
    import torch

    return torch.device("cpu")


def _no_record(key: str) -> None:
    return None


@dataclass
class MethodContext:
    """Everything a method may use. ``samples`` carry masks only for privileged methods."""

    samples: list[Sample]
    label_type: str  # centroid | coarse | full
    profile: Profile
    labels: list[np.ndarray]
    rng: np.random.Generator
    workdir: Path
    predict: Callable[[Sequence[int]], list[np.ndarray]]  # probability maps of training images
    device: torch.device = field(default_factory=_cpu)
    state: dict[str, Any] = field(default_factory=dict)  # checkpointed with the labels
    dataset: str = ""
    detector: str = ""  # registry name: methods whose rule differs by detector family (PAL) read it
    fingerprint: str = ""  # of the training split: part of pseudo-label cache keys
    seed: int = 0  # the cell's seed
    cache_dir: Path | None = None
    last_epoch: dict[str, Any] = field(default_factory=dict)  # the log of the epoch just trained (loss, lr)
    epoch: int = 0  # 0-based epoch being trained (set by the engine before each epoch)
    model: nn.Module | None = None  # the detector (in-training methods read its features, copy it)
    parts: dict[str, nn.Module] = field(default_factory=dict)  # the method's own modules, on the device
    optimizers: dict[str, torch.optim.Optimizer] = field(default_factory=dict)  # parts' own (outer steps in end_epoch)
    optimizer: torch.optim.Optimizer | None = None  # the detector's (a method that restarts the detector clears its state)
    feature_channels: int | None = None  # of ``DetectorOutput.features`` at this cell's width
    feature_stride: int = 1  # input pixels per feature pixel
    train_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # samples the epochs draw from
    validation_indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # held out (points only)
    # batches of chosen training-split samples, augmented as in training: ``batches(indices, epoch)``
    batches: Callable[..., Iterator[dict[str, torch.Tensor]]] | None = None
    # (probabilities, decoder features) of training images at full size: ``predict_features(indices, model=None)``,
    # ``model`` a method's copy of the detector (an EMA teacher) in its place
    predict_features: Callable[..., list[tuple[np.ndarray, np.ndarray]]] | None = None
    # a finished record of the same results folder by its key (e.g. a run whose learned weights rank samples)
    find_record: Callable[[str], dict[str, Any] | None] = field(default_factory=lambda: _no_record)

    def points(self, index: int) -> np.ndarray:
        return self.samples[index].points(self.label_type)


class Method:
    """Base class: naive supervision by ``ctx.labels`` with the profile's combination rule."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    protocol: ClassVar[str] = ""  # which paper/code version this follows, for every record
    label_types: ClassVar[tuple[str, ...]] = ("centroid", "coarse")
    privileged: ClassVar[bool] = False  # reads full training masks (may depend on options: MCLC's prior)
    caveats: ClassVar[tuple[str, ...]] = ()  # what a reader of this scheme's numbers must know: printed under its tables
    defaults: ClassVar[dict[str, Any]] = {}
    cache_initial_labels: ClassVar[bool] = False  # expensive offline labels: cache by content key
    labels_version: ClassVar[str] = "1"  # bump when initial_labels' output changes

    def __init__(self, **options: Any):
        unknown = [k for k in options if k not in self.defaults]
        if unknown:
            close = difflib.get_close_matches(unknown[0], list(self.defaults), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"method {self.name!r} has no option {unknown[0]!r}.{hint} "
                f"Options: {', '.join(f'{k}={v}' for k, v in self.defaults.items()) or '(none)'}"
            )
        self.options = {**self.defaults, **{k: self._coerce(k, v) for k, v in options.items()}}

    def _coerce(self, key: str, value: Any) -> Any:
        """An option value in its default's type, so ``k=1`` and ``k=1.0`` are one config (one key)."""
        default = self.defaults[key]
        if isinstance(default, bool) or default is None:
            if default is not None and not isinstance(value, bool):
                raise ConfigError(f"method {self.name!r} option {key}={value!r}: expected true or false")
            return value
        if isinstance(default, (int, float)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"method {self.name!r} option {key}={value!r}: expected a number like {default!r}")
            if isinstance(default, int) and float(value).is_integer():
                return int(value)
            return float(value)
        return value

    # profile ------------------------------------------------------------------------
    def paper_overrides(self) -> dict[str, Any]:
        """Profile fields of the method's own published setting (applied in ``paper``)."""
        return {}

    # hooks --------------------------------------------------------------------------
    def initial_labels(
        self, samples: Sequence[Sample], label_type: str, rng: np.random.Generator, progress: bool = False
    ) -> list[np.ndarray]:
        """Labels before training (float32 in [0, 1]): the point maps unless overridden.

        Offline methods (MCLC, COM, the diffusion annotator) make their pseudo-masks here;
        ``pointbench labels`` calls this to measure their quality and speed.
        """
        return [point_map(s.points(label_type), s.shape) for s in samples]

    def setup(self, ctx: MethodContext) -> None:
        if self.cache_initial_labels:
            from benchmark.pseudolabels import cached_initial_labels

            made = cached_initial_labels(self, ctx.samples, ctx.dataset, ctx.fingerprint, ctx.label_type, ctx.seed, ctx.cache_dir)
            ctx.labels[:] = made.labels
        else:
            ctx.labels[:] = self.initial_labels(ctx.samples, ctx.label_type, ctx.rng)

    def validation_fraction(self) -> float:
        """Share of the training split held out for validation (a method option where used)."""
        return 0.0

    def build_parts(self, ctx: MethodContext) -> dict[str, Part]:
        """The method's own trainable modules, by name (keep references: the engine moves
        them to the device in place). Called once, after ``ctx.model`` exists."""
        return {}

    def epoch_indices(self, epoch: int, ctx: MethodContext) -> np.ndarray | None:
        return None  # all training samples

    def epoch_plan(self, epoch: int, ctx: MethodContext) -> EpochPlan:
        """Samples and weights of an epoch; by default ``epoch_indices`` without weights."""
        return contract.EpochPlan(self.epoch_indices(epoch, ctx))

    def train_step(self, step: TrainStep) -> StepOutput:
        """Today's step: forward under autocast, ``loss``, backward, every optimizer's step."""
        with step.autocast():
            out = step.model(step.batch["image"])
        total, parts = contract.split_loss(self.loss(out, step.batch, step.ctx))
        step.check_finite(total)
        step.zero_grad()
        total.backward()
        step.step_all()
        return contract.StepOutput(total.detach(), parts)

    def output_loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor], ctx: MethodContext) -> torch.Tensor:
        return losses.soft_iou(logits, batch["label"])

    def image_loss(self, logits: torch.Tensor, batch: dict[str, torch.Tensor], ctx: MethodContext) -> torch.Tensor:
        """One loss per image (B,), for weighted batches: SoftIoU per image by default."""
        return losses.soft_iou_per_image(logits, batch["label"])

    def loss(self, out: DetectorOutput, batch: dict[str, torch.Tensor], ctx: MethodContext) -> LossValue:
        """The profile's combination of the outputs' losses; with sample weights in the
        batch, each output's loss is the weighted mean of its per-image losses."""
        if "weight" in batch:
            per_output = [losses.weighted_mean(self.image_loss(o, batch, ctx), batch["weight"]) for o in (out.logits, *out.side)]
        else:
            per_output = [self.output_loss(o, batch, ctx) for o in (out.logits, *out.side)]
        return losses.combine_outputs(per_output, ctx.profile.deep_supervision)

    def test_model(self, model: nn.Module, parts: dict[str, nn.Module]) -> nn.Module:
        """What predicts at test time (and for ``ctx.predict``): the detector, unless a
        method combines it with its ``at_test`` parts (the only ones it is given)."""
        return model

    def end_epoch(self, epoch: int, ctx: MethodContext) -> dict[str, Any]:
        """Return a log dict; ``{"labels_changed": True}`` makes the engine log label quality."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass

    @property
    def spec(self) -> str:
        """``name[key=value,...]`` with only the options that differ from the defaults."""
        from benchmark.cells import format_spec

        return format_spec(self.name, {k: v for k, v in self.options.items() if self.defaults.get(k) != v})

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "options": dict(self.options),
            "protocol": self.protocol,
            "privileged": self.privileged,
            "caveats": list(self.caveats),
        }


def register_method(cls: type[Method]) -> type[Method]:
    """Class decorator: register under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__qualname__} needs a class attribute 'name'")
    METHODS.add(cls.name, cls, description=cls.description)
    return cls


_CONTRACT_TYPES = ("EpochPlan", "LossValue", "Part", "StepOutput", "TrainStep")


def __getattr__(name: str) -> Any:
    """``from methods.base import Part`` works without importing torch for every listing."""
    if name in _CONTRACT_TYPES:
        return getattr(contract, name)
    raise AttributeError(f"module 'methods.base' has no attribute {name!r}")


__all__ = ["EpochPlan", "Method", "MethodContext", "Part", "StepOutput", "TrainStep", "register_method"]
