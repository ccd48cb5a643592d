"""Learnable distance as a method of the engine: options, the two stages and their
losses, relabelling from features, the switches, and a run that trains the branch,
counts it apart and resumes exactly (the core's own tests: test_learnable_distance.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.build import build
from benchmark.cells import Cell, parse_spec
from benchmark.data.split import Sample
from benchmark.engine import RunOptions, run_cell
from benchmark.errors import ConfigError
from benchmark.profiles import get_profile
from benchmark.resolve import resolve
from benchmark.store import Store
from detectors.base import DetectorOutput, build_detector
from methods.base import MethodContext
from methods._distance_rules import queries_from_point_maps
from methods.learnable_distance import LearnableDistance, full_size
from tests.test_learnable_distance import _train_branch, disc_features, disc_truth


def method(spec: str = "learnable_distance") -> LearnableDistance:
    _, options = parse_spec(spec)
    return LearnableDistance(**options)


def sample(points: list[tuple[int, int]], shape: tuple[int, int] = (32, 32)) -> Sample:
    pts = np.array(points, np.int32).reshape(-1, 2)
    return Sample("s", "", np.zeros(shape, np.uint8), None, pts, pts)


def context(samples: list[Sample], features: list[np.ndarray] | None = None, epochs: int = 20, channels: int = 2) -> MethodContext:
    """A context whose ``predict_features`` serves the given feature maps."""
    ctx = MethodContext(samples, "centroid", get_profile("quick").with_overrides({"epochs": epochs}),
                        [np.zeros(s.shape, np.float32) for s in samples], np.random.default_rng(0), Path("."),
                        lambda idx: [], feature_channels=channels,
                        model=torch.nn.Conv2d(1, 1, 1))  # a detector stand-in: the warm-up snapshot copies it
    ctx.predict_features = lambda idx: [(np.zeros(samples[i].shape, np.float32), features[i]) for i in idx]  # type: ignore[index]
    return ctx


# options and schedule -------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["learnable_distance[distance=manhattan]", "learnable_distance[rounds=4]",
                                  "learnable_distance[warmup=0]", "learnable_distance[refresh=0]",
                                  "learnable_distance[stage2_features=live]"])  # restart=on needs the frozen warm-up features
def test_bad_options_are_config_errors(spec: str) -> None:
    with pytest.raises(ConfigError, match="learnable_distance"):
        method(spec)


def test_a_warmup_that_leaves_no_epoch_is_refused_before_training() -> None:
    with pytest.raises(ConfigError, match="warmup=5"):
        method().setup(context([sample([(5, 5)])], epochs=5))
    method("learnable_distance[distance=euclidean,warmup=0]")  # hand-crafted: nothing to warm up


def test_relabelling_follows_the_warmup_and_the_refresh_period() -> None:
    def after(m: LearnableDistance) -> list[int]:
        return [e + 1 for e in range(20) if m.refresh_due(e, 20)]

    assert after(method()) == [5, 10, 15]  # never after the last epoch
    assert after(method("learnable_distance[warmup=3,refresh=4]")) == [3, 7, 11, 15, 19]
    assert after(method("learnable_distance[distance=feature-cosine,refresh=6]")) == [6, 12, 18]


# the two stages' losses -----------------------------------------------------------------
def _out_and_batch(seed: int = 0) -> tuple[DetectorOutput, dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, 1, 16, 16, generator=g, requires_grad=True)
    features = torch.randn(2, 3, 16, 16, generator=g, requires_grad=True)
    points = torch.zeros(2, 1, 16, 16)
    points[0, 0, 4, 4] = points[0, 0, 10, 11] = points[1, 0, 7, 7] = 1.0
    return DetectorOutput(logits, [], features), {"label": points.clone(), "points": points}


def test_stage_one_trains_the_branch_alone_and_stage_two_adds_the_detector() -> None:
    # live stage-2 features: the loss's composition is the point here (the frozen snapshot has its own tests below)
    m = method("learnable_distance[warmup=2,stage2_features=live,restart=off]")
    torch.manual_seed(0)
    m.build_parts(context([], channels=3))
    ctx = context([], channels=3)
    out, batch = _out_and_batch()
    ctx.epoch = 1  # the warm-up's last epoch
    total, parts = m.loss(out, batch, ctx)
    assert "detector" not in parts and torch.equal(total.detach(), parts["distance"])
    total.backward()
    assert out.logits.grad is None and out.features.grad.abs().sum() > 0  # end to end into the features only
    ctx.epoch = 2
    total, parts = m.loss(out, batch, ctx)
    assert float(total.detach()) == pytest.approx(float(parts["detector"] + parts["distance"]))
    plain = LearnableDistance.__mro__[1].loss(m, out, batch, ctx)
    assert float(parts["detector"]) == pytest.approx(float(plain))  # the profile's loss on the labels


def test_hand_crafted_distances_have_no_part_and_supervise_the_detector_from_the_start() -> None:
    m = method("learnable_distance[distance=feature-cosine]")
    assert m.build_parts(context([], channels=3)) == {} and m.branch is None and m.warmup == 0
    ctx = context([], channels=3)
    total, parts = m.loss(*_out_and_batch(), ctx)
    assert set(parts) == {"detector"} and float(total.detach()) == float(parts["detector"])


# labels from features -------------------------------------------------------------------
def test_relabelling_writes_labels_that_follow_the_features() -> None:
    """The same points with other features give other labels (learned and feature-cosine),
    each close to the disc the features show."""
    shape, point = (32, 32), (15, 16)
    learned = method("learnable_distance[dim=16,rounds=1]")
    learned.branch = _train_branch(learned.config(), steps=80)
    for m in (learned, method("learnable_distance[distance=feature-cosine]")):
        feats = [disc_features(shape, [[(*point, r)]], noise=0.05, seed=7)[0].numpy() for r in (1.5, 4.5)]
        ctx = context([sample([point]), sample([point])], feats)
        m.relabel(ctx)
        small, large = (label > 0.5 for label in ctx.labels)
        assert small.sum() < large.sum(), m.options["distance"]
        for found, r in ((small, 1.5), (large, 4.5)):
            truth = disc_truth(shape, [(*point, r)])
            assert (found & truth).sum() / (found | truth).sum() > 0.9, (m.options["distance"], r)


def test_euclidean_setup_labels_discs_split_by_the_nearest_point() -> None:
    points = [(6, 6), (6, 10), (20, 24)]
    ctx = context([sample(points)])
    m = method("learnable_distance[distance=euclidean,bg_radius=8.0]")
    m.setup(ctx)  # no features asked for: the labels exist before any training
    rows, cols = np.mgrid[0:32, 0:32]
    dist = np.stack([np.hypot(rows - r, cols - c) for r, c in points])
    np.testing.assert_array_equal(ctx.labels[0], (dist.min(0) < 4.0).astype(np.float32))
    assert m.end_epoch(9, ctx) == {"stage": 2}  # never relabelled: the labels cannot change


def test_strided_features_are_brought_to_the_points_size() -> None:
    coarse = torch.arange(2 * 3 * 3, dtype=torch.float32).view(1, 2, 3, 3)
    fine = full_size(coarse, (5, 6))  # stride 2, cropped
    assert fine.shape == (1, 2, 5, 6)
    assert torch.equal(fine[0, :, 4, 5], coarse[0, :, 2, 2]) and torch.equal(fine[0, :, 1, 1], coarse[0, :, 0, 0])


# switches -------------------------------------------------------------------------------
SWITCHES = ["learnable_distance", "learnable_distance[rounds=0]", "learnable_distance[rounds=1]",
            "learnable_distance[rounds=3]", "learnable_distance[aggregation=off]", "learnable_distance[enhancement=off]"]


def test_each_switch_changes_the_branch_computation() -> None:
    out, batch = _out_and_batch()
    finals, counts = {}, {}
    for spec in SWITCHES:
        m = method(spec)
        torch.manual_seed(0)
        part = m.build_parts(context([], channels=3))["distance_branch"]
        assert part.optimizer == "adam" and not part.at_test  # its own optimizer; never at test time
        with torch.no_grad():
            finals[spec] = part.module(out.features, queries_from_point_maps(batch["points"])).distances[-1]
        counts[spec] = sum(p.numel() for p in part.module.parameters())
    for i, a in enumerate(SWITCHES):
        for b in SWITCHES[i + 1 :]:
            assert not torch.allclose(finals[a], finals[b]), (a, b)
    zero = method("learnable_distance[rounds=0]")
    zero.build_parts(context([], channels=3))
    assert zero.branch.enhancer is None and zero.branch.aggregate_norm is None
    assert counts["learnable_distance[rounds=0]"] < counts["learnable_distance[enhancement=off]"] < counts["learnable_distance"]


# through the engine ---------------------------------------------------------------------
SMALL = (("epochs", 3), ("max_train_images", 8), ("max_test_images", 4), ("checkpoint_every", 1), ("eval_every", 1))


def cell(spec: str) -> Cell:
    name, opts = parse_spec(spec)
    return Cell("DNANet", name, "synthetic", "centroid", 0, "smoke", tuple(sorted(opts.items())), SMALL)


class Interrupt(BaseException):
    """Stands for a kill (not an Exception, so run_cell does not record it)."""


def _saved(store: Store, record: dict) -> dict:
    return torch.load(store.work_dir(record["key"]) / "checkpoint.pt", weights_only=False)


@pytest.mark.slow
def test_a_run_trains_the_branch_apart_and_a_resumed_run_equals_an_uninterrupted_one(tmp_path: Path, shared_cache: Path) -> None:
    spec = "learnable_distance[warmup=1,refresh=1]"
    opts = RunOptions(cache_dir=shared_cache, progress=False, keep_checkpoint=True, threads=1)
    ref_store = Store(tmp_path / "ref", "t")
    reference = run_cell(cell(spec), ref_store, opts)
    assert reference["status"] == "done", reference.get("error")
    # stage 1 trains the branch alone; the labels are remade after epochs 1 and 2 and scored
    assert "detector" not in reference["history"][0]["loss_parts"] and "detector" in reference["history"][1]["loss_parts"]
    assert [q["epoch"] for q in reference["label_quality"]] == [0, 1, 2]
    parts = reference["method"]["parts"]["distance_branch"]
    assert parts["optimizer"] == "adam" and parts["at_test"] is False
    assert reference["detector"]["parameters"] == sum(p.numel() for p in build_detector("DNANet", in_channels=1, width=0.125).parameters())
    saved = _saved(ref_store, reference)
    assert parts["parameters"] == sum(v.numel() for v in saved["parts"]["distance_branch"].values())
    built = build(resolve(cell(spec)), tmp_path / "init", cache_dir=shared_cache)  # the engine's seeding, untrained
    initial = built.parts["distance_branch"].module.state_dict()
    assert all(not torch.equal(initial[k], v) for k, v in saved["parts"]["distance_branch"].items())  # every tensor trained

    cut_store = Store(tmp_path / "cut", "t")

    def kill_after_second(entry: dict) -> None:
        if entry["epoch"] == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_cell(cell(spec), cut_store, opts, on_epoch=kill_after_second)
    halfway = {k: v.clone() for k, v in _saved(cut_store, reference)["parts"]["distance_branch"].items()}
    resumed = run_cell(cell(spec), cut_store, opts)
    assert resumed["timing"]["resumed_from_epoch"] == 2
    assert resumed["metrics"] == reference["metrics"] and resumed["label_quality"] == reference["label_quality"]
    assert [(h["loss"], h["loss_parts"]) for h in resumed["history"]] == [(h["loss"], h["loss_parts"]) for h in reference["history"]]
    final = _saved(cut_store, resumed)
    for k, v in saved["parts"]["distance_branch"].items():
        assert torch.equal(final["parts"]["distance_branch"][k], v), k  # restored, then trained alike
    assert any(not torch.equal(halfway[k], v) for k, v in final["parts"]["distance_branch"].items())  # epoch 3 moved it
    for a, b in zip(final["labels"], saved["labels"]):
        np.testing.assert_array_equal(a, b)
    assert reference["method"]["parts"]["warmup_detector"]["trainable"] is False  # the stage-2 features' detector
    for k, v in saved["parts"]["warmup_detector"].items():
        assert torch.equal(final["parts"]["warmup_detector"][k], v), k  # the snapshot is restored on resume


# stage 2's features ---------------------------------------------------------------------
class _Conv(torch.nn.Module):
    """A stand-in detector: one 1x1 convolution gives both the logits and 3 feature channels."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 4, 1)

    def forward(self, x: torch.Tensor) -> DetectorOutput:
        y = self.conv(x)
        return DetectorOutput(y[:, :1], [], y[:, 1:])


def _live_context(samples: list[Sample], model: torch.nn.Module) -> MethodContext:
    ctx = context(samples, channels=3)
    ctx.model = model

    def predict_features(idx: list[int], model: torch.nn.Module | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
        with torch.no_grad():
            images = [torch.from_numpy(samples[i].image.astype(np.float32))[None, None] for i in idx]
            return [(np.zeros(samples[i].shape, np.float32), (model or ctx.model)(x).features[0].numpy()) for i, x in zip(idx, images)]

    ctx.predict_features = predict_features  # type: ignore[assignment]
    return ctx


def _perturb(model: torch.nn.Module, seed: int) -> None:
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(seed)))


def test_stage_two_labels_come_from_the_detector_frozen_at_the_warmups_end() -> None:
    """The default (stage2_features=warmup): once the warm-up ends, the relabelling and the
    branch's loss read the detector as it was then, so training the detector on the labels
    cannot bend the features the labels come from (the loop that grew the labels)."""
    rng = np.random.default_rng(0)
    samples = [Sample("s", "", rng.integers(0, 255, (32, 32)).astype(np.uint8), None, np.array([[15, 16]], np.int32),
                      np.array([[15, 16]], np.int32))]
    torch.manual_seed(0)
    model = _Conv()
    m = method("learnable_distance[warmup=2,refresh=1,dim=8]")
    ctx = _live_context(samples, model)
    parts = m.build_parts(ctx)
    assert not parts["warmup_detector"].trainable and not parts["warmup_detector"].at_test
    m.setup(ctx)
    ctx.epoch = 1
    m.end_epoch(1, ctx)  # the warm-up's last epoch: the snapshot is taken, then the first labels
    first = [label.copy() for label in ctx.labels]
    image = torch.from_numpy(samples[0].image.astype(np.float32))[None, None]
    before = m.branch_features(model(image), {"image": image}, epoch=2)
    _perturb(model, seed=1)  # stage 2 moves the live detector
    ctx.epoch = 2
    m.end_epoch(2, ctx)
    np.testing.assert_array_equal(ctx.labels[0], first[0])  # the branch did not move: the same labels
    out = model(image)
    torch.testing.assert_close(m.branch_features(out, {"image": image}, epoch=2), before)
    assert not torch.allclose(out.features, before)
    live = method("learnable_distance[warmup=2,refresh=1,dim=8,stage2_features=live,restart=off]")
    torch.manual_seed(0)
    ctx = _live_context(samples, _Conv())
    live.build_parts(ctx)
    live.setup(ctx)
    ctx.epoch = 1
    live.end_epoch(1, ctx)
    first = ctx.labels[0].copy()
    _perturb(ctx.model, seed=1)
    ctx.epoch = 2
    live.end_epoch(2, ctx)
    assert not np.array_equal(ctx.labels[0], first)  # live: the labels follow the moved detector


def test_detached_stage_two_features_carry_no_gradient_from_the_branch() -> None:
    m = method("learnable_distance[warmup=1,stage2_features=detached,restart=off]")
    torch.manual_seed(0)
    m.build_parts(context([], channels=3))
    out, batch = _out_and_batch()
    ctx = context([], channels=3)
    ctx.epoch = 0
    m.loss(out, batch, ctx)[0].backward()
    assert out.features.grad.abs().sum() > 0  # stage 1: end to end
    out, batch = _out_and_batch()
    ctx.epoch = 1
    total, parts = m.loss(out, batch, ctx)
    total.backward()
    assert out.features.grad is None or float(out.features.grad.abs().sum()) == 0.0


@pytest.mark.parametrize("restart", ["on", "off"])
def test_stage_two_restarts_the_detector_from_its_initial_weights(restart: str) -> None:
    """restart=on: after the warm-up's last epoch the detector holds its weights from before
    any step and its optimizer no state (the warm-up's moments); restart=off keeps both."""
    rng = np.random.default_rng(0)
    samples = [Sample("s", "", rng.integers(0, 255, (32, 32)).astype(np.uint8), None, np.array([[15, 16]], np.int32),
                      np.array([[15, 16]], np.int32))]
    torch.manual_seed(0)
    model = _Conv()
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    m = method(f"learnable_distance[warmup=2,refresh=1,dim=8,restart={restart}]")
    ctx = _live_context(samples, model)
    m.build_parts(ctx)
    m.setup(ctx)
    ctx.optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
    image = torch.from_numpy(samples[0].image.astype(np.float32))[None, None]
    model(image).logits.mean().backward()
    ctx.optimizer.step()  # the warm-up moved the detector and filled Adam's moments
    trained = {k: v.clone() for k, v in model.state_dict().items()}
    ctx.epoch = 0
    m.end_epoch(0, ctx)  # not the warm-up's last epoch: nothing restarts
    assert all(torch.equal(model.state_dict()[k], v) for k, v in trained.items())
    ctx.epoch = 1
    m.end_epoch(1, ctx)
    after = model.state_dict()
    snapshot = m.snapshot.state_dict()
    assert all(torch.equal(snapshot[k], v) for k, v in trained.items())  # stage 2's features: the warm-up's, either way
    if restart == "on":
        assert all(torch.equal(after[k], v) for k, v in initial.items())
        assert len(ctx.optimizer.state) == 0
    else:
        assert all(torch.equal(after[k], v) for k, v in trained.items())
        assert len(ctx.optimizer.state) > 0
