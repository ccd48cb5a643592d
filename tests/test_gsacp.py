"""GSACP on the engine contract: where its targets come from, the teacher, the switches,
the record's targets, and resume (``tests/test_gsacp_core.py`` covers the core on
hand-made batches)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from benchmark.build import Built, build, to_device
from benchmark.cells import Cell, parse_spec
from benchmark.contract import TrainStep
from benchmark.data.points import point_map
from benchmark.engine import RunOptions, run_cell
from benchmark.errors import ConfigError
from benchmark.resolve import resolve
from benchmark.store import Store
from methods import _affinity_losses, _affinity_targets, gsacp
from methods._affinity_targets import affinity_targets

SMALL = (("epochs", 2), ("max_train_images", 8), ("max_test_images", 4), ("checkpoint_every", 1), ("eval_every", 1))


def cell(spec: str, overrides: tuple = SMALL) -> Cell:
    name, opts = parse_spec(spec)
    return Cell("DNANet", name, "synthetic", "centroid", 0, "smoke", tuple(sorted(opts.items())), overrides)


def built(spec: str, tmp_path: Path, cache: Path, overrides: tuple = SMALL) -> Built:
    b = build(resolve(cell(spec, overrides)), tmp_path, cache_dir=cache)
    b.rc.method.setup(b.ctx)
    return b


def step_with_points(b: Built) -> TrainStep:
    """A training step on the first batch that holds at least two points."""
    for batch in b.training.loader(0):
        if batch["points"].sum() >= 2:
            return TrainStep(b.model, to_device(batch, b.device), b.optimizer, b.optimizers, b.ctx.parts, b.ctx, 0, 0)
    raise AssertionError("no batch with points")


def perturb(module: torch.nn.Module, seed: int = 1, scale: float = 0.5) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))


# options ----------------------------------------------------------------------------------
def test_switch_names_match_the_core() -> None:
    assert gsacp.SUPPORTS == _affinity_targets.SUPPORTS
    assert gsacp.MASK_LOSSES == tuple(_affinity_losses.MASK_LOSSES)


@pytest.mark.parametrize("spec, word", [("teacher=mean", "teacher"), ("support=big", "support"), ("momentum=1.0", "momentum")])
def test_bad_options_are_refused_by_name(spec: str, word: str) -> None:
    _, opts = parse_spec(f"gsacp[{spec}]")
    with pytest.raises(ConfigError, match=word):
        gsacp.GSACP(**opts)


def test_switches_parse_as_the_ablation_suite_writes_them() -> None:
    _, opts = parse_spec("gsacp[teacher=none,contrastive=off,support=fixed,gate=off]")
    o = gsacp.GSACP(**opts).options
    assert (o["teacher"], o["contrastive"], o["support"], o["gate"]) == ("none", False, "fixed", False)


# where the targets come from ----------------------------------------------------------------
def test_with_the_teacher_on_targets_come_from_the_teachers_features(tmp_path: Path, shared_cache: Path) -> None:
    b = built("gsacp", tmp_path, shared_cache)
    method, step = b.rc.method, step_with_points(b)
    perturb(method.teacher.module)  # the teacher now differs from the student
    x, points, cfg = step.batch["image"], step.batch["points"], method.target_config()
    student = b.model(x).features
    from_teacher = affinity_targets(method.teacher.module(x).features, x, points, cfg).target
    from_student = affinity_targets(student, x, points, cfg).target
    assert not torch.equal(from_teacher, from_student)  # the check below can tell them apart
    assert torch.equal(method.batch_targets(step, student).target, from_teacher)
    assert torch.equal(method.batch_targets(step, torch.randn_like(student)).target, from_teacher)  # student's ignored


def test_without_a_teacher_changing_the_features_changes_the_targets(tmp_path: Path, shared_cache: Path) -> None:
    b = built("gsacp[teacher=none]", tmp_path, shared_cache)
    method, step = b.rc.method, step_with_points(b)
    assert method.teacher is None and b.parts == {}
    x, points = step.batch["image"], step.batch["points"]
    student = b.model(x).features
    own = method.batch_targets(step, student)
    assert torch.equal(own.target, affinity_targets(student, x, points, method.target_config()).target)
    other = method.batch_targets(step, torch.randn_like(student))
    assert not torch.equal(own.target, other.target)


# the teacher --------------------------------------------------------------------------------
def test_the_teacher_follows_the_student_after_a_step_and_gets_no_gradient(tmp_path: Path, shared_cache: Path) -> None:
    b = built("gsacp[momentum=0.9]", tmp_path, shared_cache)
    method, step = b.rc.method, step_with_points(b)
    teacher = method.teacher.module
    assert b.parts["teacher"].module is teacher and not b.parts["teacher"].trainable
    before = {n: p.detach().clone() for n, p in teacher.named_parameters()}
    out = method.train_step(step)
    assert set(out.parts) == {"mask", "point_focal", "contrastive"}
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    student = dict(b.model.named_parameters())
    assert any(not torch.equal(p, student[n]) for n, p in teacher.named_parameters())
    for n, p in teacher.named_parameters():  # t <- 0.9 t + 0.1 s
        torch.testing.assert_close(p, 0.9 * before[n] + 0.1 * student[n].detach())
    assert method.teacher.steps == 1


# each switch changes what is computed -------------------------------------------------------
def _variant(spec: str, b: Built, teacher: object = None) -> gsacp.GSACP:
    """The method of ``spec`` on ``b``'s detector; with ``teacher``, that one (the same
    features, so only the switch differs)."""
    _, opts = parse_spec(spec)
    method = gsacp.GSACP(**opts)
    method.build_parts(b.ctx)
    if teacher is not None:
        method.teacher = teacher
    return method


def test_each_switch_changes_the_computation(tmp_path: Path, shared_cache: Path) -> None:
    b = built("gsacp[teacher=none]", tmp_path, shared_cache)
    step = step_with_points(b)
    full = _variant("gsacp", b)
    perturb(full.teacher.module, scale=0.2)  # as the student would be after training: no longer its teacher's copy
    total, parts, targets = full.forward_loss(step)
    own = _variant("gsacp[teacher=none]", b).forward_loss(step)[2]
    assert not torch.equal(own.target, targets.target)
    total_off, parts_off, _ = _variant("gsacp[contrastive=off]", b, full.teacher).forward_loss(step)
    assert "contrastive" in parts and "contrastive" not in parts_off
    rounding = 4 * torch.finfo(total.dtype).eps * float(total.detach().abs())  # float32 sums of a total far above the part
    torch.testing.assert_close(total - total_off, parts["contrastive"], rtol=0, atol=rounding + 1e-7)
    assert float(parts["contrastive"].detach()) > 100 * rounding  # the part is not lost in that rounding
    fixed = _variant("gsacp[support=fixed]", b, full.teacher).forward_loss(step)[2]
    assert set(fixed.radius.tolist()) == {5} and not torch.equal(fixed.radius, targets.radius)
    open_ = _variant("gsacp[gate=off]", b, full.teacher).forward_loss(step)[2]
    assert bool((targets.target <= open_.target).all()) and open_.target.sum() > targets.target.sum()


# the record ---------------------------------------------------------------------------------
def test_targets_of_the_training_images_are_scored_at_evaluated_epochs_only(tmp_path: Path, shared_cache: Path) -> None:
    # the point term's background negatives off: after 2 smoke epochs they leave the tiny detector's targets at the
    # points alone, and this test needs targets that differ from the points to see them scored
    b = built("gsacp[focal_background=off]", tmp_path, shared_cache,
              (("epochs", 3), ("max_train_images", 8), ("max_test_images", 4), ("eval_every", 2)))
    method, ctx = b.rc.method, b.ctx
    points = [point_map(ctx.points(i), s.shape) for i, s in enumerate(ctx.samples)]
    method.epoch_plan(0, ctx)
    assert "labels_changed" not in method.end_epoch(0, ctx)  # epoch 1 of 3, eval every 2
    log = method.end_epoch(1, ctx)
    assert log["labels_changed"] and log["image_target_area"] >= 1.0
    labels, _ = method.image_targets(ctx)
    for label, pts, made in zip(ctx.labels, points, labels):
        assert (label[pts > 0] == 1).all()  # every point is in its own target
        assert (made == label).all()
    assert sum(int((l > 0).sum()) for l in ctx.labels) > sum(int(p.sum()) for p in points)
    method.epoch_plan(2, ctx)  # the loader's crops read the point maps again
    assert all((l == p).all() for l, p in zip(ctx.labels, points))


def test_record_targets_use_the_teachers_features(tmp_path: Path, shared_cache: Path) -> None:
    b = built("gsacp", tmp_path, shared_cache)
    method, ctx = b.rc.method, b.ctx
    before, _ = method.image_targets(ctx)
    perturb(b.model)  # the student alone changes: the record's targets do not
    assert all((a == c).all() for a, c in zip(before, method.image_targets(ctx)[0]))
    perturb(method.teacher.module)
    assert any((a != c).any() for a, c in zip(before, method.image_targets(ctx)[0]))


# resume -------------------------------------------------------------------------------------
class Interrupt(BaseException):
    """Stands for a kill: not an Exception, so run_cell does not record it."""


@pytest.mark.slow
def test_a_resumed_run_equals_an_uninterrupted_one_teacher_included(tmp_path: Path, shared_cache: Path) -> None:
    options = RunOptions(cache_dir=shared_cache, progress=False, keep_checkpoint=True, threads=1)
    reference = run_cell(cell("gsacp"), Store(tmp_path / "ref", "t"), options)
    store = Store(tmp_path / "cut", "t")

    def kill_after_first(entry: dict) -> None:
        if entry["epoch"] == 1:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_cell(cell("gsacp"), store, options, on_epoch=kill_after_first)
    resumed = run_cell(cell("gsacp"), store, options)
    assert resumed["timing"]["resumed_from_epoch"] == 1
    assert resumed["metrics"] == reference["metrics"]
    assert resumed["label_quality"] == reference["label_quality"]
    keep = ("loss", "loss_parts", "method", "label_iou")
    assert [{k: h.get(k) for k in keep} for h in resumed["history"]] == [{k: h.get(k) for k in keep} for h in reference["history"]]
    teachers = [torch.load(next((tmp_path / d).rglob("*.pt")), weights_only=False)["parts"]["teacher"] for d in ("ref", "cut")]
    for k, v in teachers[0].items():
        assert torch.equal(v, teachers[1][k]), k


def test_the_default_point_term_holds_down_false_alarms_outside_every_support() -> None:
    """Pixels outside every support are background: the default point term (LESPS's focal on
    the point map) makes a confident false alarm there cost, and leaves the supports' other
    pixels to the targets; with focal_background=off only the points count (the old term,
    under which the detector fired everywhere: quick, seed 0, Fa 7312e-6 at epoch 10)."""
    from types import SimpleNamespace

    import numpy as np

    h = w = 32
    points = torch.from_numpy(point_map(np.array([[10, 10]]), (h, w)))[None, None]
    features = torch.zeros(1, 3, h, w)
    features[0, 0, 8:13, 8:13] = 1.0
    features[0, 2] = 1.0 - features[0, 0]
    targets = affinity_targets(features, torch.zeros(1, 1, h, w), points, _affinity_targets.TargetConfig(gate=False, support="fixed", radius=4))
    ctx = SimpleNamespace(profile=SimpleNamespace(deep_supervision="mean"))
    logits = torch.full((1, 1, h, w), -4.0)
    alarm, inside = logits.clone(), logits.clone()
    alarm[0, 0, 25:28, 25:28] = 4.0  # far outside the support
    inside[0, 0, 12, 12] = 4.0  # in the support, off the point
    for spec, pushed in (("gsacp", True), ("gsacp[focal_background=off]", False)):
        cfg = gsacp.GSACP(**parse_spec(spec)[1]).loss_config(ctx)
        term = lambda x: float(_affinity_losses.gsacp_loss([x], None, targets, points, cfg)[1]["point_focal"])  # noqa: E731
        assert term(inside) == pytest.approx(term(logits), abs=1e-6), spec
        assert (term(alarm) > term(logits) + 1.0) is pushed, spec
