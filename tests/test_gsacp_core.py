"""GSACP's core on hand-made batches: targets, gate, adaptive support, losses, EMA teacher."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from methods._affinity_losses import LossConfig, gsacp_loss, hard_background_push, point_focal
from methods._affinity_targets import TargetConfig, affinity_targets
from methods._ema_teacher import EmaTeacher

H = W = 32


def square(cy: int, cx: int, half: int, shape: tuple[int, int] = (H, W)) -> torch.Tensor:
    m = torch.zeros(shape, dtype=torch.bool)
    m[max(cy - half, 0) : cy + half + 1, max(cx - half, 0) : cx + half + 1] = True
    return m


def region_features(*regions: torch.Tensor) -> torch.Tensor:
    """(1, 3, H, W): channel 0 on the regions, channel 2 elsewhere (channel 1 unused)."""
    inside = torch.zeros(H, W, dtype=torch.bool)
    for r in regions:
        inside |= r
    f = torch.zeros(1, 3, H, W)
    f[0, 0][inside] = 1.0
    f[0, 2][~inside] = 1.0
    return f


def point_map(*points: tuple[int, int], batch: int = 1) -> torch.Tensor:
    p = torch.zeros(batch, 1, H, W)
    for b, y, x in ((pt if len(pt) == 3 else (0, *pt)) for pt in points):
        p[b, 0, y, x] = 1.0
    return p


FLAT = torch.zeros(1, 1, H, W)
NO_GATE = TargetConfig(gate=False, support="fixed", radius=4)


# targets come from the features ----------------------------------------------------------
def test_targets_are_the_high_affinity_part_of_the_support() -> None:
    blob = square(10, 10, 1)
    t = affinity_targets(region_features(blob), FLAT, point_map((10, 10)), NO_GATE)
    assert torch.equal(t.target[0, 0] > 0, blob)
    assert torch.equal(t.support[0, 0], square(10, 10, 4))
    assert t.area.tolist() == [9]


def test_changing_the_features_changes_the_targets() -> None:
    small, large = square(10, 10, 1), square(10, 10, 3)
    a = affinity_targets(region_features(small), FLAT, point_map((10, 10)), NO_GATE).target
    b = affinity_targets(region_features(large), FLAT, point_map((10, 10)), NO_GATE).target
    assert torch.equal(b[0, 0] > 0, large) and not torch.equal(a, b)


def test_only_the_part_connected_to_the_point_is_target() -> None:
    blob, other = square(10, 10, 1), square(10, 14, 0)  # same feature, 2 px away: not connected
    t = affinity_targets(region_features(blob, other), FLAT, point_map((10, 10)), NO_GATE)
    assert torch.equal(t.target[0, 0] > 0, blob)


def test_pixels_outside_every_support_are_background() -> None:
    big = square(16, 16, 12)  # same feature everywhere near the point
    t = affinity_targets(region_features(big), FLAT, point_map((16, 16)), NO_GATE)
    assert torch.equal(t.target[0, 0] > 0, square(16, 16, 4))


def test_features_at_lower_resolution_are_brought_to_the_output_size() -> None:
    coarse = torch.zeros(1, 2, H // 2, W // 2)
    coarse[0, 0, 4:7, 4:7] = 1.0
    coarse[0, 1] = 1.0 - coarse[0, 0]
    t = affinity_targets(coarse, FLAT, point_map((11, 11)), NO_GATE)
    assert t.target.shape == (1, 1, H, W)
    assert t.target[0, 0, 11, 11] == 1 and t.target[0, 0, 8:14, 8:14].sum() >= 16
    assert t.target[0, 0, 11, 16] == 0 and t.target[0, 0, 16, 11] == 0


def test_a_batch_gives_each_image_its_own_targets() -> None:
    f1, f2 = region_features(square(8, 8, 1)), region_features(square(20, 22, 2))
    p = point_map((0, 8, 8), (1, 20, 22), (1, 8, 26), batch=2)
    both = affinity_targets(torch.cat([f1, f2]), FLAT.expand(2, -1, -1, -1), p, NO_GATE)
    one = affinity_targets(f1, FLAT, p[:1], NO_GATE)
    two = affinity_targets(f2, FLAT, p[1:], NO_GATE)
    assert torch.equal(both.target, torch.cat([one.target, two.target]))
    assert both.batch_index.tolist() == [0, 1, 1] and both.area.tolist() == [9, 81, 25]  # raster order; (8, 26) anchors background


# the local-contrast gate ---------------------------------------------------------------
def test_gate_removes_candidates_where_the_image_is_locally_darker() -> None:
    blob = square(16, 16, 2)
    image = torch.zeros(1, 1, H, W)
    image[0, 0][blob] = 1.0
    image[0, 0, 16, 18] = -1.0  # inside the blob's features, darker than the surround
    feats = region_features(blob)
    p = point_map((16, 16))
    on = affinity_targets(feats, image, p, TargetConfig(gate=True, support="fixed", radius=4)).target[0, 0] > 0
    off = affinity_targets(feats, image, p, TargetConfig(gate=False, support="fixed", radius=4)).target[0, 0] > 0
    assert off[16, 18] and not on[16, 18]
    assert torch.equal(on, blob & ~square(16, 18, 0))
    assert torch.equal(off, blob)


def test_gate_compares_with_the_ring_outside_the_support() -> None:
    feats = region_features(square(16, 16, 6))  # features alike over the whole window
    image = torch.zeros(1, 1, H, W)
    image[0, 0][square(16, 16, 1)] = 2.0  # a bright core, then a plateau above the ring
    image[0, 0][square(16, 16, 4) & ~square(16, 16, 1)] = 0.5
    image[0, 0][~square(16, 16, 4)] = 0.4
    t = affinity_targets(feats, image, point_map((16, 16)), TargetConfig(support="fixed", radius=4))
    assert torch.equal(t.target[0, 0] > 0, square(16, 16, 4))


def test_gate_asks_for_a_margin_of_the_surround_spread() -> None:
    feats = region_features(square(16, 16, 6))
    image = torch.zeros(1, 1, H, W)
    image[0, 0, ::2, :] = 1.0  # a striped surround: mean 0.5, spread 0.5
    image[0, 0][square(16, 16, 2)] = 1.2  # 0.4 spreads above the surround's mean
    p = point_map((16, 16))
    loose = affinity_targets(feats, image, p, TargetConfig(support="fixed", radius=2, gate_std=0.0)).target[0, 0] > 0
    strict = affinity_targets(feats, image, p, TargetConfig(support="fixed", radius=2, gate_std=2.0)).target[0, 0] > 0
    assert torch.equal(loose, square(16, 16, 2))
    assert torch.equal(strict, square(16, 16, 0))  # only the point itself is kept


# adaptive support ----------------------------------------------------------------------
def test_adaptive_support_grows_with_the_target() -> None:
    small, large = square(8, 8, 1), square(20, 20, 5)
    image = torch.zeros(1, 1, H, W)
    image[0, 0][small | large] = 1.0
    feats = region_features(small, large)
    p = point_map((8, 8), (20, 20))
    adaptive = affinity_targets(feats, image, p, TargetConfig(support="adaptive", max_radius=9))
    fixed = affinity_targets(feats, image, p, TargetConfig(support="fixed", radius=3, gate=False))
    assert adaptive.radius[0] < adaptive.radius[1]
    assert adaptive.radius.tolist() == [3, 9]  # extents 1 and 5 rings: round(1.5 e) + 1, clamped
    assert adaptive.area.tolist() == [9, 121]  # the whole of both targets
    assert fixed.area.tolist() == [9, 49]  # the fixed window cuts the large one
    assert fixed.radius.tolist() == [3, 3]


def test_adaptive_support_shrinks_around_a_lone_point() -> None:
    feats = region_features(square(16, 16, 0))
    t = affinity_targets(feats, FLAT, point_map((16, 16)), TargetConfig(support="adaptive", gate=False, min_radius=1))
    assert t.radius.tolist() == [1]
    assert torch.equal(t.support[0, 0], square(16, 16, 1))


def test_no_points_give_empty_targets() -> None:
    t = affinity_targets(torch.rand(2, 3, H, W), torch.rand(2, 1, H, W), torch.zeros(2, 1, H, W), TargetConfig())
    assert t.target.sum() == 0 and not t.support.any() and t.area.numel() == 0 and t.mean_area == 0.0


# losses --------------------------------------------------------------------------------
def test_point_focal_is_on_the_points_and_optionally_the_background() -> None:
    points, support = point_map((10, 10)), square(10, 10, 3)[None, None]
    logits = torch.full((1, 1, H, W), -3.0)
    inside, outside, at_point = logits.clone(), logits.clone(), logits.clone()
    inside[0, 0, 11, 11] = outside[0, 0, 25, 25] = at_point[0, 0, 10, 10] = 5.0
    for background in (False, True):
        base = point_focal(logits, points, support, background)
        assert point_focal(inside, points, support, background) == pytest.approx(float(base), abs=1e-6)
        assert point_focal(at_point, points, support, background) < base - 1.0
    assert point_focal(outside, points, support, False) == pytest.approx(float(point_focal(logits, points, support, False)), abs=1e-6)
    assert point_focal(outside, points, support, True) > point_focal(logits, points, support, True) + 1.0


def test_contrastive_term_is_zero_when_background_and_anchors_are_far_apart() -> None:
    blob = square(10, 10, 1)
    feats = region_features(blob).requires_grad_(True)  # background on channel 2, anchor on 0
    points, support = point_map((10, 10)), square(10, 10, 3)[None, None]
    logits = torch.zeros(1, 1, H, W)
    logits[0, 0, 25, 25] = 4.0  # a high-response background pixel
    push = hard_background_push(feats, logits, points, support, hard=4, margin=0.0, center=False)
    assert float(push.detach()) == 0.0
    near = region_features(blob)
    near[0, 0, 25, 25] = 1.0  # that pixel now half looks like the anchor
    near.requires_grad_(True)
    push = hard_background_push(near, logits, points, support, hard=4, margin=0.0, center=False)
    assert float(push.detach()) > 0.0
    push.backward()
    assert near.grad[0, :, 25, 25].abs().sum() > 0
    assert near.grad[0, :, 10, 10].abs().sum() == 0  # the anchor does not move
    quiet = torch.full((1, 1, H, W), -4.0)  # no background pixel above p = 0.5: no false alarm to push
    assert float(hard_background_push(near, quiet, points, support, hard=4, margin=0.0, center=False).detach()) == 0.0


def test_contrastive_switch_adds_exactly_the_weighted_term() -> None:
    torch.manual_seed(0)
    feats, logits = torch.randn(2, 4, H, W), torch.randn(2, 1, H, W)
    points = point_map((0, 5, 5), (1, 20, 12), batch=2)
    targets = affinity_targets(feats, torch.randn(2, 1, H, W), points, TargetConfig())
    off, parts_off = gsacp_loss([logits], feats, targets, points, LossConfig(contrastive=False))
    on, parts_on = gsacp_loss([logits], feats, targets, points, LossConfig(contrastive=True, contrastive_weight=0.5))
    assert "contrastive" not in parts_off and float(parts_on["contrastive"]) > 0
    assert float(on - off) == pytest.approx(0.5 * float(parts_on["contrastive"]), abs=1e-4)


# EMA teacher ---------------------------------------------------------------------------
class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1)
        self.bn = nn.BatchNorm2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


def test_teacher_follows_the_student_by_the_momentum_and_takes_no_gradient() -> None:
    torch.manual_seed(0)
    student = _Net()
    teacher = EmaTeacher(student, momentum=0.9)
    before = {k: v.clone() for k, v in teacher.module.state_dict().items()}
    optimizer = torch.optim.SGD(student.parameters(), lr=0.5)
    x = torch.randn(4, 1, 8, 8)
    loss = (student(x) - teacher(x)).pow(2).mean() + student(x).mean()
    loss.backward()
    optimizer.step()
    teacher.update(student)
    assert all(p.grad is None and not p.requires_grad for p in teacher.module.parameters())
    for name, p in student.named_parameters():
        t = dict(teacher.module.named_parameters())[name]
        assert not torch.equal(t, p.detach())
        assert torch.allclose(t, 0.9 * before[name] + 0.1 * p.detach(), atol=1e-6)
    assert torch.equal(teacher.module.bn.running_mean, student.bn.running_mean)
    assert teacher.steps == 1


def test_teacher_state_round_trips() -> None:
    student = _Net()
    teacher = EmaTeacher(student, momentum=0.5)
    with torch.no_grad():
        student.conv.weight.add_(1.0)
    teacher.update(student)
    other = EmaTeacher(_Net(), momentum=0.5)
    other.load_state_dict(teacher.state_dict())
    assert other.steps == 1 and torch.equal(other.module.conv.weight, teacher.module.conv.weight)
