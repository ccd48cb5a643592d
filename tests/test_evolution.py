"""LESPS and PAL update rules, PAL's easy-sample start, admission, schedule and loss,
each on hand-made inputs whose right answer is known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import distance_transform_edt
from skimage import measure

from benchmark.data import augment_pal
from benchmark.errors import ConfigError
from benchmark.losses import edge_ohem_bce, gaussian_focal
from methods import lesps, pal
from methods._evolution import binary_growth, label_regions, region_candidates, threshold

SHAPE = (64, 64)  # 0.15% of the image = 6.144 px


def disc(center: tuple[int, int], radius: float, shape: tuple[int, int] = SHAPE) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 <= radius**2


def point_label(*points: tuple[int, int], shape: tuple[int, int] = SHAPE) -> np.ndarray:
    label = np.zeros(shape, np.float32)
    for p in points:
        label[p] = 1.0
    return label


# the shared candidate step -----------------------------------------------------------
def test_threshold_formula() -> None:
    assert threshold(0.8, 1, SHAPE, 0.5, 0.5) == pytest.approx(0.4 + 0.5 * 0.4 / 6.144)
    cap = 2 * 0.0015 * SHAPE[0] * SHAPE[1]  # with tb = k = 0.5, T reaches M at 0.3% of the image
    assert threshold(0.8, cap, SHAPE, 0.5, 0.5) == pytest.approx(0.8)


def test_regions_match_skimage_order_and_centroids() -> None:
    rng = np.random.default_rng(0)
    label = (rng.random((40, 50)) > 0.85).astype(np.float32)
    ours = label_regions(label)
    theirs = measure.regionprops(measure.label(label > 0.5))
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert sorted(map(tuple, a)) == sorted(map(tuple, b.coords))
        assert tuple(int(v) for v in a.mean(0)) == tuple(int(v) for v in b.centroid)


def test_second_blob_in_window_but_off_core_is_eliminated() -> None:
    prob = np.where(disc((30, 30), 2) | disc((30, 42), 2), 0.9, 0.0).astype(np.float32)  # 12 px apart: same window
    for drop_lone in (False, True):
        cand = region_candidates(prob, np.array([[30, 30]]), 0.5, 0.5, drop_lone).full(SHAPE)
        assert np.array_equal(cand, disc((30, 30), 2))
    far = np.where(disc((30, 60), 2), 0.9, 0.0)  # outside the 33x33 window: never a candidate
    assert not region_candidates(far.astype(np.float32), np.array([[30, 30]]), 0.5, 0.5, False).full(SHAPE).any()


def test_lone_off_core_blob_kept_by_lesps_dropped_by_pal() -> None:
    prob = np.where(disc((30, 40), 2), 0.9, 0.0).astype(np.float32)  # only blob: misses the core
    assert region_candidates(prob, np.array([[30, 30]]), 0.5, 0.5, drop_lone=False).full(SHAPE).sum() == 13
    assert not region_candidates(prob, np.array([[30, 30]]), 0.5, 0.5, drop_lone=True).mask.any()


def _lesps_reference(label: np.ndarray, prob: np.ndarray, tb: float, k: float) -> np.ndarray:
    """LESPS's update written the way Net.update_gt is: whole-image masks by convolution."""
    pred = torch.from_numpy(prob)[None, None]
    out = torch.from_numpy(label.copy())[None, None]
    h, w = label.shape
    for region in measure.regionprops(measure.label(label > 0.5)):
        point = torch.zeros_like(pred)
        point[0, 0, int(region.centroid[0]), int(region.centroid[1])] = 1
        nbr = (F.conv2d(point, torch.ones(1, 1, 33, 33), padding=16) > 0).float()
        core = (F.conv2d(point, torch.ones(1, 1, 3, 3), padding=1) > 0).float()
        peak = (pred * nbr).max()
        t = peak * tb + k * (peak - peak * tb) * len(region.coords) / (h * w * 0.0015)
        cand = (pred * nbr > t).float()
        parts = measure.label(cand[0, 0].numpy() > 0)
        if parts.max() > 1:
            for n in range(1, parts.max() + 1):
                part = cand * torch.from_numpy(parts == n).float()
                if (part * core).sum() == 0:
                    cand = cand - part
        out = out * (1 - cand) + (out * cand + pred * cand) / 2
    return torch.max(out, (torch.from_numpy(label) == 1).float()[None, None])[0, 0].numpy()


def test_lesps_update_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(1)
    for _ in range(10):
        prob = rng.random(SHAPE).astype(np.float32) ** 3
        label = np.zeros(SHAPE, np.float32)
        label[tuple(rng.integers(0, 64, (2, 4)))] = 1.0
        label[tuple(rng.integers(0, 64, (2, 6)))] = 0.7
        np.testing.assert_allclose(lesps.evolve(label, prob, 0.5, 0.5), _lesps_reference(label, prob, 0.5, 0.5), atol=1e-6)


# LESPS --------------------------------------------------------------------------------
def test_lesps_grows_to_the_blob_and_no_further() -> None:
    prob = np.where(disc((30, 30), 2), 0.9, np.where(disc((30, 30), 4), 0.3, 0.02)).astype(np.float32)
    label = point_label((30, 30))
    once = lesps.evolve(label, prob, 0.5, 0.5)  # T = 0.45 + 0.225/6.144: the 0.9 disc only
    assert np.array_equal(once > 0, disc((30, 30), 2))
    assert once[30, 30] == 1.0  # the point stays 1
    assert np.allclose(once[disc((30, 30), 2) & (label == 0)], 0.45)
    twice = lesps.evolve(once, prob, 0.5, 0.5)
    assert np.array_equal(twice > 0.5, disc((30, 30), 2))  # now the label's region is the disc
    thrice = lesps.evolve(twice, prob, 0.5, 0.5)  # 13 px: T = 0.45 + 0.225*13/6.144 > 0.9
    assert np.array_equal(thrice, twice)


def test_threshold_stops_growth_past_three_per_mille() -> None:
    prob = np.full(SHAPE, 0.95, np.float32)
    cap = int(np.ceil(2 * 0.0015 * SHAPE[0] * SHAPE[1]))  # 13 px at 64x64
    label = np.zeros(SHAPE, np.float32)
    label[30, 25 : 25 + cap] = 0.8
    assert np.array_equal(lesps.evolve(label, prob, 0.5, 0.5), label)
    label[30, 25 + cap - 1] = 0.0  # one pixel below the cap: it grows
    assert (lesps.evolve(label, prob, 0.5, 0.5) > label).any()


def test_lesps_averages_overlapping_windows_sequentially_pal_once() -> None:
    prob = np.zeros(SHAPE, np.float32)
    prob[30, 30:41] = 0.9  # one bar joining both points' cores
    label = point_label((30, 30), (30, 40))
    shared = (30, 35)  # a candidate of both regions
    assert lesps.evolve(label, prob, 0.5, 0.5)[shared] == pytest.approx(((0 + 0.9) / 2 + 0.9) / 2)
    assert pal.refine(label, prob, 0.5, 0.5, 0.97)[shared] == pytest.approx(round(0.45 * 255) / 255)


def test_points_stay_one_even_where_the_prediction_is_zero() -> None:
    label = point_label((10, 10), (50, 50))
    prob = np.zeros(SHAPE, np.float32)
    for update in (lambda l: lesps.evolve(l, prob, 0.5, 0.5), lambda l: pal.refine(l, prob, 0.5, 0.5, 0.97)):
        assert np.array_equal(update(label), label)


# PAL refinement -----------------------------------------------------------------------
def test_pal_decay_shrinks_a_wrong_expansion() -> None:
    prob = np.where(disc((15, 15), 1.5), 0.9, 0.0).astype(np.float32)
    label = point_label((15, 15))
    label[45:48, 45:48] = 0.8  # wrong: the detector sees nothing there (prob 0)
    value = 0.8
    for n in range(1, 17):
        label = pal.refine(label, prob, 0.5, 0.5, 0.97)
        value = round(value * 0.97 * 255) / 255  # what PAL's PNG round trip keeps
        assert label[46, 46] == pytest.approx(value, abs=1e-6)
        assert label[15, 15] == 1.0
    assert label[46, 46] < 0.5 and 0.8 * 0.97**16 < 0.5  # the region has dropped out of the label
    wrong = point_label((15, 15))
    wrong[45:48, 45:48] = 0.8
    assert lesps.evolve(wrong, prob, 0.5, 0.5)[46, 46] == pytest.approx(0.8)  # LESPS has no decay


def test_pal_refinement_crosses_half_only_from_its_second_update_and_the_log_sees_it() -> None:
    """A background pixel averaged with P < 1 stays below 0.5 after one update, so the
    binarized label PAL trains on grows from the second update on; ``binary_growth``
    (the update log) counts exactly those crossings, not the soft changes."""
    prob = np.where(disc((20, 20), 1.5), 0.9, 0.0).astype(np.float32)
    start = point_label((20, 20))
    once = pal.refine(start, prob, 0.5, 0.5, 0.97)
    twice = pal.refine(once, prob, 0.5, 0.5, 0.97)
    grown = disc((20, 20), 1.5) & (start == 0)
    assert np.all(once[grown] > 0.4) and np.all(once[grown] < 0.5)  # 0.9 / 2, soft
    assert np.all(twice[grown] > 0.5)  # (0.45 + 0.9) / 2
    assert binary_growth([start], [once]) == {"flipped_pixels": 0, "flipped_labels": 0, "label_pixels": 1}
    n = int(grown.sum())
    assert binary_growth([once], [twice]) == {"flipped_pixels": n, "flipped_labels": 1, "label_pixels": n + 1}


def test_pal_labels_are_stored_as_png() -> None:
    prob = np.where(disc((20, 20), 2), 0.77, 0.0).astype(np.float32)
    out = pal.refine(point_label((20, 20)), prob, 0.5, 0.5, 0.97)
    assert np.allclose(out * 255, np.round(out * 255), atol=1e-4)


# PAL easy samples, admission, schedule ----------------------------------------------------
def test_easy_sample_bright_compact_target_vs_flat_background() -> None:
    yy, xx = np.mgrid[:64, :64]
    image = (80 + 120 * np.exp(-((yy - 30) ** 2 + (xx - 33) ** 2) / (2 * 1.5**2))).astype(np.uint8)
    label, easy = pal.easy_sample(image, np.array([[30, 33]]))
    assert easy and label[30, 33] == 1.0
    assert 2 <= label.sum() <= 60 and np.array_equal(label > 0, disc((30, 33), 3) & (label > 0))
    flat = np.full((64, 64), 80, np.uint8)
    label, easy = pal.easy_sample(flat, np.array([[30, 33]]))
    assert not easy and np.array_equal(label, point_label((30, 33)))
    big = np.where(disc((30, 33), 6), 200, 80).astype(np.uint8)  # a bright disc of ~113 px: area > 50
    assert not pal.easy_sample(big, np.array([[30, 33]]))[1]
    assert pal.easy_sample(flat, np.zeros((0, 2), int))[1]  # no points: TRAIN pool


def test_easy_ratio_is_eighty_percent() -> None:
    yy, xx = np.mgrid[:96, :96]
    image = np.full((96, 96), 80.0)
    spots = [(15, 15), (15, 45), (15, 75), (45, 15), (45, 45)]
    for y, x in spots[:4]:
        image += 120 * np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * 1.5**2))
    image = image.astype(np.uint8)
    assert pal.easy_sample(image, np.array(spots[:4] + [spots[4]]))[1]  # 4 of 5 correct
    assert not pal.easy_sample(image, np.array(spots[:3] + [spots[4], (75, 75)]))[1]  # 3 of 5


def test_contour_area_is_opencvs() -> None:
    square = np.zeros((12, 12), bool)
    square[2:10, 1:9] = True  # 64 px, polygon through the border pixel centres: 7x7
    assert pal.contour_area(pal.outer_contour(square)) == 49.0
    line = np.zeros((5, 5), bool)
    line[2, 1:4] = True
    assert pal.contour_area(pal.outer_contour(line)) == 0.0


def test_admission_rule() -> None:
    points = np.array([[10, 10], [10, 30], [10, 50]])
    pred = disc((10, 10), 2) | disc((10, 30), 2)  # covers 2 of 3 points: missed 1/3
    assert pal.admit(pred, points, lose_ratio=0.34, alarm_ratio=5)
    assert not pal.admit(pred, points, lose_ratio=0.3, alarm_ratio=5)
    one = np.array([[10, 10]])
    hit = disc((10, 10), 2)
    alarms = [disc((40, 8 + 10 * i), 1.5) for i in range(6)]
    assert pal.admit(hit | np.any(alarms[:5], axis=0), one, 0.2, 5)  # 5 extra components per point
    assert not pal.admit(hit | np.any(alarms, axis=0), one, 0.2, 5)  # 6
    label = pal.admitted_label(hit | alarms[0], np.array([[10, 10], [60, 60]]))
    assert np.array_equal(label > 0, hit | (point_label((60, 60)) > 0))  # the far alarm is not kept
    assert pal.admit(np.zeros(SHAPE, bool), np.zeros((0, 2), int), 0.2, 5)


def test_schedule_for_400_epochs_and_scaled() -> None:
    s = pal.Schedule(400)
    phases = [s.phase(e) for e in range(401)]
    assert [e for e, p in enumerate(phases) if p == "enhance"] == list(range(85, 321, 5))
    assert [e for e, p in enumerate(phases) if p == "refine"] == list(range(325, 400, 5))
    assert s.lose_ratio(85) == pytest.approx(0.2 + 6 / 240 * 0.8) and s.lose_ratio(320) > 1.0
    short = pal.Schedule(20, gap=1)
    assert [e for e in range(21) if short.phase(e) == "enhance"] == list(range(5, 17))
    assert [e for e in range(21) if short.phase(e) == "refine"] == [17, 18, 19]


def test_pal_pre_start_waits_for_steps_then_ramps_from_its_late_start() -> None:
    """With ``Profile.pre_start_steps`` no update runs before that many optimizer steps,
    whatever the epoch; the loss ratio then ramps from the late start, not from 0.2 N."""
    from types import SimpleNamespace

    method = pal.PAL(gap=1, pre=0.2, final=0.8)
    method.train_pool = [0]
    predicted: list[int] = []

    def predict(indices):
        predicted.append(len(indices))
        return [np.zeros(SHAPE, np.float32) for _ in indices]

    ctx = SimpleNamespace(
        profile=SimpleNamespace(epochs=20, batch_size=4, pre_start_steps=30),
        last_epoch={"train_images": 16},  # 4 steps an epoch
        labels=[point_label((10, 10)), point_label((30, 30))],
        predict=predict,
        points=lambda i: np.array([[10, 10]] if i == 0 else [[30, 30]]),
    )
    logs = [method.end_epoch(epoch, ctx) for epoch in range(7)]
    assert predicted == [] and [log.get("phase") for log in logs[4:]] == ["pre-start"] * 3  # e = 5..7: 20-28 steps
    logs += [method.end_epoch(epoch, ctx) for epoch in range(7, 20)]
    assert logs[7]["phase"] == "enhance" and method.enhance_from == 8 and predicted[0] == 2  # 32 steps: pool + hard
    assert method.schedule(20).lose_ratio(8) == pytest.approx(0.2 + 1 / 8 * 0.8)  # span 16 - 8
    assert [log.get("phase") for log in logs[16:]] == ["refine"] * 3 + [None]  # e = 17..19; none after the last epoch
    resumed = pal.PAL(gap=1, pre=0.2, final=0.8)
    resumed.load_state_dict(method.state_dict())
    assert (resumed.steps, resumed.enhance_from, resumed.held) == (80, 8, True)


def test_lesps_start_rules() -> None:
    assert lesps.parse_start("epoch:50") == ("epoch", 50) and lesps.parse_start("loss<10") == ("loss", 10.0)
    with pytest.raises(ConfigError):
        lesps.LESPS(start="after:3")

    class Ctx:
        last_epoch = {"loss": 20.0}

    by_epoch = lesps.LESPS(start="epoch:2", f=2)
    assert [by_epoch.updates_due(e, Ctx()) for e in range(8)] == [0, 0, 1, 1, 0, 1, 0, 1]
    assert by_epoch.start_epoch == 3
    by_loss, ctx = lesps.LESPS(start="loss<10", f=5), Ctx()
    due = []
    for e, loss in enumerate([30, 20, 12, 11, 9, 8, 7]):
        ctx.last_epoch = {"loss": loss}
        due.append(by_loss.updates_due(e, ctx))
    assert due == [0, 0, 0, 0, 2, 0, 0] and by_loss.start_epoch == 5  # the code updates twice at epoch 5


# loss and augmentation ---------------------------------------------------------------------
def _pal_edge_weights(mask: np.ndarray) -> np.ndarray:
    """PAL's weight map as its code builds it: the edge map (components/edges.py: one-hot,
    distance transforms, radius 1, borders zeroed), then ``edge[edge == 0] = 1`` and
    ``edge[edge > 0] = 4`` in that order (loss/Edge_loss.py)."""
    onehot = np.stack([mask == 0, mask == 1]).astype(np.uint8)
    padded = np.pad(onehot, ((0, 0), (1, 1), (1, 1)))
    edge = np.zeros(mask.shape)
    for channel in padded:
        dist = (distance_transform_edt(channel) + distance_transform_edt(1.0 - channel))[1:-1, 1:-1]
        edge += np.where(dist > 1, 0, dist)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = 0
    edge[edge == 0] = 1.0
    edge[edge > 0] = 4.0
    return edge


def test_edge_ohem_bce_matches_pals_code_where_every_pixel_weighs_4() -> None:
    rng = np.random.default_rng(2)
    masks = (rng.random((3, 1, 24, 24)) > 0.8).astype(np.float32)
    masks[2] = 0.0  # a crop without target
    logits = rng.normal(0, 2, masks.shape).astype(np.float32)
    weights = np.stack([_pal_edge_weights(m[0])[None] for m in masks])
    assert np.all(weights == 4.0)  # the intended boundary weighting never happens
    x, y = logits.astype(np.float64), masks.astype(np.float64)
    bce = np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))
    weighted = (bce * weights).ravel()
    cut = np.sort(weighted)[int(0.5 * weighted.size)]
    expected = weighted[weighted >= cut].mean()
    assert edge_ohem_bce(torch.from_numpy(logits), torch.from_numpy(masks)).item() == pytest.approx(expected, rel=1e-5)


def _lesps_focal(pred: np.ndarray, target: np.ndarray) -> float:
    """LESPS utils.py ``focal_loss`` on probabilities, reduced as ``Net.loss`` does."""
    eps = 1e-12
    pos = -np.log(pred + eps) * (1 - pred) ** 2 * target
    neg = -np.log(1 - pred + eps) * pred**2 * (1 - target) ** 4
    return float((pos + neg).sum() / max(1, int((target == 1).sum())))


def test_gaussian_focal_matches_lesps_on_soft_targets() -> None:
    rng = np.random.default_rng(5)
    target = np.zeros((2, 1, 16, 16))
    target[0, 0, 4:7, 4:7] = rng.uniform(0.1, 0.9, (3, 3))  # an evolved, soft label
    target[0, 0, 5, 5] = target[1, 0, 9, 3] = 1.0  # its points: the normalizer counts 2
    logits = rng.normal(0, 2, target.shape)
    pred = 1 / (1 + np.exp(-logits))
    got = gaussian_focal(torch.from_numpy(logits), torch.from_numpy(target)).item()
    assert got == pytest.approx(_lesps_focal(pred, target), rel=1e-6)
    # a soft pixel is pulled towards P ~ 0.69 at Y = 0.5 (dropping the soft positive term pushes it to 0)
    grid = torch.linspace(-4, 4, 8001, dtype=torch.float64)
    losses = torch.stack([gaussian_focal(z.view(1, 1, 1, 1), torch.full((1, 1, 1, 1), 0.5, dtype=torch.float64)) for z in grid])
    assert torch.sigmoid(grid[losses.argmin()]).item() == pytest.approx(0.6848, abs=2e-3)


def test_pal_augmentation_is_seeded_and_keeps_masks_nearest() -> None:
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (32, 32)).astype(np.float32)
    mask = (rng.random((32, 32)) > 0.9).astype(np.float32)
    runs = [augment_pal.augment(image, [mask], np.random.default_rng(s)) for s in range(40)]
    again = [augment_pal.augment(image, [mask], np.random.default_rng(s)) for s in range(40)]
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1][0], b[1][0]) for a, b in zip(runs, again))
    assert all(r[0].shape == (32, 32) and set(np.unique(r[1][0])) <= {0.0, 1.0} for r in runs)
    assert sum(np.array_equal(r[0], image) for r in runs) >= 10  # the 0.5 gate (and no-ops) leave many alone
    turned = augment_pal.warp(image, augment_pal.rotation_matrix((32, 32), 90, 1.0), order=1)
    assert np.allclose(turned, np.rot90(image))  # OpenCV's centre and angle convention
