"""The diffusion annotator (Diffuse to Detect): switches, theta, seeding, privileges, quality."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.segmentation import slic

from benchmark.cells import parse_spec
from benchmark.data.loader import load_split
from benchmark.errors import ConfigError
from benchmark.pseudolabels import label_quality, visible_samples
from benchmark.registry import METHODS
from methods import _diffusion_field
from methods._diffusion_annotator import Annotator
from methods._diffusion_field import Physics, grown_box, physical_parameters
from methods._diffusion_post import binarize
from methods.diffusion import BOX_SIDES, Diffusion
from methods.mclc import gt_priors


@pytest.fixture(scope="module")
def synthetic(shared_cache: Path):
    split = load_split("synthetic", "train", cache_dir=shared_cache)
    return [s for s in split.samples if len(s.centroid)][:16]


@pytest.fixture(scope="module")
def priors(synthetic):
    rng = np.random.default_rng(0)
    return [gt_priors(s.mask, s.centroid, rng, BOX_SIDES) for s in synthetic]


def _annotator(synthetic, priors, **kw) -> Annotator:
    return Annotator([s.image for s in synthetic], priors, **kw)


def test_theta_maps_to_the_public_physics() -> None:
    assert Physics.from_theta() == Physics(3.2, 6.0, 0.84, 0.6)
    big = Physics.from_theta((50.0, -50.0, 50.0, -50.0))  # tanh saturates: the public code's bounds
    assert dataclasses.astuple(big) == pytest.approx((3.2 * 1.3, 6.0 * 0.7, 0.89, 0.55))
    theta = torch.zeros(4, requires_grad=True)  # the outer step differentiates the same map
    d0, beta, rho, alpha = physical_parameters(theta, torch.tanh)
    (d0 + beta + rho + alpha).backward()
    assert theta.grad.tolist() == pytest.approx([3.2 * 0.3, 6.0 * 0.3, 0.05, 0.05])


def test_prior_superpixel_is_the_segment_under_each_point(synthetic, priors) -> None:
    """Before post-processing: the thresholded field is exactly the union of the SLIC
    segments (scikit-image's, on the CLAHE crop) under the points; after it, with the CRF
    off, that union inside the prior boxes."""
    a = _annotator(synthetic, priors, prior="superpixel", crf="off")
    for field, sample, targets, labels in zip(a.fields(), synthetic, a.targets, a.labels()):
        union = np.zeros(sample.shape, bool)
        inside_boxes = np.zeros(sample.shape, bool)
        for t in targets:
            y0, y1, x0, x1 = t.crop
            seg = slic(t.grey, n_segments=16, compactness=0.32, channel_axis=None)
            union[y0:y1, x0:x1] |= seg == seg[t.point]
            b = t.prior.box
            inside_boxes[b[0] : b[1], b[2] : b[3]] = True
        binary = binarize(field, [t.crop for t in targets])
        np.testing.assert_array_equal(binary, union)
        np.testing.assert_array_equal(labels > 0, union & inside_boxes)


def test_prior_diffusion_never_computes_the_superpixels(synthetic, priors, monkeypatch) -> None:
    both = _annotator(synthetic, priors).labels()

    def no_slic(*args, **kwargs):
        raise AssertionError("prior=diffusion must not segment")

    monkeypatch.setattr(_diffusion_field, "grey_slic", no_slic)
    diffusion_only = _annotator(synthetic, priors, prior="diffusion").labels()
    assert any(not np.array_equal(x, y) for x, y in zip(both, diffusion_only))
    with pytest.raises(AssertionError, match="must not segment"):
        _annotator(synthetic, priors)


def test_theta_changes_the_field_and_the_labels(synthetic, priors) -> None:
    a = _annotator(synthetic, priors, walk="particles")
    base_fields, base_labels = a.fields(), a.labels()
    for theta in ((2.0, 0.0, 0.0, 0.0), (0.0, 0.0, 3.0, 0.0)):  # D0 up; rho up
        assert any(not np.array_equal(x, y) for x, y in zip(base_fields, a.fields(theta)))
    assert any(not np.array_equal(x, y) for x, y in zip(base_labels, a.labels((3.0, -3.0, 3.0, 3.0))))
    assert all(np.array_equal(x, y) for x, y in zip(base_labels, a.labels()))  # the walk's stream is fixed


def test_particle_walk_follows_its_seed_and_the_pde_has_none(synthetic, priors) -> None:
    runs = {ws: _annotator(synthetic, priors, walk="particles", walk_seed=ws).fields() for ws in (1, 2)}
    first = _annotator(synthetic, priors, walk="particles", walk_seed=1).fields()
    assert all(np.array_equal(x, y) for x, y in zip(first, runs[1]))
    assert any(not np.array_equal(x, y) for x, y in zip(first, runs[2]))
    pde = [_annotator(synthetic[:6], priors[:6], walk="pde", walk_seed=ws).fields() for ws in (1, 2)]
    assert all(np.array_equal(x, y) for x, y in zip(*pde))


def test_method_labels_are_seeded_by_the_rng(synthetic) -> None:
    method = Diffusion(walk="particles")  # the rng draws the box sides and the walk's stream
    a = method.initial_labels(synthetic[:8], "centroid", np.random.default_rng(3))
    b = method.initial_labels(synthetic[:8], "centroid", np.random.default_rng(3))
    c = method.initial_labels(synthetic[:8], "centroid", np.random.default_rng(4))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert any(not np.array_equal(x, y) for x, y in zip(a, c))
    assert all(x.dtype == np.float32 and set(np.unique(x)) <= {0.0, 1.0} for x in a)


def test_size_prior_points_reads_no_ground_truth(synthetic) -> None:
    method = Diffusion(size_prior="points")
    assert method.privileged is False and Diffusion().privileged is True and Diffusion.privileged is True
    assert "size_prior=points" in method.spec and method.describe()["privileged"] is False
    rng = np.random.default_rng(9)
    poisoned = [dataclasses.replace(s, mask=rng.integers(0, 256, s.shape).astype(np.uint8)) for s in synthetic[:8]]
    clean = method.initial_labels(synthetic[:8], "coarse", np.random.default_rng(0))
    dirty = method.initial_labels(poisoned, "coarse", np.random.default_rng(0))
    blind = method.initial_labels(visible_samples(method, synthetic[:8]), "coarse", np.random.default_rng(0))
    assert all(np.array_equal(x, y) and np.array_equal(x, z) for x, y, z in zip(clean, dirty, blind))
    with pytest.raises(ConfigError, match="size_prior=points"):
        Diffusion().initial_labels(visible_samples(method, synthetic[:2]), "centroid", np.random.default_rng(0))


def test_options_are_checked() -> None:
    for bad in ("prior=oracle", "walk=levy", "crf=fast", "size_prior=box", "val_fraction=1.5", "subset=30", "subset=0"):
        with pytest.raises(ConfigError):
            METHODS.get("diffusion")(**parse_spec(f"diffusion[{bad}]")[1])
    off = METHODS.get("diffusion")(**parse_spec("diffusion[bilevel=off,balance=off]")[1])
    assert off.options["bilevel"] is False and "bilevel=false" in off.spec


def test_crops_and_boxes_follow_the_public_code() -> None:
    assert grown_box((2, 30, 10, 40), (64, 42)) == (0, 34, 6, 42)  # up to 4 px, clipped to the image
    mask = np.zeros((64, 64), np.uint8)
    mask[30:32, 30:32] = 255  # a 4-pixel point target: the right side is drawn too (3..5)
    rng = np.random.default_rng(0)
    rights = {gt_priors(mask, np.array([[30, 30]]), rng, BOX_SIDES)[0].box[3] - 30 for _ in range(60)}
    assert rights == {3, 4, 5}


def test_sources_are_the_point_then_the_first_five_bright_maxima_in_the_segment() -> None:
    """Raster order, only maxima of their 7x7 window above mean + 1.5 std, only in the segment."""
    from methods._diffusion_field import Target, _as_u8, _sources
    from methods._imageops import rank_maxima
    from methods.mclc import TargetPrior

    grey = np.full((24, 40), 0.1, np.float32)
    peaks = [(2, 3), (2, 20), (2, 35), (11, 3), (11, 20), (11, 35), (20, 3), (20, 20)]
    for y, x in peaks:
        grey[y, x] = 0.9
    grey[20, 22] = 0.8  # within (20, 20)'s window: not a maximum
    segment = np.ones_like(grey)
    segment[2, 20] = 0.0  # a peak outside the segment
    t = Target(TargetPrior((12, 12), "spot", (0, 24, 0, 40)), (0, 24, 0, 40), grey, (12, 12), segment=segment)
    u8 = _as_u8(grey)
    got = _sources(t, u8, rank_maxima([u8])[0]).astype(int).tolist()
    assert got == [[12, 12], [2, 3], [2, 35], [11, 3], [11, 20], [11, 35]]


def test_labels_beat_naive_points_and_the_crf_helps(synthetic, priors) -> None:
    naive = label_quality(METHODS.get("point")().initial_labels(synthetic, "centroid", np.random.default_rng(0)), synthetic)["iou"]
    lattice = label_quality(_annotator(synthetic, priors).labels(), synthetic)["iou"]
    exact = label_quality(_annotator(synthetic, priors, crf="exact").labels(), synthetic)["iou"]
    no_crf = label_quality(_annotator(synthetic, priors, crf="off").labels(), synthetic)["iou"]
    assert naive < 15 and min(lattice, exact) > 3 * naive and min(lattice, exact) > no_crf


def _flat_field(size: int = 41, coef: float = 1.0) -> "DiffusionField":
    from methods._diffusion_walk import DiffusionField

    zero = np.zeros((size, size), np.float32)
    return DiffusionField(zero, zero, np.full((size, size), coef), np.array([[size // 2, size // 2]], float))


def test_pde_is_the_walks_diffusion_law() -> None:
    """On a flat crop the walk spreads with variance 2 D T per axis; so does the PDE (no
    noise), and both conserve the walkers."""
    from methods._diffusion_pde import pde_heat
    from methods._diffusion_walk import WalkSpec, particle_heat

    spec = WalkSpec(4000, 40, 0.2)  # T = 8, D = 1: variance 16
    pde = pde_heat([_flat_field()], spec)[0]
    walk = particle_heat([_flat_field()], spec, np.random.default_rng(0))[0]
    rows = np.arange(41, dtype=float)
    from methods._diffusion_pde import TOLERANCE

    for heat, tolerance, mass in ((pde, 0.02, 2 * TOLERANCE), (walk, 0.08, 1e-6)):  # pde: to its series' truncation
        assert heat.sum() == pytest.approx(4000, rel=mass)
        p = heat.sum(1) / heat.sum()
        mean = (p * rows).sum()
        assert ((p * (rows - mean) ** 2).sum()) == pytest.approx(16.0, rel=tolerance)
    assert (pde.sum(1) / pde.sum() * rows).sum() == pytest.approx(20.0, abs=1e-6)  # mass stays on the source's cell
    assert (walk.sum(1) / walk.sum() * rows).sum() == pytest.approx(19.5, abs=0.2)  # walkers start at its corner


def test_pde_follows_the_diffusivity_and_stays_in_the_crop() -> None:
    from methods._diffusion_pde import pde_heat
    from methods._diffusion_walk import WalkSpec

    from methods._diffusion_pde import TOLERANCE

    slow, fast = (pde_heat([_flat_field(15, c)], WalkSpec(1, 120, 0.4))[0] for c in (0.05, 3.0))
    assert slow.max() > 5 * fast.max() and fast.sum() == pytest.approx(1.0, rel=2 * TOLERANCE)  # the series' truncation
    assert fast.min() > 0.5 * fast.max()  # a long walk on a small crop fills it (no mass lost at the border)
