"""COM (level-set annotation from points): masks on hand-made images, no mask access, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import measure

from benchmark.data.split import Sample
from benchmark.errors import ConfigError
from benchmark.pseudolabels import make_initial_labels
from benchmark.registry import METHODS
from methods.com import COM, com_mask, fill_contour

YY, XX = np.mgrid[:96, :150]


def _disc(cy: int, cx: int, r: int) -> np.ndarray:
    return (YY - cy) ** 2 + (XX - cx) ** 2 <= r * r


def _image(*discs: np.ndarray, noise: float = 3.0, seed: int = 0) -> np.ndarray:
    img = np.full(YY.shape, 20.0)
    for d in discs:
        img[d] = 200.0
    img += np.random.default_rng(seed).normal(0.0, noise, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _sample(image: np.ndarray, points: list[tuple[int, int]], name: str = "x") -> Sample:
    pts = np.asarray(points, dtype=np.int32).reshape(-1, 2)
    return Sample(name=name, subset="", image=image, mask=None, centroid=pts, coarse=pts)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a & b)) / max(int(np.count_nonzero(a | b)), 1)


def _labels(samples: list[Sample], **options: object) -> list[np.ndarray]:
    return COM(**options).initial_labels(samples, "centroid", np.random.default_rng(0))


def test_registered_and_options() -> None:
    cls = METHODS.get("com")
    assert cls is COM and cls.cache_initial_labels and not cls.privileged
    assert cls().options["bias"] == 20 and cls().options["ratio"] == 2
    with pytest.raises(ConfigError):
        cls(bais=10)
    with pytest.raises(ConfigError):
        cls(contour="largest")


def test_disc_is_covered() -> None:
    disc = _disc(48, 70, 10)
    (label,) = _labels([_sample(_image(disc), [(48, 70)])])
    assert label.dtype == np.float32 and set(np.unique(label)) <= {0.0, 1.0}
    assert _iou(label > 0.5, disc) > 0.8


def test_flat_background_gives_no_big_mask() -> None:
    """A flat window (COM would divide by zero or threshold everything) gives the point pixel at most.

    Quantized near-flat noise is another matter: COM stretches any window to [0, 255], and
    such a window can trigger its corner-flood failure (see the module notes); not tested.
    """
    dark, grey = np.zeros(YY.shape, np.uint8), np.full(YY.shape, 90, np.uint8)
    labels = _labels([_sample(dark, [(48, 70)]), _sample(grey, [(48, 70)]), _sample(grey, [(0, 149)])])
    assert all(label.sum() <= 1 for label in labels)


def test_two_points_get_two_regions() -> None:
    a, b = _disc(40, 30, 8), _disc(50, 115, 6)  # windows 40x40 apart: no overlap
    (label,) = _labels([_sample(_image(a, b), [(40, 30), (50, 115)])])
    mask = label > 0.5
    assert _iou(mask & (XX < 75), a) > 0.7 and _iou(mask & (XX >= 75), b) > 0.7


def test_first_contour_rule_and_point_variant() -> None:
    """COM keeps the first zero-level path (raster order); ``contour=point`` keeps the point's."""
    upper, target = _disc(35, 70, 4), _disc(52, 70, 6)  # both inside the point's window
    sample = _sample(_image(upper, target), [(52, 70)])
    first, at_point = _labels([sample])[0] > 0.5, _labels([sample], contour="point")[0] > 0.5
    assert _iou(first, upper) > 0.4 and not (first & target).any()
    assert _iou(at_point, target) > 0.6 and not (at_point & upper).any()


def test_rasterization_follows_com() -> None:
    """Truncated vertices form a wall that is excluded: a lone pixel vanishes, a block loses its bottom/right rim."""
    phi = np.ones((10, 10))
    phi[5, 5] = -1.0
    (diamond,) = measure.find_contours(phi, 0.0)
    assert not fill_contour(diamond, phi.shape).any()
    phi = np.ones((10, 10))
    phi[2:6, 2:6] = -1.0  # a 4x4 region
    (square,) = measure.find_contours(phi, 0.0)
    expected = np.zeros((10, 10), bool)
    expected[2:5, 2:5] = True
    assert np.array_equal(fill_contour(square, phi.shape), expected)


def test_never_reads_masks_and_deterministic() -> None:
    disc = _disc(48, 70, 7)
    samples = [_sample(_image(disc, seed=s), [(48, 70)], name=str(s)) for s in range(3)]
    method = COM()
    first, *_ = make_initial_labels(method, samples, "hand", "centroid", seed=0)  # masks hidden by the harness too
    again = method.initial_labels(samples, "centroid", np.random.default_rng(123))
    assert all(np.array_equal(x, y) for x, y in zip(first, again))
    assert all(np.array_equal(com_mask(s.image, s.centroid), l > 0.5) for s, l in zip(samples, first))


def test_points_at_image_border() -> None:
    """Windows are clipped to the image; points on the edge and corner still give a mask."""
    img = _image(_disc(0, 0, 6), _disc(95, 75, 5))
    (label,) = _labels([_sample(img, [(0, 0), (95, 75)])])
    assert label.shape == img.shape and label[:8, :8].sum() > 0 and label[88:, 68:83].sum() > 0
