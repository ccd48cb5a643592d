"""GSACP (2026): end-to-end in-batch point-anchored feature-affinity propagation.

No offline pseudo-labels: in every training step each annotated point of the batch
anchors the decoder feature at the point; the pixels of the point's support window
whose cosine affinity to the anchor passes a hard margin and (with the gate) that are
locally brighter than their surround, connected to the point, are its mask target; the
detector is supervised by those targets directly (``methods._affinity_targets``). The
targets come from the features being trained, a self-referential loop; the paper's
three remedies are switches, one variable at a time: ``teacher=ema`` (an EMA copy of
the detector makes the targets), ``contrastive=on`` (false alarms outside every support
pushed away from the anchors), ``support=adaptive`` (each window sized from its
affinity profile). Reference: new-methods.md section 2; no public code.

Where the paper is silent (harness choices, one line each; the protocol repeats them):
- mask loss: SoftIoU on the targets plus LESPS's Gaussian focal term on the point map (weight 1), outputs combined by the profile's rule
- point term: positives at the points, negatives at the pixels outside every support (they are background), the supports' other pixels left out;
  without those negatives (focal_background=off) nothing but SoftIoU's ~1e-6-per-pixel gradient held the logits down there and the
  detector fired everywhere (quick, seed 0, epoch 10: Fa 7312e-6, test IoU 10.4 with targets at label IoU 55.8)
- anchor and affinity: features brought to the output size (bilinear), centred per image, cosine to the point's feature
- target: pixels at cosine >= 0.9 inside the support (and passing the gate), the 8-connected part holding the point
- gate: intensity above the mean + 2 spreads of the 2-pixel ring just outside the support
- support: fixed 11x11 (radius 5); adaptive radius round(1.5 e) + 1 in [2, 10], e the rings around the point at least half above the margin
- teacher: EMA of the detector, momentum 0.99, updated after each optimizer step, BatchNorm buffers copied, run in eval mode
- contrastive: hinge max(0, cos - 0) of the 16 highest-response pixels per image outside every support with p > 0.5, anchors detached, weight 1
- record: the targets of the whole training images at the evaluated epochs (features at eval mode) go to ``ctx.labels`` for the engine to score; the point maps are put back before each epoch, so scoring never changes the crops
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from benchmark.data.points import point_map
from benchmark.errors import ConfigError
from benchmark.lazy import lazy_module
from methods.base import Method, MethodContext, register_method

targets_lib = lazy_module("methods._affinity_targets")  # torch loads when training starts, not on listing
losses_lib = lazy_module("methods._affinity_losses")
teacher_lib = lazy_module("methods._ema_teacher")
contract = lazy_module("benchmark.contract")
if TYPE_CHECKING:
    import torch

    from benchmark.contract import Part, StepOutput, TrainStep

TEACHERS = ("ema", "none")
SUPPORTS = ("adaptive", "fixed")  # methods._affinity_targets.SUPPORTS
MASK_LOSSES = ("soft_iou", "focal")  # methods._affinity_losses.MASK_LOSSES
_RECORD_CHUNK = 16  # training images whose full-size features are held at once when scoring targets


def _choice(name: str, value: Any, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ConfigError(f"gsacp {name}={value!r}: use one of {', '.join(allowed)}")


@register_method
class GSACP(Method):
    name = "gsacp"
    description = "GSACP (2026): in-batch point-anchored feature-affinity targets; EMA teacher, hard-background contrast, adaptive support"
    protocol = "\n".join(
        [
            "GSACP (2026) as new-methods.md section 2 describes it; no public code. Harness choices where the paper is silent:",
            "- mask loss: SoftIoU on the targets + LESPS Gaussian focal on the point map (weight 1), outputs by the profile's rule",
            "- point term: positives at the points, negatives outside every support (background), the supports' other pixels left out (focal_background)",
            "- affinity: features bilinear to the output size, centred per image, cosine to the point's feature",
            "- target: cosine >= margin (0.9) in the support and through the gate, the 8-connected part holding the point",
            "- gate: intensity > mean + 2 spreads of the 2-pixel ring just outside the support",
            "- support: fixed radius 5 (11x11); adaptive round(1.5 e) + 1 in [2, 10], e = rings around the point >= half above the margin",
            "- teacher: EMA momentum 0.99 after each optimizer step, BatchNorm buffers copied, eval mode",
            "- contrastive: hinge max(0, cos) of the 16 top false alarms (p > 0.5) per image outside every support, anchors detached",
            "- record: targets of the whole training images at evaluated epochs scored by the engine; point maps restored before each epoch",
        ]
    )
    label_types = ("centroid", "coarse")
    defaults = {
        "teacher": "ema",
        "contrastive": True,
        "support": "adaptive",
        "gate": True,
        "momentum": 0.99,
        "margin": 0.9,
        "radius": 5,
        "max_radius": 10,
        "gate_std": 2.0,
        "hard": 16,
        "push_margin": 0.0,
        "contrastive_weight": 1.0,
        "focal_weight": 1.0,
        "focal_background": True,  # the point term's negatives outside every support (off: the points only)
        "mask_loss": "soft_iou",
    }

    def __init__(self, **options: Any):
        super().__init__(**options)
        o = self.options
        _choice("teacher", o["teacher"], TEACHERS)
        _choice("support", o["support"], SUPPORTS)
        _choice("mask_loss", o["mask_loss"], MASK_LOSSES)
        if not 0.0 <= float(o["momentum"]) < 1.0:
            raise ConfigError(f"gsacp momentum={o['momentum']!r}: the EMA momentum must be in [0, 1)")
        if not -1.0 <= float(o["margin"]) <= 1.0:
            raise ConfigError(f"gsacp margin={o['margin']!r}: a cosine margin lies in [-1, 1]")
        if int(o["radius"]) < 0 or int(o["max_radius"]) < 2:
            raise ConfigError("gsacp radius must be >= 0 and max_radius >= 2 (the adaptive support's floor)")
        self.teacher: Any = None  # methods._ema_teacher.EmaTeacher with teacher=ema
        self._epoch: dict[str, float] = {}

    # configuration -------------------------------------------------------------------
    def target_config(self) -> Any:
        """``methods._affinity_targets.TargetConfig`` from the options."""
        o = self.options
        return targets_lib.TargetConfig(
            margin=float(o["margin"]), gate=bool(o["gate"]), support=o["support"], radius=int(o["radius"]),
            max_radius=int(o["max_radius"]), gate_std=float(o["gate_std"]),
        )

    def loss_config(self, ctx: MethodContext) -> Any:
        o = self.options
        return losses_lib.LossConfig(
            focal_weight=float(o["focal_weight"]), focal_background=bool(o["focal_background"]), contrastive=bool(o["contrastive"]),
            contrastive_weight=float(o["contrastive_weight"]), hard=int(o["hard"]), push_margin=float(o["push_margin"]),
            deep_supervision=ctx.profile.deep_supervision, mask_loss=o["mask_loss"],
        )

    def build_parts(self, ctx: MethodContext) -> dict[str, Part]:
        if ctx.feature_channels is None:
            raise ConfigError(f"gsacp needs decoder features; detector {ctx.detector!r} declares none (DetectorInfo.feature_channels)")
        if self.options["teacher"] != "ema":
            return {}
        self.teacher = teacher_lib.EmaTeacher(ctx.model, float(self.options["momentum"]))
        return {"teacher": contract.Part(self.teacher.module, trainable=False)}

    # training ------------------------------------------------------------------------
    def batch_targets(self, step: TrainStep, student_features: torch.Tensor | None) -> Any:
        """The batch's targets, from the teacher's features when there is one (its forward
        on the same batch), else from the student's own (detached)."""
        batch = step.batch
        if self.teacher is not None:
            with step.autocast():
                student_features = self.teacher(batch["image"]).features
        if student_features is None:
            raise ValueError("gsacp: the detector returned no decoder features (DetectorOutput.features is None)")
        return targets_lib.affinity_targets(student_features.detach(), batch["image"], batch["points"], self.target_config())

    def forward_loss(self, step: TrainStep) -> tuple[torch.Tensor, dict[str, torch.Tensor], Any]:
        """The student's forward, the batch's targets, and the loss with its parts."""
        with step.autocast():
            out = step.model(step.batch["image"])
        targets = self.batch_targets(step, out.features)
        total, parts = losses_lib.gsacp_loss(
            [out.logits, *out.side], out.features, targets, step.batch["points"], self.loss_config(step.ctx)
        )
        return total, parts, targets

    def train_step(self, step: TrainStep) -> StepOutput:
        """Forward, in-batch targets, loss, backward, step; then the teacher follows."""
        total, parts, targets = self.forward_loss(step)
        step.check_finite(total)
        step.zero_grad()
        total.backward()
        step.step_all()
        if self.teacher is not None:
            self.teacher.update(step.model)
        self._count(targets)
        return contract.StepOutput(total.detach(), parts)

    def _count(self, targets: Any) -> None:
        e = self._epoch
        e["points"] = e.get("points", 0.0) + float(targets.area.numel())
        e["area"] = e.get("area", 0.0) + float(targets.area.sum())
        e["radius"] = e.get("radius", 0.0) + float(targets.radius.sum())

    def epoch_plan(self, epoch: int, ctx: MethodContext) -> Any:
        """Every training sample; the point maps back in ``ctx.labels`` (the loader's
        positive crops read them) after the record's targets were scored there."""
        self._epoch = {}
        ctx.labels[:] = [point_map(ctx.points(i), s.shape) for i, s in enumerate(ctx.samples)]
        return super().epoch_plan(epoch, ctx)

    # the record --------------------------------------------------------------------
    def end_epoch(self, epoch: int, ctx: MethodContext) -> dict[str, Any]:
        """The epoch's mean target area and support radius per point (the drift shows
        there); at evaluated epochs the targets of the whole training images, for the
        engine to score against the ground truth."""
        e, n = self._epoch, max(self._epoch.get("points", 0.0), 1.0)
        log: dict[str, Any] = {"target_area": e.get("area", 0.0) / n, "support_radius": e.get("radius", 0.0) / n,
                               "points": int(e.get("points", 0.0))}
        p = ctx.profile
        if (epoch + 1) % p.eval_every == 0 or epoch + 1 == p.epochs:
            labels, areas = self.image_targets(ctx)
            ctx.labels[:] = labels
            log.update(labels_changed=True, image_target_area=float(np.mean(areas)) if len(areas) else 0.0)
        return log

    def image_targets(self, ctx: MethodContext) -> tuple[list[np.ndarray], np.ndarray]:
        """The targets of every training image at full size (and each point's area),
        from the features the training targets come from (the teacher's with one)."""
        import torch

        if ctx.predict_features is None:
            raise ValueError("gsacp: the context has no predict_features (built outside the engine?)")
        model = self.teacher.module if self.teacher is not None else None
        cfg, labels, areas = self.target_config(), [], []
        for start in range(0, len(ctx.samples), _RECORD_CHUNK):
            chunk = range(start, min(start + _RECORD_CHUNK, len(ctx.samples)))
            for i, (_, features) in zip(chunk, ctx.predict_features(chunk, model=model)):
                sample = ctx.samples[i]
                points = torch.from_numpy(point_map(ctx.points(i), sample.shape))[None, None]
                image = torch.from_numpy(sample.image.astype(np.float32))[None, None]
                made = targets_lib.affinity_targets(torch.from_numpy(features)[None], image, points, cfg)
                labels.append(made.target[0, 0].numpy().astype(np.float32))
                areas.extend(made.area.tolist())
        return labels, np.asarray(areas, dtype=np.float64)

    # resume --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"teacher_steps": self.teacher.steps if self.teacher is not None else 0}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.teacher is not None:
            self.teacher.steps = int(state.get("teacher_steps", 0))
