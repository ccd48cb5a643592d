"""The engine-method contract, through three tiny methods of the three shapes the
in-training schemes take: a method-owned trainable head (learnable distance), a replaced
training step with an EMA teacher (GSACP), and per-sample weights (Diffusion's bi-level
weights); plus the validation split and the mask hiding they all rely on."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from benchmark import losses
from benchmark.build import build, to_device
from benchmark.cells import Cell, parse_spec
from benchmark.contract import EpochPlan, Part, StepOutput, TrainStep
from benchmark.engine import RunOptions, run_cell
from benchmark.loop import plan_epoch
from benchmark.profiles import get_profile
from benchmark.registry import METHODS
from benchmark.resolve import resolve
from benchmark.store import Store
from detectors.base import DetectorOutput, build_detector
from methods.base import Method, MethodContext, register_method
from tests.poison import poisoned_train_masks

SMALL = (("epochs", 2), ("max_train_images", 8), ("max_test_images", 4), ("checkpoint_every", 1), ("eval_every", 1))


def cell(spec: str, overrides: tuple = SMALL) -> Cell:
    name, opts = parse_spec(spec)
    return Cell("DNANet", name, "synthetic", "centroid", 0, "smoke", tuple(sorted(opts.items())), overrides)


def options(cache: Path, keep: bool = False) -> RunOptions:
    return RunOptions(cache_dir=cache, progress=False, keep_checkpoint=keep, threads=1)


class Interrupt(BaseException):
    """Stands for a kill: not an Exception, so run_cell does not record it."""


# the three shapes ------------------------------------------------------------------------
if "test_head" not in METHODS.names():

    @register_method
    class HeadMethod(Method):
        """Its own 1x1 head on the decoder features learns the point maps beside the detector."""

        name = "test_head"
        description = "tests only: a method-owned trainable head"
        defaults = {"own_lr": 0.0, "at_test": False}
        last: "HeadMethod | None" = None

        def build_parts(self, ctx: MethodContext) -> dict[str, Part]:
            self.head = nn.Conv2d(ctx.feature_channels, 1, 1)
            self.initial = copy.deepcopy(self.head.state_dict())
            self.calls = 0
            self.head.register_forward_hook(lambda *_: setattr(self, "calls", self.calls + 1))
            type(self).last = self
            lr = float(self.options["own_lr"])
            return {"head": Part(self.head, optimizer="adam" if lr else None, lr=lr or None, at_test=self.options["at_test"])}

        def loss(self, out, batch, ctx):
            detector = super().loss(out, batch, ctx)
            head = losses.soft_iou(self.head(out.features), batch["points"])
            return detector + head, {"detector": detector.detach(), "head": head.detach()}

        def test_model(self, model, parts):
            self.given = dict(parts)
            return model


if "test_ema" not in METHODS.names():

    @register_method
    class EmaTeacher(Method):
        """Replaces the step: the student also matches the teacher's map; after each
        optimizer step the teacher moves toward the student (EMA)."""

        name = "test_ema"
        description = "tests only: an EMA teacher in a replaced training step"
        defaults = {"momentum": 0.5}
        last: "EmaTeacher | None" = None

        def build_parts(self, ctx: MethodContext) -> dict[str, Part]:
            self.teacher = copy.deepcopy(ctx.model)
            type(self).last = self
            return {"teacher": Part(self.teacher, trainable=False)}

        def train_step(self, step: TrainStep) -> StepOutput:
            x = step.batch["image"]
            target = torch.sigmoid(self.teacher(x).logits)  # no torch.no_grad: the engine froze the teacher
            with step.autocast():
                out = step.model(x)
            own = self.loss(out, step.batch, step.ctx)
            agree = losses.soft_iou(out.logits, target)
            total = own + agree
            step.check_finite(total)
            step.zero_grad()
            total.backward()
            step.step_all()
            m = float(self.options["momentum"])
            with torch.no_grad():
                for t, s in zip(self.teacher.parameters(), step.model.parameters()):
                    t.mul_(m).add_(s, alpha=1 - m)
            return StepOutput(total.detach(), {"agree": agree.detach()})


if "test_weighted" not in METHODS.names():

    @register_method
    class Weighted(Method):
        """Weights each training sample by its position in the split (0.5 ... 1.5)."""

        name = "test_weighted"
        description = "tests only: per-sample loss weights from the epoch plan"

        def epoch_plan(self, epoch: int, ctx: MethodContext) -> EpochPlan:
            idx = ctx.train_indices
            return EpochPlan(idx, np.linspace(0.5, 1.5, len(idx)))


if "test_val" not in METHODS.names():

    @register_method
    class Held(Method):
        """Holds out a validation split and remembers which samples it trained on."""

        name = "test_val"
        description = "tests only: a validation split"
        defaults = {"val": 0.25}
        last: "Held | None" = None

        def validation_fraction(self) -> float:
            return float(self.options["val"])

        def setup(self, ctx: MethodContext) -> None:
            assert all(s.mask is None for s in ctx.samples), "a non-privileged method saw training masks"
            self.ctx, self.seen = ctx, set()
            type(self).last = self
            super().setup(ctx)

        def train_step(self, step: TrainStep) -> StepOutput:
            self.seen.update(int(i) for i in step.batch["index"])
            val = next(step.ctx.batches(step.ctx.validation_indices, step.epoch))
            self.val_seen = {int(i) for i in val["index"]}
            return super().train_step(step)


# own trainable head ----------------------------------------------------------------------
def test_head_trains_is_counted_apart_and_stays_out_of_test_inference(tmp_path: Path, shared_cache: Path) -> None:
    record = run_cell(cell("test_head"), Store(tmp_path, "t"), options(shared_cache, keep=True))
    assert record["status"] == "done", record.get("error")
    method = METHODS.get("test_head").last
    changed = [not torch.equal(method.initial[k], v) for k, v in method.head.state_dict().items()]
    assert all(changed)  # weight and bias both moved
    steps = sum(h["train_images"] for h in record["history"]) // 4  # batch 4
    assert method.calls == steps  # trained every step, never called by evaluation or ctx.predict
    assert method.given == {}  # test_model is given no part that is not at_test
    features = 2  # DNANet's 16 feature channels at width 1/8
    assert record["method"]["parts"]["head"] == {"parameters": features + 1, "trainable": True,
                                                 "optimizer": "detector's", "at_test": False}
    plain = sum(p.numel() for p in build_detector("DNANet", in_channels=1, width=0.125).parameters())
    assert record["detector"]["parameters"] == plain
    parts = record["history"][0]["loss_parts"]
    assert set(parts) == {"detector", "head"}
    assert record["history"][0]["loss"] == pytest.approx(parts["detector"] + parts["head"], rel=1e-5)
    saved = torch.load(Store(tmp_path, "t").work_dir(record["key"]) / "checkpoint.pt", weights_only=False)
    for k, v in method.head.state_dict().items():
        assert torch.equal(saved["parts"]["head"][k], v)


def test_parts_join_the_detector_optimizer_or_get_their_own(tmp_path: Path, shared_cache: Path) -> None:
    joined = build(resolve(cell("test_head")), tmp_path, cache_dir=shared_cache)
    head = METHODS.get("test_head").last.head
    assert len(joined.optimizer.param_groups) == 2 and joined.optimizers == {}
    assert joined.optimizer.param_groups[1]["params"][0] is head.weight
    assert joined.optimizer.param_groups[1]["lr"] == joined.profile.lr
    own = build(resolve(cell("test_head[own_lr=0.01,at_test=true]")), tmp_path, cache_dir=shared_cache)
    head = METHODS.get("test_head").last.head
    assert len(own.optimizer.param_groups) == 1 and set(own.optimizers) == {"head"}
    assert own.optimizers["head"].param_groups[0]["lr"] == 0.01
    assert all(p is not head.weight for p in own.optimizer.param_groups[0]["params"])
    own.test_model()
    assert set(METHODS.get("test_head").last.given) == {"head"}  # at_test: the method is given it


# EMA teacher in a replaced step ------------------------------------------------------------
def test_ema_teacher_moves_after_a_step_and_never_gets_a_gradient(tmp_path: Path, shared_cache: Path) -> None:
    b = build(resolve(cell("test_ema")), tmp_path, cache_dir=shared_cache)
    method = b.rc.method
    method.setup(b.ctx)
    teacher, student = method.teacher, b.model
    before = [p.detach().clone() for p in teacher.parameters()]
    assert all(torch.equal(t, s) for t, s in zip(teacher.parameters(), student.parameters()))  # a copy at first
    in_optimizer = {id(p) for g in b.optimizer.param_groups for p in g["params"]}
    assert not any(id(p) in in_optimizer for p in teacher.parameters())
    batch = to_device(next(iter(b.training.loader(0))), b.device)
    out = method.train_step(TrainStep(student, batch, b.optimizer, b.optimizers, b.ctx.parts, b.ctx, 0, 0))
    assert set(out.parts) == {"agree"}
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    moved = [not torch.equal(p, q) for p, q in zip(teacher.parameters(), before)]
    differs = [not torch.equal(t, s) for t, s in zip(teacher.parameters(), student.parameters())]
    assert any(moved) and any(differs)
    for t, s, t0 in zip(teacher.parameters(), student.parameters(), before):  # exactly halfway (momentum 0.5)
        torch.testing.assert_close(t, 0.5 * t0 + 0.5 * s)


# resume: method parts included --------------------------------------------------------------
def _part_state(name: str) -> dict[str, torch.Tensor]:
    method = METHODS.get(name).last
    module = method.head if name == "test_head" else method.teacher
    return {k: v.clone() for k, v in module.state_dict().items()}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["test_head[own_lr=0.01]", "test_ema"])
def test_a_resumed_run_equals_an_uninterrupted_one_parts_included(name: str, tmp_path: Path, shared_cache: Path) -> None:
    base = name.split("[")[0]
    reference = run_cell(cell(name), Store(tmp_path / "ref", "t"), options(shared_cache))
    reference_part = _part_state(base)
    store = Store(tmp_path / "cut", "t")

    def kill_after_first(entry: dict) -> None:
        if entry["epoch"] == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_cell(cell(name), store, options(shared_cache), on_epoch=kill_after_first)
    resumed = run_cell(cell(name), store, options(shared_cache))
    assert resumed["timing"]["resumed_from_epoch"] == 1
    assert resumed["metrics"] == reference["metrics"]
    assert [(h["loss"], h.get("loss_parts")) for h in resumed["history"]] == [
        (h["loss"], h.get("loss_parts")) for h in reference["history"]
    ]
    for k, v in _part_state(base).items():
        assert torch.equal(v, reference_part[k]), k


# per-sample weights ------------------------------------------------------------------------
def _ctx(tmp_path: Path, rule: str = "mean") -> MethodContext:
    profile = get_profile("smoke").with_overrides({"deep_supervision": rule})
    return MethodContext([], "centroid", profile, [], np.random.default_rng(0), tmp_path, lambda i: [])


def test_weights_scale_each_images_loss_by_the_expected_amount(tmp_path: Path) -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 1, 8, 8, generator=g)
    side = torch.randn(3, 1, 8, 8, generator=g)
    label = (torch.rand(3, 1, 8, 8, generator=g) > 0.8).float()
    out = DetectorOutput(logits, (side,), None)
    method, ctx = METHODS.get("test_weighted")(), _ctx(tmp_path)
    each = losses.soft_iou_per_image(logits, label)
    each_side = losses.soft_iou_per_image(side, label)
    for i in range(3):  # the per-image loss is SoftIoU of that image alone
        torch.testing.assert_close(each[i], losses.soft_iou(logits[i : i + 1], label[i : i + 1]))
    ones = method.loss(out, {"label": label, "weight": torch.ones(3)}, ctx)
    torch.testing.assert_close(ones, (each.mean() + each_side.mean()) / 2)
    heavier = method.loss(out, {"label": label, "weight": torch.tensor([3.0, 1.0, 1.0])}, ctx)
    torch.testing.assert_close(heavier - ones, (2 * each[0] / 3 + 2 * each_side[0] / 3) / 2)  # +2 x image 0, / B, mean rule
    dropped = method.loss(out, {"label": label, "weight": torch.tensor([0.0, 1.0, 1.0])}, ctx)
    torch.testing.assert_close(dropped, ((each[1] + each[2]) / 3 + (each_side[1] + each_side[2]) / 3) / 2)
    unweighted = method.loss(out, {"label": label}, ctx)  # no weights: today's batch-global SoftIoU
    torch.testing.assert_close(unweighted, (losses.soft_iou(logits, label) + losses.soft_iou(side, label)) / 2)


def test_plan_weights_reach_the_batch_with_their_samples(tmp_path: Path, shared_cache: Path) -> None:
    b = build(resolve(cell("test_weighted")), tmp_path, cache_dir=shared_cache)
    b.rc.method.setup(b.ctx)
    indices, weights = plan_epoch(b, 0)
    expected = dict(zip(indices.tolist(), weights.tolist()))
    seen = {}
    for batch in b.training.loader(0, indices, weights):
        seen.update(zip(batch["index"].tolist(), batch["weight"].tolist()))
    assert len(seen) == 8 and all(seen[i] == pytest.approx(expected[i]) for i in seen)
    assert len(set(seen.values())) == 8  # really different weights


def test_epoch_plans_are_checked(tmp_path: Path, shared_cache: Path) -> None:
    b = build(resolve(cell("test_val")), tmp_path, cache_dir=shared_cache)
    val = b.ctx.validation_indices
    b.rc.method.epoch_plan = lambda epoch, ctx: EpochPlan(np.arange(8))
    with pytest.raises(ValueError, match="validation images"):
        plan_epoch(b, 0)
    b.rc.method.epoch_plan = lambda epoch, ctx: EpochPlan(None, np.ones(3))
    with pytest.raises(ValueError, match="3 sample weights"):
        plan_epoch(b, 0)
    b.rc.method.epoch_plan = lambda epoch, ctx: EpochPlan()
    indices, weights = plan_epoch(b, 0)
    assert weights is None and not set(indices) & set(val) and len(indices) + len(val) == 8


# validation split, points only -----------------------------------------------------------
def test_validation_split_never_trains_and_no_mask_reaches_the_method(
    tmp_path: Path, shared_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = run_cell(cell("test_val"), Store(tmp_path / "plain", "t"), options(shared_cache))
    assert plain["status"] == "done", plain.get("error")
    method = METHODS.get("test_val").last
    val, train = set(method.ctx.validation_indices.tolist()), set(method.ctx.train_indices.tolist())
    assert len(val) == 2 and plain["data"]["validation_images"] == 2 and not val & train
    assert method.seen <= train and method.val_seen <= val and method.val_seen

    import benchmark.build as buildmod

    monkeypatch.setattr(buildmod, "load_split", poisoned_train_masks(buildmod.load_split))
    bad = run_cell(cell("test_val"), Store(tmp_path / "poisoned", "t"), options(shared_cache))
    assert bad["status"] == "done", bad.get("error")
    assert bad["metrics"] == plain["metrics"]
    assert [h["loss"] for h in bad["history"]] == [h["loss"] for h in plain["history"]]
    assert bad["label_quality"] != plain["label_quality"]  # the engine's own score did read the poison
