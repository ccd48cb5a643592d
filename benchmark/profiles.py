"""Profiles: the training schedule and protocol a cell runs under.

``paper`` follows BasicIRSTD's full-supervision protocol (400 epochs, batch 16, 256
crops with positive-crop probability 0.5, Adam 5e-4, milestones at 50% and 75% of
training, x0.1) and lets each method apply its own published settings on top
(``Method.paper_overrides``). ``short``, ``cpu``, ``quick`` and ``smoke`` shrink the
scale for CPUs and keep every method's own setting: the method's published overrides
apply under every profile, then what the scale forces over all of them (``forced``,
and ``lr_scale`` on each method's own learning rate), then the user's ``--set``. Each
reduced profile names every departure from the papers' protocol in ``deviations``,
which every record carries (``docs/fidelity.md`` has the measurements).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from benchmark.errors import ConfigError, UnknownNameError


# what a reduced profile shrinks and keeps over a method's published setting (epochs, width
# and image counts are the profile's alone; the batch and crop size a method may also set;
# and see benchmark.resolve.kept_by_reduced_profile for the schedule over a raised constant rate)
SCALE_FIELDS = ("batch_size", "crop_size")


@dataclass(frozen=True)
class Profile:
    name: str
    epochs: int
    batch_size: int
    crop_size: int
    pos_prob: float = 0.5  # probability that a crop is drawn around a labelled pixel (BasicIRSTD)
    augmentation: str = "basic"  # basic: flips + transpose (BasicIRSTD/LESPS) | pal: PAL's albumentations list
    optimizer: str = "adam"  # adam | adamw | adagrad | sgd
    lr: float = 5e-4
    weight_decay: float = 0.0
    scheduler: str = "multistep"  # multistep | cosine | constant
    milestones: tuple[float, ...] = (0.5, 0.75)  # fractions of epochs (400 -> 200, 300)
    gamma: float = 0.1
    min_lr: float = 1e-5  # cosine floor
    deep_supervision: str = "mean"  # how side-output losses combine: mean | sum | final
    eval_every: int = 5  # epochs between test evaluations (the last epoch is always evaluated)
    checkpoint_every: int = 5  # epochs between resumable checkpoints
    detector_width: float = 1.0  # channel multiplier (1.0 = published network)
    in_channels: int = 3  # grey replicated to 3 channels as PAL and D2D do; LESPS uses 1
    max_train_images: int | None = None  # first N training images (reduced profiles)
    max_test_images: int | None = None
    amp: bool = True  # bf16 autocast, used on CUDA only
    num_workers: int = 0  # data-loading processes
    eval_batch_size: int = 8
    target_prior: float | None = None  # start output maps at this foreground probability (reduced profiles; None: papers' init)
    standardize_logits: bool = False  # with target_prior: also centre and scale saturated initial logits (see WithTargetPrior)
    lr_scale: float = 1.0  # multiplies every method's own learning rate (a reduced schedule's forced setting; see deviations)
    pre_start_steps: int = 0  # PAL: no label update before this many optimizer steps (reduced profiles; 0: epochs only, as the paper)
    # settings a reduced scale forces over every method's own (applied after the method's
    # published setting), as (field, value) pairs; each one is explained in ``deviations``
    forced: tuple[tuple[str, Any], ...] = ()
    deviations: tuple[str, ...] = ()  # one line per departure from the papers' protocol, and why (recorded with every cell)

    def with_overrides(self, overrides: dict[str, Any]) -> "Profile":
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ConfigError(f"unknown profile field(s) {unknown}; known: {sorted(known)}")
        clean = {k: tuple(v) if isinstance(v, list) else v for k, v in overrides.items()}
        if str(clean.get("optimizer", self.optimizer)).lower() == "adamw" != self.optimizer.lower():
            clean.setdefault("weight_decay", 0.01)  # switching to AdamW without a decay: AdamW's own default
        return dataclasses.replace(self, **clean)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PROFILES: dict[str, Profile] = {
    "paper": Profile("paper", epochs=400, batch_size=16, crop_size=256, num_workers=4),
    # the paper's protocol at a fraction of the epochs, for real data on a CPU or a short GPU check
    "short": Profile("short", epochs=20, batch_size=8, crop_size=256, eval_every=5, checkpoint_every=5,
                     deviations=("20 epochs of batch 8 instead of 400 of batch 16 (a fraction of the schedule)",)),
    # real data on one CPU core in about half an hour a cell (DNANet on SIRST); every
    # setting below was measured with ``benchmark.bench.peaks`` (docs/fidelity.md)
    "cpu": Profile(
        "cpu",
        epochs=30,
        batch_size=8,
        crop_size=128,
        detector_width=0.25,
        lr_scale=4.0,  # 2e-3 for Adam 5e-4 schemes: full reached test IoU 39 by epoch 5 (docs/fidelity.md)
        milestones=(0.7,),  # one x0.1 step at epoch 21: 9 low-LR epochs to sharpen the maps
        target_prior=0.01,  # from p = 0.5 the point-trained schemes spend the schedule pushing background down
        eval_every=10,
        checkpoint_every=5,
        forced=(("pos_prob", 0.5),),
        deviations=(
            "30 epochs of batch 8 instead of 400 of batch 16 (a CPU budget of about half an hour a cell)",
            "128x128 training crops instead of 256x256; detectors at quarter width (detector_width 0.25)",
            "lr_scale 4: every method's own learning rate x4 (Adam 5e-4 -> 2e-3, PAL's AdamW 1e-3 -> 4e-3) for the short schedule",
            "milestones (0.7,): one x0.1 step at epoch 21 instead of x0.1 at 50% and 75%; also on the constant rate of "
            "PAL and Diffusion, which lr_scale raises (at a constant 4x rate Diffusion's test IoU fell to 17.97)",
            "target_prior 0.01: output maps start at p = 0.01, not at the detectors' own init",
            "pos_prob 0.5 forced on every method (LESPS, PAL and naive points use plain random crops): a 128 crop of a "
            "~300x230 SIRST image holds its target about a quarter of the time, a 256 crop nearly always",
        ),
    ),
    # the embedded default on a laptop CPU: quarter width, 64x64 crops of the 128x128 synthetic images
    "quick": Profile(
        "quick",
        epochs=20,
        batch_size=8,
        crop_size=64,
        lr_scale=10.0,  # full at 5e-3: 2e-3 reached IoU 34.5, 5e-3 59.1 in 20 epochs (full, seed 0)
        detector_width=0.25,
        eval_every=10,
        checkpoint_every=5,
        milestones=(0.75,),
        target_prior=0.01,  # naive points predicted nothing at all from p = 0.5 (issue 15)
        forced=(("pos_prob", 0.5),),
        deviations=(
            "synthetic 128x128 images, 20 epochs of batch 8 and 64x64 crops instead of 400 of batch 16 and 256x256",
            "detectors at quarter width (detector_width 0.25)",
            "lr_scale 10: every method's own learning rate x10 (Adam 5e-4 -> 5e-3, PAL's AdamW 1e-3 -> 1e-2) for 20 epochs",
            "milestones (0.75,): one x0.1 step at epoch 15 instead of x0.1 at 50% and 75%; also on the constant rate "
            "of PAL and Diffusion, which lr_scale raises (PAL quick: 7.81 IoU at a constant 10x rate, 10.44 with the step)",
            "target_prior 0.01: output maps start at p = 0.01, not at the detectors' own init",
            "pos_prob 0.5 forced on every method (LESPS, PAL and naive points use plain random crops): a 64 crop of a "
            "128x128 image misses its targets most of the time",
        ),
    ),
    # CI-sized: a few images, a few epochs; proves the pipeline, not the method
    "smoke": Profile(
        "smoke",
        epochs=2,
        batch_size=4,
        crop_size=64,
        lr=1e-3,
        detector_width=0.125,
        in_channels=1,
        eval_every=1,
        checkpoint_every=1,
        max_train_images=8,
        max_test_images=6,
        deviations=("CI-sized: 8 training and 6 test images, 2 epochs at 1/8 width; proves the pipeline, not the method",),
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UnknownNameError(f"unknown profile {name!r}; known profiles: {', '.join(PROFILES)}") from None
