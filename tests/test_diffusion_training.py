"""Diffusion's bi-level training on the engine contract: the schedule, the sample weights,
theta's outer step and the label refresh, the switches, no ground truth, resume."""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from benchmark.build import build, to_device
from benchmark.cells import Cell, parse_spec
from benchmark.contract import TrainStep
from benchmark.engine import RunOptions, run_cell
from benchmark.errors import ConfigError, PointbenchError
from benchmark.resolve import resolve
from benchmark.store import Store
from methods import _diffusion_bilevel
from methods._diffusion_bilevel import Schedule
from methods._diffusion_subset import ranked_subset
from methods._diffusion_surrogate import Theta, theta_objective
from methods._diffusion_weights import normalized_weights, sample_features, validation_alignment, WeightMLP
from methods.diffusion import Diffusion
from tests.poison import poisoned_train_masks

# 8 images: 2 validate, 6 train in 3 batches of 2; 4 epochs: outer level from epoch 1 (round(4 / 5)), labels every epoch
SMALL = (("epochs", 4), ("max_train_images", 8), ("max_test_images", 4), ("batch_size", 2), ("checkpoint_every", 1),
         ("eval_every", 4))
PLAIN = "diffusion[size_prior=points]"  # no privileged prior: nothing may read a training mask


def cell(spec: str = PLAIN) -> Cell:
    name, opts = parse_spec(spec)
    return Cell("DNANet", name, "synthetic", "centroid", 0, "smoke", tuple(sorted(opts.items())), SMALL)


def options(cache: Path) -> RunOptions:
    return RunOptions(cache_dir=cache, progress=False, threads=1)


class Interrupt(BaseException):
    """Stands for a kill (not an Exception: run_cell does not record it)."""


class Spy:
    """The method instance of each run and the theta of each label refresh."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.methods: list[Diffusion] = []
        self.refreshes: list[tuple[float, ...]] = []
        build_parts, refreshed = Diffusion.build_parts, Diffusion.refreshed_labels

        def spy_parts(method: Diffusion, ctx):
            self.methods.append(method)
            method.spy_ctx = ctx
            return build_parts(method, ctx)

        def spy_refresh(method: Diffusion, ctx, theta):
            self.refreshes.append(tuple(theta))
            return refreshed(method, ctx, theta)

        monkeypatch.setattr(Diffusion, "build_parts", spy_parts)
        monkeypatch.setattr(Diffusion, "refreshed_labels", spy_refresh)


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path):
    """One full run of the small cell, with its method instance and refreshes."""
    with pytest.MonkeyPatch.context() as mp:
        spy = Spy(mp)
        record = run_cell(cell(), Store(tmp_path_factory.mktemp("plain"), "t"), options(shared_cache))
    assert record["status"] == "done", record.get("error")
    return record, spy


def _methods(record: dict) -> list[dict]:
    return [h["method"] for h in record["history"]]


# schedule and weights ----------------------------------------------------------------------
def test_schedule_is_papers_scaled_by_the_epochs() -> None:
    paper = Schedule.for_epochs(400)
    assert (paper.start, paper.every) == (80, 20)
    assert [e for e in range(400) if paper.refresh(e)] == list(range(80, 400, 20))
    assert not paper.outer(79) and paper.outer(80)
    assert (Schedule.for_epochs(20).start, Schedule.for_epochs(20).every) == (4, 1)
    assert (Schedule.for_epochs(100).start, Schedule.for_epochs(100).every) == (20, 5)


def test_meta_weights_have_mean_one_and_follow_validation_alignment() -> None:
    torch.manual_seed(0)
    logits, labels = torch.randn(6, 1, 16, 16), (torch.rand(6, 1, 16, 16) > 0.9).float()
    features = sample_features(logits, labels, Theta().physics(), torch.zeros(6))
    assert features.shape == (6, 16) and torch.all(features[:, 6:9] == 0)  # no validation batch: no alignment
    mlp = WeightMLP()
    w = normalized_weights(mlp, features)
    assert w.mean().item() == pytest.approx(1.0, abs=1e-5) and w.std() > 0 and w.requires_grad
    # the sample whose residual points where the validation residual points scores highest
    probs = torch.full((3, 1, 4, 4), 0.5)
    labels = torch.stack([torch.zeros(1, 4, 4), torch.ones(1, 4, 4), torch.full((1, 4, 4), 0.5)])
    s = validation_alignment(probs, labels, torch.full((2, 1, 4, 4), 0.9), torch.zeros(2, 1, 4, 4))
    assert int(s.argmax()) == 0 and s.mean().abs() < 1e-5


def test_theta_objective_moves_theta() -> None:
    theta = Theta()
    torch.manual_seed(0)
    probs, masks = torch.rand(2, 1, 32, 32), (torch.rand(2, 1, 32, 32) > 0.95).float()
    theta_objective(theta, probs, masks).backward()
    assert theta.theta.grad is not None and torch.all(theta.theta.grad != 0)


@pytest.mark.slow
def test_weights_are_uniform_before_the_outer_level_then_learned_with_mean_one(plain) -> None:
    record, _ = plain
    logs = _methods(record)
    assert [m["weight_steps"] for m in logs] == [0, 1, 1, 1]  # every 4th iteration from epoch 1 (iterations 3, 7, 11)
    first = logs[0]["weights"]
    assert first["std"] == 0 and first["min"] == first["max"] == 1.0
    for m in logs[1:]:
        assert m["weights"]["std"] > 1e-3 and abs(m["weights"]["worst_batch_mean"] - 1.0) < 1e-5
        assert "val_loss" in m  # the aggregation step ran
    names = set(record["method"]["options"])
    assert {"bilevel", "balance", "online_labels", "aggregation"} <= names


@pytest.mark.slow
def test_theta_steps_and_the_labels_regenerate_at_each_refresh(plain) -> None:
    record, spy = plain
    logs = _methods(record)
    assert logs[0]["theta"] == [0.0] * 4 and "theta_loss" not in logs[0]
    thetas = [tuple(m["theta"]) for m in logs]
    assert all("theta_loss" in m for m in logs[1:]) and len(set(thetas)) == 4  # one step per refresh epoch
    assert spy.refreshes == thetas[1:]  # labels regenerated at each refresh from the new theta
    assert [q["epoch"] for q in record["label_quality"]] == [0, 2, 3, 4]
    method = spy.methods[0]
    learned = logs[-1]["learned_weights"]
    ctx = method.spy_ctx
    assert set(learned) == {ctx.samples[i].name for i in ctx.train_indices}  # never a validation image


def test_refreshed_labels_at_theta_zero_are_the_initial_labels(tmp_path: Path, shared_cache: Path) -> None:
    b = build(resolve(cell("diffusion[size_prior=points,bilevel=off]")), tmp_path, cache_dir=shared_cache)
    b.rc.method.setup(b.ctx)
    initial = [l.copy() for l in b.ctx.labels]
    again = b.rc.method.refreshed_labels(b.ctx, (0.0, 0.0, 0.0, 0.0))
    assert all(np.array_equal(x, y) for x, y in zip(initial, again))
    assert any(not np.array_equal(x, y) for x, y in zip(initial, b.rc.method.refreshed_labels(b.ctx, (3.0, -3.0, 3.0, 3.0))))


# switches ------------------------------------------------------------------------------------
def _step(tmp_path: Path, cache: Path, spec: str, iteration: int = 3, epoch: int = 2):
    """One training step of a built cell past the outer level's start; what it ran."""
    b = build(resolve(cell(spec)), tmp_path, cache_dir=cache)
    b.rc.method.setup(b.ctx)
    before = {n: copy.deepcopy(p.module.state_dict()) for n, p in b.parts.items()}
    forwards = []
    hook = b.model.register_forward_hook(lambda m, i, o: forwards.append(tuple(i[0].shape)))
    batch = to_device(next(iter(b.training.loader(epoch, b.ctx.train_indices))), b.device)
    step = TrainStep(b.model, batch, b.optimizer, b.optimizers, b.ctx.parts, b.ctx, epoch, iteration, b.device)
    out = b.rc.method.train_step(step)
    hook.remove()
    moved = {n: any(not torch.equal(v, p.module.state_dict()[k]) for k, v in before[n].items()) for n, p in b.parts.items()}
    return b, out, forwards, moved


@pytest.mark.slow
def test_each_switch_changes_what_a_step_computes(tmp_path: Path, shared_cache: Path) -> None:
    base = "size_prior=points"
    b, out, forwards, moved = _step(tmp_path / "full", shared_cache, f"diffusion[{base}]")
    trainer = b.rc.method._trainer
    assert set(b.parts) == {"weigher", "theta"} and len(forwards) == 4  # train, validation, then both for the outer step
    assert moved == {"weigher": True, "theta": False} and trainer.log.weight_steps == 1
    assert np.std(trainer.log.weights) > 0

    b, out, forwards, moved = _step(tmp_path / "noagg", shared_cache, f"diffusion[{base},aggregation=off]")
    assert len(forwards) == 3 and moved == {"weigher": True, "theta": False}  # no validation loss in the detector step
    assert not b.rc.method._trainer.log.val_losses

    b, out, forwards, moved = _step(tmp_path / "nobal", shared_cache, f"diffusion[{base},balance=off]")
    assert set(b.parts) == {"theta"} and len(forwards) == 2 and b.rc.method._trainer.log.weights == [1.0, 1.0]

    b, out, forwards, moved = _step(tmp_path / "nolab", shared_cache, f"diffusion[{base},online_labels=off]")
    assert set(b.parts) == {"weigher"} and len(forwards) == 4
    log = b.rc.method.end_epoch(2, b.ctx)  # a refresh epoch: without online labels neither theta nor the labels move
    assert log["weight_steps"] == 1 and not {"theta", "theta_loss", "labels_changed"} & set(log)

    b, out, forwards, moved = _step(tmp_path / "joint", shared_cache, f"diffusion[{base},bilevel=off]")
    assert len(forwards) == 2 and b.rc.method._trainer.log.weight_steps == 0  # no outer step ...
    assert moved == {"weigher": True, "theta": True}  # ... both parts learn in the detector's own step

    b, out, forwards, moved = _step(tmp_path / "early", shared_cache, f"diffusion[{base}]", iteration=1, epoch=0)
    assert len(forwards) == 1 and moved == {"weigher": False, "theta": False} and b.rc.method._trainer.log.weights == [1.0, 1.0]


def test_training_switches_share_the_initial_labels_and_the_prior_does_not() -> None:
    full = Diffusion().label_method().spec
    for switch in ("bilevel=false", "balance=false", "online_labels=false", "aggregation=false", "val_fraction=0.5"):
        assert Diffusion(**parse_spec(f"diffusion[{switch}]")[1]).label_method().spec == full
    assert Diffusion(prior="superpixel").label_method().spec == "diffusion[prior=superpixel]"


# ground truth and resume -------------------------------------------------------------------
@pytest.mark.slow
def test_poisoned_training_masks_change_nothing_the_method_does(plain, tmp_path: Path, shared_cache: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import benchmark.build as buildmod

    reference, _ = plain
    monkeypatch.setattr(buildmod, "load_split", poisoned_train_masks(buildmod.load_split))
    bad = run_cell(cell(), Store(tmp_path, "t"), options(shared_cache))
    assert bad["status"] == "done", bad.get("error")
    assert bad["metrics"] == reference["metrics"]
    assert [(h["loss"], h["method"]) for h in bad["history"]] == [(h["loss"], h["method"]) for h in reference["history"]]
    assert bad["label_quality"] != reference["label_quality"]  # the engine's own score read the poison


@pytest.mark.slow
def test_a_resumed_run_equals_an_uninterrupted_one_outer_state_included(plain, tmp_path: Path, shared_cache: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    reference, reference_spy = plain
    spy = Spy(monkeypatch)
    store = Store(tmp_path, "t")

    def kill_after_second(entry: dict) -> None:
        if entry["epoch"] == 2:  # past the outer level's start: theta, the meta-classifier and the memories have moved
            raise Interrupt

    with pytest.raises(Interrupt):
        run_cell(cell(), store, options(shared_cache), on_epoch=kill_after_second)
    resumed = run_cell(cell(), store, options(shared_cache))
    assert resumed["timing"]["resumed_from_epoch"] == 2
    assert resumed["metrics"] == reference["metrics"]
    assert [(h["loss"], h["method"], h.get("label_iou")) for h in resumed["history"]] == [
        (h["loss"], h["method"], h.get("label_iou")) for h in reference["history"]]
    a, b = reference_spy.methods[0], spy.methods[-1]
    assert a._trainer.state_dict() == b._trainer.state_dict()
    for name in ("weigher", "theta"):
        for k, v in a.spy_ctx.parts[name].state_dict().items():
            assert torch.equal(v, b.spy_ctx.parts[name].state_dict()[k]), (name, k)


# subset ----------------------------------------------------------------------------------------
def test_subset_keeps_the_top_share_by_learned_weight() -> None:
    samples = [SimpleNamespace(name=f"im{i}") for i in range(6)]
    record = {"history": [{"method": {}}, {"method": {"learned_weights": {f"im{i}": w for i, w in
                                                                       zip(range(6), (0.2, 1.9, 0.5, 1.4, 1.0, 1.0))}}}]}
    ctx = SimpleNamespace(samples=samples, train_indices=np.array([0, 1, 2, 3, 5]), find_record=lambda key: record)
    assert ranked_subset(ctx, "k", 40).tolist() == [1, 3]  # 40% of 5 = 2 images
    assert ranked_subset(ctx, "k", 60).tolist() == [1, 3, 5]
    with pytest.raises(PointbenchError, match="no finished record"):
        ranked_subset(SimpleNamespace(**{**ctx.__dict__, "find_record": lambda key: None}), "abc", 30)
    with pytest.raises(ConfigError, match="subset_from"):
        Diffusion(subset=30)
    assert Diffusion(subset=20, subset_from="abc").epoch_plan(0, ctx).indices.tolist() == [1]  # 1 of 5


def test_a_diverged_detector_stops_thetas_step_with_a_clear_error() -> None:
    """NaN predictions (a detector that diverged) must not reach theta's objective, where torch
    only says that BCE's input is out of range; the error names the cause and the fix."""
    from detectors.base import DetectorOutput

    class Diverged(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> DetectorOutput:
            return DetectorOutput(torch.full_like(x[:, :1], float("nan")), [], None)

    trainer = _diffusion_bilevel.BilevelTrainer(_diffusion_bilevel.Switches(), Schedule(0, 1))
    batch = {"image": torch.zeros(2, 1, 8, 8), "label": torch.zeros(2, 1, 8, 8)}
    trainer.val = SimpleNamespace(next=lambda ctx, epoch: batch)
    ctx = SimpleNamespace(model=Diverged(), parts={"theta": Theta()}, device=torch.device("cpu"),
                          profile=SimpleNamespace(amp=False), optimizers={"theta": None})
    with pytest.raises(FloatingPointError, match="not finite at epoch 3.*lower the learning rate"):
        trainer.theta_outer_step(ctx, epoch=2)
