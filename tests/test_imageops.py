"""The diffusion annotator's image operations against scikit-image and hand-worked OpenCV rules.

OpenCV is not a dependency; its CLAHE, Otsu and 3x3 blur were checked against
opencv-python-headless 5.0 on 180 real images outside the test suite (identical
outputs). Here: scikit-image where it computes the same thing, and a direct,
pixel-by-pixel rewrite of OpenCV's CLAHE rules.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage.filters import rank, threshold_otsu

from methods._grey_slic import grey_slic
from methods import _imageops
from methods._imageops import (
    Clahe, _pad_reflect101, blur3, clahe_crops, gradient2, otsu_level, otsu_threshold, rank_entropy, rank_maxima, rank_maximum, shape_chunks,
    sorting_network,
)


def _clahe_reference(image: np.ndarray, clip: float = 1.0, tiles: int = 4) -> np.ndarray:
    """OpenCV's CLAHE written out per tile and per pixel (clahe.cpp, 8-bit, no SIMD)."""
    h, w = image.shape
    ext = image if (h % tiles == 0 and w % tiles == 0) else np.pad(image, ((0, tiles - h % tiles), (0, tiles - w % tiles)), mode="reflect")
    th, tw = ext.shape[0] // tiles, ext.shape[1] // tiles
    limit = max(int(clip * th * tw / 256), 1)
    scale = np.float32(255) / np.float32(th * tw)
    luts = np.zeros((tiles, tiles, 256), np.float32)
    for ty in range(tiles):
        for tx in range(tiles):
            hist = [0] * 256
            for v in ext[ty * th : (ty + 1) * th, tx * tw : (tx + 1) * tw].ravel():
                hist[v] += 1
            clipped = sum(max(c - limit, 0) for c in hist)
            hist = [min(c, limit) + clipped // 256 for c in hist]
            residual, i = clipped % 256, 0
            step = max(256 // residual, 1) if residual else 0
            while residual and i < 256:
                hist[i] += 1
                i, residual = i + step, residual - 1
            total = 0
            for i in range(256):
                total += hist[i]
                luts[ty, tx, i] = min(max(np.rint(np.float32(total) * scale), 0), 255)
    out = np.zeros_like(image)
    for y in range(h):
        fy = np.float32(y) * (np.float32(1) / np.float32(th)) - np.float32(0.5)
        y1 = int(np.floor(fy)); ya = fy - np.float32(y1)
        for x in range(w):
            fx = np.float32(x) * (np.float32(1) / np.float32(tw)) - np.float32(0.5)
            x1 = int(np.floor(fx)); xa = fx - np.float32(x1)
            a, b = max(y1, 0), min(y1 + 1, tiles - 1)
            c, d = max(x1, 0), min(x1 + 1, tiles - 1)
            v = image[y, x]
            one = np.float32(1)
            res = (luts[a, c, v] * (one - xa) + luts[a, d, v] * xa) * (one - ya) + (luts[b, c, v] * (one - xa) + luts[b, d, v] * xa) * ya
            out[y, x] = min(max(np.rint(res), 0), 255)
    return out


@pytest.mark.parametrize("shape", [(16, 24), (22, 19)])  # divisible; neither side divisible (padded)
def test_clahe_matches_the_written_out_rules_and_crops_agree(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    image = np.clip(rng.normal(90, 30, shape), 0, 255).astype(np.uint8)
    image[5:9, 6:10] = 240
    full = Clahe(image).crop(0, shape[0], 0, shape[1])
    np.testing.assert_array_equal(full, _clahe_reference(image))
    np.testing.assert_array_equal(Clahe(image).crop(3, 11, 4, 15), full[3:11, 4:15])  # lazily counted tiles


def test_clahe_of_a_constant_image_by_hand() -> None:
    # tiles of 2x2 px: clip limit 1, the 3 clipped counts go to bins 0, 85 and 170;
    # the LUT at 100 counts bins 0, 85 and 100: round(3 * 255 / 4) = 191
    np.testing.assert_array_equal(Clahe(np.full((8, 8), 100, np.uint8)).crop(0, 8, 0, 8), 191)


def test_otsu_level_splits_as_skimage_does() -> None:
    rng = np.random.default_rng(2)
    for _ in range(30):
        image = (rng.random((30, 40)) ** 3 * 255).astype(np.uint8)
        image[rng.random(image.shape) < 0.8] = 0  # mostly background, as the annotator's field
        level = otsu_level(np.bincount(image.ravel(), minlength=256))
        np.testing.assert_array_equal(image > level, image > threshold_otsu(image))


def test_float_otsu_equals_skimage() -> None:
    rng = np.random.default_rng(6)
    for _ in range(10):
        crop = (np.round(rng.random((13, 17)) ** 2 * 255) / 255).astype(np.float32)
        assert otsu_threshold(crop) == threshold_otsu(crop)
    assert otsu_threshold(np.full((3, 3), 0.5, np.float32)) == 0.5


@pytest.mark.parametrize("shape", [(7, 9), (1, 6), (5, 1), (2, 2)])
def test_blur3_is_the_quarter_half_quarter_kernel_with_reflect101(shape: tuple[int, int]) -> None:
    f = np.random.default_rng(3).random(shape).astype(np.float32)
    k = np.array([0.25, 0.5, 0.25])
    want = ndimage.correlate1d(ndimage.correlate1d(f.astype(np.float64), k, axis=1, mode="mirror"), k, axis=0, mode="mirror")
    np.testing.assert_allclose(blur3(f), want, rtol=1e-6)  # a single row or column is its own neighbour, as in OpenCV


def test_rank_filters_equal_skimage_on_odd_shapes() -> None:
    rng = np.random.default_rng(4)
    images = [(rng.random(s) ** 2 * rng.integers(2, 255)).astype(np.uint8) for s in ((1, 9), (3, 3), (12, 30), (41, 17))]
    for image, ours in zip(images, rank_entropy(images)):
        np.testing.assert_allclose(ours, rank.entropy(image, np.ones((5, 5))), atol=1e-12)
        np.testing.assert_array_equal(rank_maximum(image), rank.maximum(image, np.ones((7, 7))))


def test_sorting_network_sorts_every_0_1_input_of_its_size() -> None:
    n = 9  # the 0-1 principle: sorting all 2^n binary inputs proves the network
    values = ((np.arange(2**n)[:, None] >> np.arange(n)) & 1).T.copy()
    for a, b in sorting_network(n):
        lo = np.minimum(values[a], values[b])
        values[b] = np.maximum(values[a], values[b])
        values[a] = lo
    assert (np.diff(values, axis=0) >= 0).all()


def test_grey_slic_gives_skimages_partitions() -> None:
    from skimage.segmentation import slic

    rng = np.random.default_rng(5)
    crops = []
    for h, w in ((6, 6), (9, 31), (29, 30), (30, 29), (29, 30), (44, 50)):  # repeated shapes share a batch
        yy, xx = np.mgrid[:h, :w]
        blob = 0.3 + 0.5 * np.exp(-((yy - h / 2) ** 2 + (xx - w / 2) ** 2) / 12) + rng.normal(0, 0.06, (h, w))
        crops.append((np.round(np.clip(blob, 0, 1) * 255) / 255).astype(np.float32))
    for crop, ours in zip(crops, grey_slic(crops, 16, 0.32)):
        np.testing.assert_array_equal(ours, slic(crop, n_segments=16, compactness=0.32, channel_axis=None))



def test_rank_maxima_of_a_stack_equal_each_image_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stacked on zeros and filtered together (several stacks: a small chunk limit), each image
    gets its own 7x7 maximum: a neighbour's bright pixels never leak across the padding."""
    rng = np.random.default_rng(8)
    shapes = ((1, 1), (2, 9), (9, 2), (12, 30), (12, 30), (30, 7), (17, 17))
    images = [rng.integers(0, 256, s).astype(np.uint8) for s in shapes]
    images[3][:, -1] = 255  # bright edges next to the zero padding of its stack
    monkeypatch.setattr(_imageops, "MAXIMA_CHUNK", 900)
    assert len(shape_chunks(shapes, 900)) > 1
    for image, ours in zip(images, rank_maxima(images)):
        np.testing.assert_array_equal(ours, rank_maximum(image))
    np.testing.assert_array_equal(rank_maxima(images)[5], rank.maximum(images[5], np.ones((7, 7))))


def test_shape_chunks_take_every_index_once_and_keep_to_the_limit() -> None:
    rng = np.random.default_rng(9)
    shapes = [tuple(int(v) for v in rng.integers(1, 40, 2)) for _ in range(60)]
    chunks = shape_chunks(shapes, 4000)
    assert sorted(i for c in chunks for i in c) == list(range(60))
    for c in chunks:  # one array alone may exceed the limit; a group never does
        hm, wm = max(shapes[i][0] for i in c), max(shapes[i][1] for i in c)
        assert len(c) == 1 or len(c) * hm * wm <= 4000
    assert len(chunks) < 60  # and it does group


@pytest.mark.parametrize("h", [1, 2, 3, 5, 9])
def test_reflect101_padding_equals_numpys_reflect(h: int) -> None:
    rng = np.random.default_rng(h)
    for w in (1, 2, 3, 6):
        image = rng.integers(0, 256, (h, w)).astype(np.uint8)
        for ph in range(4):
            for pw in range(4):
                if (ph and h == 1) or (pw and w == 1):
                    continue  # nothing to reflect (np.pad refuses it too)
                want = np.pad(image, ((0, ph), (0, pw)), mode="reflect")
                np.testing.assert_array_equal(_pad_reflect101(image, ph, pw), want)


def test_clahe_of_an_empty_crop_is_empty() -> None:
    clahe = Clahe(np.random.default_rng(10).integers(0, 256, (16, 16)).astype(np.uint8))
    assert clahe.crop(5, 5, 2, 9).shape == (0, 7) and clahe.crop(3, 8, 4, 4).shape == (5, 0)


def test_gradient2_is_numpys_gradient_bit_for_bit() -> None:
    rng = np.random.default_rng(12)
    for shape in ((2, 2), (2, 9), (9, 2), (3, 3), (17, 29)):
        image = rng.random(shape).astype(np.float32)
        for ours, want in zip(gradient2(image), np.gradient(image)):
            assert ours.dtype == want.dtype
            np.testing.assert_array_equal(ours, want)


def test_clahe_crops_of_many_images_equal_each_images_own() -> None:
    """One LUT pass for images of different sizes (so different clip limits and scales), one
    without clipping, tiles already counted by an earlier crop, and an image without crops."""
    rng = np.random.default_rng(13)
    images = [(rng.random(s) ** 3 * 255).astype(np.uint8) for s in ((22, 19), (64, 48), (16, 24), (30, 30))]
    clips = (1.0, 1.0, 0.0, 2.0)
    boxes = [[(0, 22, 0, 19), (3, 9, 2, 5)], [(10, 30, 5, 40), (50, 64, 40, 48)], [(2, 14, 3, 20)], []]
    early = Clahe(images[1], clips[1])
    early.crop(0, 8, 0, 8)
    together = clahe_crops([Clahe(images[0], clips[0]), early] + [Clahe(im, c) for im, c in zip(images[2:], clips[2:])], boxes)
    for image, clip, image_boxes, crops in zip(images, clips, boxes, together):
        alone = Clahe(image, clip)
        assert len(crops) == len(image_boxes)
        for box, crop in zip(image_boxes, crops):
            np.testing.assert_array_equal(crop, alone.crop(*box))
    np.testing.assert_array_equal(together[0][0], _clahe_reference(images[0]))
