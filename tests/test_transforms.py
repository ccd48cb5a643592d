"""Training augmentation and test-time padding: alignment, positive crops, original sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark.data import transforms
from benchmark.inference import predict_probs
from benchmark.padding import pad_bottom_right, padded_size
from detectors.base import build_detector


def test_positive_crop_always_contains_a_labelled_pixel() -> None:
    label = np.zeros((200, 300), np.float32)
    label[150, 250] = 1.0
    for seed in range(50):
        rng = np.random.default_rng(seed)
        (crop,) = transforms.random_crop([label], label > 0, 64, pos_prob=1.0, rng=rng)
        assert crop.shape == (64, 64) and crop.sum() == 1.0


def test_uniform_crops_miss_a_tiny_target_sometimes() -> None:
    label = np.zeros((256, 256), np.float32)
    label[128, 128] = 1.0  # a uniform 64-crop holds it with probability (64/193)^2, about 11%
    hits = [transforms.random_crop([label], label > 0, 64, 0.0, np.random.default_rng(s))[0].sum() for s in range(200)]
    assert 5 < sum(hits) < 60


def test_small_images_are_zero_padded_to_the_crop() -> None:
    image = np.ones((40, 50), np.float32)
    crop, = transforms.random_crop([image], image > 0, 64, 0.5, np.random.default_rng(0))
    assert crop.shape == (64, 64) and crop.sum() == 40 * 50


def test_flips_keep_image_and_label_aligned() -> None:
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    label = (image == 5).astype(np.float32)
    for seed in range(16):
        a, b = transforms.random_flips([image, label], np.random.default_rng(seed))
        assert a[b == 1].tolist() == [5.0]


def test_padding_policy() -> None:
    assert [padded_size(s) for s in (32, 33, 100, 256, 220)] == [32, 64, 128, 256, 224]
    x = np.ones((2, 100, 64), np.float32)
    y = pad_bottom_right(x)
    assert y.shape == (2, 128, 64) and y[:, :100].sum() == x.sum() and y[:, 100:].sum() == 0


def test_inference_returns_original_sizes_and_ignores_batching() -> None:
    torch.manual_seed(0)
    model = build_detector("DNANet", in_channels=1, width=0.125)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, s, dtype=np.uint8) for s in [(100, 75), (64, 64), (100, 75), (33, 97)]]
    together = predict_probs(model, images, (100.0, 30.0), 1, torch.device("cpu"), batch_size=8)
    alone = [predict_probs(model, [im], (100.0, 30.0), 1, torch.device("cpu"))[0] for im in images]
    for image, a, b in zip(images, together, alone):
        assert a.shape == image.shape and a.dtype == np.float32
        assert np.allclose(a, b, atol=1e-5)
        assert 0.0 <= a.min() and a.max() <= 1.0
    assert model.training  # restored after inference


def test_norm_stats_are_means_of_per_image_statistics() -> None:
    from benchmark.data.split import Sample

    samples = [Sample("a", "x", np.full((4, 4), 10, np.uint8), None, np.zeros((0, 2), np.int32), np.zeros((0, 2), np.int32)),
               Sample("b", "x", np.array([[0, 20]] * 2, np.uint8), None, np.zeros((0, 2), np.int32), np.zeros((0, 2), np.int32))]
    mean, std = transforms.norm_stats(samples)
    assert mean == pytest.approx(10.0) and std == pytest.approx(5.0)  # mean of per-image stds: (0 + 10) / 2
