"""Learnable distance, the core: queries, the distance branch, its point supervision,
the assignment rule and the hand-crafted baselines, on hand-made images."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from methods._distance_branch import BranchConfig, DistanceBranch, branch_loss, pseudo_labels
from methods._distance_rules import (
    Queries,
    assign,
    background_pixels,
    distance_loss,
    queries_from_point_maps,
    support_pixels,
)


def point_maps(shape: tuple[int, int], *images: list[tuple[int, int]]) -> torch.Tensor:
    maps = torch.zeros(len(images), 1, *shape)
    for b, points in enumerate(images):
        for r, c in points:
            maps[b, 0, r, c] = 1.0
    return maps


def disc_features(shape: tuple[int, int], discs: list[list[tuple[int, int, float]]], noise: float = 0.0, seed: int = 0) -> torch.Tensor:
    """Two-channel features: (inside a disc, outside every disc), plus optional noise."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    out = np.zeros((len(discs), 2, *shape), np.float32)
    for b, image in enumerate(discs):
        inside = np.zeros(shape, bool)
        for r, c, radius in image:
            inside |= (rows - r) ** 2 + (cols - c) ** 2 <= radius**2
        out[b, 0], out[b, 1] = inside, ~inside
    out += noise * np.random.default_rng(seed).normal(size=out.shape).astype(np.float32)
    return torch.from_numpy(out)


def disc_truth(shape: tuple[int, int], image: list[tuple[int, int, float]]) -> np.ndarray:
    return disc_features(shape, [image])[0, 0].numpy() > 0.5


def test_queries_are_padded_per_image_in_raster_order():
    q = queries_from_point_maps(point_maps((8, 8), [(5, 1), (2, 6)], [], [(0, 0)]))
    assert q.count == 2 and q.shape == (8, 8)
    assert q.valid.tolist() == [[True, True], [False, False], [True, False]]
    assert q.points[0].tolist() == [[2, 6], [5, 1]]  # raster order, not input order
    assert q.flat[0].tolist() == [2 * 8 + 6, 5 * 8 + 1]


def test_background_rule_is_support_minus_a_disc_around_every_point():
    q = queries_from_point_maps(point_maps((20, 20), [(5, 5), (5, 9)]))
    px = support_pixels(q, 4)
    bg = px.scatter(background_pixels(q, px, radius=4, bg_radius=3.0), False).view(20, 20).numpy()
    rows, cols = np.mgrid[0:20, 0:20]
    near = np.minimum(np.hypot(rows - 5, cols - 5), np.hypot(rows - 5, cols - 9))
    inside = (np.abs(rows - 5) <= 4) & ((np.abs(cols - 5) <= 4) | (np.abs(cols - 9) <= 4))
    np.testing.assert_array_equal(bg, inside & (near > 3.0))


def test_euclidean_gives_the_nearest_point_exactly():
    shape, points = (24, 24), [(4, 5), (6, 16), (17, 9), (17, 19)]
    q = queries_from_point_maps(point_maps(shape, points))
    rows, cols = np.mgrid[0:24, 0:24]
    dist = np.stack([np.hypot(rows - r, cols - c) for r, c in sorted(points)])
    # every pixel in every support and far from the background ring: the Voronoi cells
    owner = pseudo_labels("euclidean", torch.zeros(1, 1, *shape), q, BranchConfig(support=30), bg_radius=100.0).owner[0]
    np.testing.assert_array_equal(owner.numpy(), dist.argmin(0))
    # the usual ring: discs of radius bg_radius / 2, still split by the nearest point
    got = pseudo_labels("euclidean", torch.zeros(1, 1, *shape), q, BranchConfig(support=6), bg_radius=6.0)
    disc = dist.min(0) < 3.0
    np.testing.assert_array_equal(got.labels[0].numpy(), disc.astype(np.float32))
    np.testing.assert_array_equal(got.owner[0].numpy(), np.where(disc, dist.argmin(0), -1))


def test_assignment_needs_the_query_support_and_keeps_the_points():
    q = queries_from_point_maps(point_maps((9, 9), [(4, 4)]))
    px = support_pixels(q, 2)  # the pixels looked at reach beyond the support of radius 1
    target = torch.zeros(1, 1, px.flat.shape[1])  # distance 0 everywhere ...
    background = torch.full((1, px.flat.shape[1]), 0.5)
    background[0, px.locate(q)[0, 0]] = -1.0  # ... and the background "nearer" at the point itself
    got = assign(target, background, q, px, radius=1)
    expected = np.zeros((9, 9), np.float32)
    expected[3:6, 3:6] = 1.0  # the support only, the point kept
    np.testing.assert_array_equal(got.labels[0].numpy(), expected)


def test_distance_loss_parts_are_the_documented_hinges():
    shape = (12, 12)
    q = queries_from_point_maps(point_maps(shape, [(3, 3), (3, 6)]))
    px, k = support_pixels(q, 3), 2
    at = px.locate(q)[0]
    dist = torch.full((1, 2 + k, px.flat.shape[1]), 2.0)  # everything beyond the margin ...
    for j in range(2):
        dist[0, j, at[j]] = 0.0  # ... except own points
    bg = background_pixels(q, px, radius=3, bg_radius=2.0)[0]
    dist[0, 2, bg] = 0.0  # one background query sits on the background
    parts = distance_loss(dist, q, px, radius=3, bg_radius=2.0, margin=1.0)
    assert all(float(v) == 0.0 for v in parts.values())
    dist[0, 0, at[1]] = 0.5  # query 0 at the other point, inside its support: (1 - 0.5)^2
    dist[0, 0, at[0]] = 0.3  # own point: 0.3, averaged over the two queries
    parts = distance_loss(dist, q, px, radius=3, bg_radius=2.0, margin=1.0)
    assert float(parts["neg"]) == pytest.approx(0.25 / 2)  # two (query, other point) pairs
    assert float(parts["pos"]) == pytest.approx(0.15)
    assert float(parts["bg_pos"]) == 0.0 and float(parts["bg_neg"]) == 0.0


def test_feature_cosine_labels_come_from_the_features():
    shape, point = (24, 24), [(11, 12)]
    q = queries_from_point_maps(point_maps(shape, point))
    config = BranchConfig(support=10)
    for radius in (2.0, 4.5):
        features = disc_features(shape, [[(11, 12, radius)]], noise=0.05)
        labels = pseudo_labels("feature-cosine", features, q, config, bg_radius=7.0).labels[0].numpy()
        np.testing.assert_array_equal(labels > 0.5, disc_truth(shape, [(11, 12, radius)]))


def _train_branch(config: BranchConfig, steps: int, seed: int = 0) -> DistanceBranch:
    """The branch trained by the points alone on random disc images (radii 1-5)."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    branch = DistanceBranch(2, config)
    optimizer = torch.optim.Adam(branch.parameters(), lr=3e-3)
    for _ in range(steps):
        discs = [[(int(rng.integers(8, 24)), int(rng.integers(8, 24)), float(rng.uniform(1, 5)))] for _ in range(4)]
        features = disc_features((32, 32), discs, noise=0.05, seed=int(rng.integers(1 << 30)))
        q = queries_from_point_maps(point_maps((32, 32), *[[(r, c) for r, c, _ in image] for image in discs]))
        loss = branch_loss(branch(features, q), q, config.support, bg_radius=7.0, margin=1.0)["distance"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return branch.eval()


def test_learned_labels_come_from_the_features():
    """Told only the points (and the background rule), the branch finds each disc's extent
    from the features, so other features give other labels."""
    config = BranchConfig(dim=16, rounds=1)
    branch = _train_branch(config, steps=80)
    shape = (32, 32)
    q = queries_from_point_maps(point_maps(shape, [(15, 16)]))
    found = {}
    for radius in (1.5, 4.5):
        features = disc_features(shape, [[(15, 16, radius)]], noise=0.05, seed=7)
        with torch.no_grad():
            found[radius] = pseudo_labels("learned", features, q, config, 7.0, branch).labels[0].numpy() > 0.5
        truth = disc_truth(shape, [(15, 16, radius)])
        assert (found[radius] & truth).sum() / (found[radius] | truth).sum() > 0.9
    assert found[1.5].sum() < found[4.5].sum()


def _inputs(seed: int = 0) -> tuple[torch.Tensor, Queries]:
    torch.manual_seed(seed)
    features = torch.randn(2, 3, 20, 20)
    return features, queries_from_point_maps(point_maps((20, 20), [(4, 4), (9, 12)], [(15, 6)]))


def _final(config: BranchConfig, features: torch.Tensor, q: Queries) -> torch.Tensor:
    torch.manual_seed(1)
    with torch.no_grad():
        return DistanceBranch(features.shape[1], config)(features, q).distances[-1]


def test_rounds_zero_skips_aggregation_and_enhancement(monkeypatch):
    features, q = _inputs()
    calls = {"aggregate": 0, "enhance": 0}
    for name in calls:
        original = getattr(DistanceBranch, name)

        def spy(self, *args, _name=name, _original=original):
            calls[_name] += 1
            return _original(self, *args)

        monkeypatch.setattr(DistanceBranch, name, spy)
    zero = DistanceBranch(3, BranchConfig(rounds=0))
    assert len(zero(features, q).distances) == 1 and calls == {"aggregate": 0, "enhance": 0}
    assert zero.enhancer is None and zero.aggregate_norm is None  # and no idle parameters counted
    two = DistanceBranch(3, BranchConfig(rounds=2))
    assert len(two(features, q).distances) == 3 and calls == {"aggregate": 2, "enhance": 2}
    assert sum(p.numel() for p in two.parameters()) > sum(p.numel() for p in zero.parameters())


def test_each_switch_changes_the_computation():
    features, q = _inputs()
    base = BranchConfig(rounds=1)
    variants = {
        "base": base,
        "rounds=0": dataclasses.replace(base, rounds=0),
        "rounds=2": dataclasses.replace(base, rounds=2),
        "rounds=3": dataclasses.replace(base, rounds=3),
        "aggregation=off": dataclasses.replace(base, aggregation=False),
        "enhancement=off": dataclasses.replace(base, enhancement=False),
        "both off": dataclasses.replace(base, aggregation=False, enhancement=False),
    }
    finals = {name: _final(config, features, q) for name, config in variants.items()}
    names = list(finals)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            assert not torch.allclose(finals[a], finals[b]), (a, b)
    # the same shared weights in every variant: the switches change the computation only
    torch.manual_seed(1)
    shared = DistanceBranch(3, variants["both off"]).state_dict()
    torch.manual_seed(1)
    full = DistanceBranch(3, variants["rounds=3"]).state_dict()
    assert all(torch.equal(v, full[k]) for k, v in shared.items())
    config = BranchConfig(support=6)
    torch.manual_seed(1)
    branch = DistanceBranch(3, config)
    modes = {m: pseudo_labels(m, features, q, config, 4.0, branch).labels for m in ("learned", "euclidean", "feature-cosine")}
    assert not torch.equal(modes["learned"], modes["euclidean"])
    assert not torch.equal(modes["feature-cosine"], modes["euclidean"])
    assert not torch.equal(modes["learned"], modes["feature-cosine"])


def test_branch_parameters_and_features_get_gradients_from_the_points():
    features, q = _inputs()
    features.requires_grad_(True)
    config = BranchConfig(rounds=2)
    branch = DistanceBranch(3, config)
    parts = branch_loss(branch(features, q), q, config.support, bg_radius=4.0, margin=1.0)
    assert set(parts) == {"distance", "pos", "neg", "bg_pos", "bg_neg"}
    parts["distance"].backward()
    for name, p in branch.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name
    assert features.grad is not None and features.grad.abs().sum() > 0  # end to end into the detector


def test_an_image_is_labelled_alike_alone_or_padded_in_a_batch():
    """Padding queries to the batch's most points changes nothing (masks, not loops)."""
    config = BranchConfig(rounds=2)
    torch.manual_seed(0)
    branch = DistanceBranch(3, config).eval()
    features, q = _inputs()
    alone = queries_from_point_maps(point_maps((20, 20), [(15, 6)]))
    with torch.no_grad():
        both = pseudo_labels("learned", features, q, config, 4.0, branch)
        one = pseudo_labels("learned", features[1:], alone, config, 4.0, branch)
        out_both, out_one = branch(features, q), branch(features[1:], alone)
        a = out_both.pixels.scatter(out_both.distances[-1], float("inf"))[1]
        b = out_one.pixels.scatter(out_one.distances[-1], float("inf"))[0]
    assert out_both.pixels.flat.shape[1] > out_one.pixels.flat.shape[1]  # padded pixels too
    torch.testing.assert_close(a[[0, 2, 3, 4, 5]], b)  # the padded query row dropped
    assert torch.equal(both.labels[1], one.labels[0]) and torch.equal(both.owner[1], one.owner[0])


def test_no_points_gives_background_everywhere():
    config = BranchConfig()
    q = queries_from_point_maps(torch.zeros(2, 1, 16, 16))
    branch = DistanceBranch(3, config)
    features = torch.randn(2, 3, 16, 16)
    for mode in ("learned", "euclidean", "feature-cosine"):
        got = pseudo_labels(mode, features, q, config, 6.0, branch)
        assert got.labels.sum() == 0 and (got.owner == -1).all()
    parts = branch_loss(branch(features, q), q, config.support, 6.0, 1.0)
    assert all(torch.isfinite(v) for v in parts.values())
