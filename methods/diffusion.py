"""Diffusion ("Diffuse to Detect", ICML 2026): physics-induced pseudo-labels from points.

The annotator (``methods/_diffusion_field.py`` and the modules it names) follows the
public code (yuanhang-yao/diffuse-to-detect @a9a193a9, ``utils/diffusion_annotation.py``
as ``train.py`` calls it): a size prior per target, an image-adaptive diffusion from the
point fused with the superpixel under it by ``rho``, a global Otsu threshold and a dense
CRF per target box. The four physical parameters come from ``theta`` (initially 0)
through the public code's ``tanh`` reparametrization (``Physics.from_theta``).

Departures, each for a reason (measured on the train splits, seeds 0-4, same priors):

* ``walk="pde"`` (default) replaces the walkers by their expected density, the
  Fokker-Planck equation of the same drift and diffusion (``methods/_diffusion_pde.py``):
  no sampling noise, and faster. IoU SIRST / NUDT-SIRST / IRSTD-1K 75.67 / 65.78 / 69.91
  (``docs/diffusion.md``) against 74.68 / 65.40 / 69.82 for the walkers (both with the exact
  CRF; the walkers' figures from an earlier measurement, not re-run).
  ``walk="particles"`` is the public code's walk, seeded from the cell (there: unseeded).
* ``crf="exact"`` (default): our exact mean field (``methods/_crf_batch.py``); pydensecrf, which
  the public code ran, no longer builds. ``crf="lattice"`` reproduces pydensecrf (its
  permutohedral approximation; equal outputs on all SIRST train images) and is worse by
  0.3-0.5 IoU on each split (particles: 74.24 / 64.93 / 69.54).
* CLAHE, Otsu, blur and the rank filters are NumPy copies of OpenCV's and scikit-image's
  arithmetic (equal outputs), SLIC is scikit-image's algorithm batched over crops (equal
  partitions).

Training (``methods/_diffusion_bilevel.py``): the bi-level dual update of ``train.py`` on
the engine's contract. The method owns two parts, the meta-classifier (``weigher``, own
AdamW 1e-3) and ``theta`` (own AdamW 1e-2), holds out a validation split (``val_fraction``,
fixed seed; its images train only through their own pseudo-labels) and regenerates the
pseudo-labels of every training image at the refresh epochs from the real annotator at
the new ``theta``. The schedule is ``paper``'s (outer level from epoch 80, labels every 20
epochs of 400) scaled by the profile's epoch count (``Schedule.for_epochs``). Sample
weights are computed per batch from the same forward, as the public code does (an epoch
plan's weights would be a whole epoch stale); the epoch plan only carries ``subset``.
Initial labels depend on the annotator's options alone (``label_method``): every
training switch starts from the same pseudo-masks.

``size_prior="gt"`` is the published prior (target class and box from the full masks:
privileged, the record says so); ``size_prior="points"`` reads only the point and the image.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from benchmark.data.split import Sample
from benchmark.errors import ConfigError
from methods._diffusion_options import CRF_KERNELS, PRIORS, WALKS
from methods._diffusion_subset import ranked_subset
from methods.base import Method, MethodContext, register_method
from methods.mclc import TargetPrior, gt_priors, point_priors

if TYPE_CHECKING:  # resolving a cell imports this module: no torch, no annotator until labels are made
    from benchmark.contract import EpochPlan, Part, StepOutput, TrainStep
    from methods._diffusion_annotator import Annotator
    from methods._diffusion_bilevel import BilevelTrainer

# generate_single_point_Prior.py of the public code: as MCLC's, but a point's right side is drawn too
BOX_SIDES: dict[str, tuple[tuple[int, int], ...]] = {
    "point": ((3, 5),) * 4,
    "spot": ((10, 11),) * 4,
    "extended": ((15, 25),) * 4,
}
VAL_FRACTION = 0.25  # the public SIRST3 split: 550 of its 2202 training images validate (550 / 2202 = 0.2498)


class _PrivilegedIfGT:
    """``privileged``: True on the class (default ``size_prior="gt"``), per option on instances."""

    def __get__(self, obj: Any, owner: type) -> bool:
        return True if obj is None else obj.options["size_prior"] == "gt"


ANNOTATOR_OPTIONS = ("prior", "walk", "size_prior", "crf")  # the options that change the pseudo-masks
SWITCHES = ("bilevel", "balance", "online_labels", "aggregation")


@register_method
class Diffusion(Method):
    name = "diffusion"
    description = "Diffuse to Detect (ICML 2026): point-source diffusion + superpixel prior + dense CRF pseudo-masks, bi-level training"
    protocol = (
        "diffuse-to-detect @a9a193a9: annotator (Diffusion_Annotation + post_process as train.py calls them; "
        "walk=pde: the walk's expected density instead of 20-400 walkers, crf=exact: own exact dense CRF instead of "
        "pydensecrf's lattice; own CLAHE/Otsu/SLIC/rank filters) and bilevel_training (per-sample SoftIoU weighted by "
        "the 16-feature meta-classifier, every 4th step validation aggregation and its outer step, theta outer step "
        "through the surrogate and label refresh; outer level from epoch E/5, refresh every E/20 of E epochs: 80 and 20 "
        "of 400; prior difficulty feature 0 (file not shipped); L_cons on the aligned validation crop)"
    )
    privileged = _PrivilegedIfGT()  # type: ignore[assignment]
    cache_initial_labels = True
    labels_version = "1"
    defaults = {
        "prior": "both",  # both | diffusion | superpixel: what the field is made of
        "walk": "pde",  # pde (the walk's expected density) | particles (the public code's walkers, seeded)
        "size_prior": "gt",  # gt (published, privileged) | points
        "crf": "exact",  # dense CRF per box after Otsu: exact (our sums) | lattice (pydensecrf's) | off
        "bilevel": True,  # bi-level (on) or direct joint learning of the same parts (off)
        "balance": True,  # meta-learned sample weights (off: uniform, no meta-classifier)
        "online_labels": True,  # theta outer steps and label refresh (off: the initial labels throughout)
        "aggregation": True,  # validation loss mixed into the detector step every 4th step
        "val_fraction": VAL_FRACTION,  # validation share of the training images (fixed seed)
        "subset": 100,  # percent of training images kept, ranked by the learned weights of run ``subset_from``
        "subset_from": "",  # record key of the finished run whose learned weights rank the images
    }

    def __init__(self, **options: Any):
        super().__init__(**options)
        o = self.options
        for key, allowed in (("prior", PRIORS), ("walk", WALKS), ("size_prior", ("gt", "points")), ("crf", CRF_KERNELS)):
            if o[key] not in allowed:
                raise ConfigError(f"diffusion {key} must be one of {', '.join(allowed)}, not {o[key]!r}")
        if not 0.0 < float(o["val_fraction"]) < 1.0:
            raise ConfigError(f"diffusion val_fraction must lie in (0, 1), not {o['val_fraction']!r}")
        if not 0 < float(o["subset"]) <= 100:
            raise ConfigError(f"diffusion subset is a percentage in (0, 100], not {o['subset']!r}")
        if float(o["subset"]) < 100 and not o["subset_from"]:
            raise ConfigError("diffusion subset < 100 ranks images by a finished run's learned weights: "
                              "name it, e.g. diffusion[subset=30,subset_from=<record key>]")
        self._trainer: BilevelTrainer | None = None
        self._annotator: Annotator | None = None
        self._subset = None

    # pseudo-labels -------------------------------------------------------------------
    def priors(self, sample: Sample, label_type: str, rng: np.random.Generator) -> list[TargetPrior]:
        points = sample.points(label_type)
        if self.options["size_prior"] == "gt":
            if sample.mask is None:
                raise ConfigError(f"diffusion[size_prior=gt] needs the full mask of {sample.name!r}; use size_prior=points")
            return gt_priors(sample.mask, points, rng, BOX_SIDES)
        return point_priors(sample.image, points, rng, BOX_SIDES)

    def annotator(self, samples: Sequence[Sample], label_type: str, rng: np.random.Generator) -> "Annotator":
        """The prepared annotator of a split: box sides and the walk's stream drawn from ``rng``."""
        from methods._diffusion_annotator import Annotator

        priors = [self.priors(s, label_type, rng) for s in samples]
        o = self.options
        return Annotator([s.image for s in samples], priors, o["prior"], o["walk"], o["crf"],
                         walk_seed=int(rng.integers(2**63)))

    def initial_labels(
        self, samples: Sequence[Sample], label_type: str, rng: np.random.Generator, progress: bool = False
    ) -> list[np.ndarray]:
        """Pseudo-masks at ``theta = 0``."""
        return self.annotator(samples, label_type, rng).labels()

    def label_method(self) -> "Diffusion":
        """The same annotator without the training options: its spec seeds and keys the
        initial labels, so the training switches all start from the same pseudo-masks."""
        return Diffusion(**{k: self.options[k] for k in ANNOTATOR_OPTIONS})

    def setup(self, ctx: MethodContext) -> None:
        from benchmark.pseudolabels import cached_initial_labels

        labeller = self.label_method()
        made = cached_initial_labels(labeller, ctx.samples, ctx.dataset, ctx.fingerprint, ctx.label_type, ctx.seed, ctx.cache_dir)
        ctx.labels[:] = made.labels

    def refreshed_labels(self, ctx: MethodContext, theta: Sequence[float]) -> list[np.ndarray]:
        """Every training image's pseudo-mask at ``theta``: the annotator of the initial
        labels (same priors, same walk stream), prepared once per process."""
        if self._annotator is None:
            from benchmark.pseudolabels import labels_rng

            labeller = self.label_method()
            rng = labels_rng(labeller, ctx.dataset, ctx.label_type, ctx.seed)
            self._annotator = labeller.annotator(ctx.samples, ctx.label_type, rng)
        return [np.asarray(l, dtype=np.float32) for l in self._annotator.labels(theta)]

    # training ------------------------------------------------------------------------
    def validation_fraction(self) -> float:
        return float(self.options["val_fraction"])

    def trainer(self, ctx: MethodContext) -> "BilevelTrainer":
        if self._trainer is None:
            from methods._diffusion_bilevel import BilevelTrainer, Schedule, Switches

            switches = Switches(**{k: bool(self.options[k]) for k in SWITCHES})
            self._trainer = BilevelTrainer(switches, Schedule.for_epochs(ctx.profile.epochs))
        return self._trainer

    def build_parts(self, ctx: MethodContext) -> dict[str, "Part"]:
        """The meta-classifier (with ``balance``) and ``theta`` (with ``online_labels``), each
        with its own AdamW as in ``train.py``."""
        from benchmark.contract import Part
        from methods._diffusion_surrogate import Theta
        from methods._diffusion_weights import WeightMLP

        self.trainer(ctx)
        parts = {}
        if self.options["balance"]:
            parts["weigher"] = Part(WeightMLP(), optimizer="adamw", lr=1e-3)
        if self.options["online_labels"]:
            parts["theta"] = Part(Theta(), optimizer="adamw", lr=1e-2)
        return parts

    def epoch_plan(self, epoch: int, ctx: MethodContext) -> "EpochPlan":
        from benchmark.contract import EpochPlan

        if float(self.options["subset"]) >= 100:
            return EpochPlan()
        if self._subset is None:
            self._subset = ranked_subset(ctx, str(self.options["subset_from"]), float(self.options["subset"]))
        return EpochPlan(self._subset)

    def train_step(self, step: "TrainStep") -> "StepOutput":
        return self.trainer(step.ctx).step(step)

    def end_epoch(self, epoch: int, ctx: MethodContext) -> dict[str, Any]:
        """At refresh epochs: ``theta``'s outer step (bi-level), then new labels for all."""
        trainer = self.trainer(ctx)
        log = trainer.epoch_log(epoch)
        theta = ctx.parts.get("theta")
        if theta is not None and trainer.schedule.refresh(epoch):
            if self.options["bilevel"]:
                log["theta_loss"] = trainer.theta_outer_step(ctx, epoch)
            ctx.labels[:] = self.refreshed_labels(ctx, theta.values())
            log["labels_changed"] = True
        if theta is not None:
            log["theta"] = list(theta.values())
        if epoch + 1 == ctx.profile.epochs and trainer.learned:
            log["learned_weights"] = {ctx.samples[i].name: w for i, w in sorted(trainer.learned.items())}
        return log

    def state_dict(self) -> dict[str, Any]:
        return self._trainer.state_dict() if self._trainer is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self._trainer is None:
            raise RuntimeError("diffusion: load_state_dict before build_parts")
        self._trainer.load_state_dict(state)

    def paper_overrides(self) -> dict[str, Any]:
        # train.py: AdamW(lr 5e-4, torch's default weight decay 0.01), no schedule, batch 16, 256 crops,
        # 3-channel input, PAL's augmentation list, the mean over deep-supervision outputs
        return {
            "optimizer": "adamw", "lr": 5e-4, "weight_decay": 0.01, "scheduler": "constant", "batch_size": 16,
            "crop_size": 256, "in_channels": 3, "augmentation": "pal", "pos_prob": 0.0, "deep_supervision": "mean",
        }
