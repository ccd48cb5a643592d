"""The data side of the contract: crop geometry in every batch, augmentations by name,
the validation split, per-image losses, decoder features declared by every detector."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmark import losses
from benchmark.data.augmentation import AUGMENTATIONS, Augmented, Geometry, register_augmentation
from benchmark.data.split import Sample, carve_validation
from benchmark.data.training import TrainingData
from benchmark.errors import UnknownNameError
from benchmark.inference import predict_probs, predict_with_features
from benchmark.profiles import get_profile
from benchmark.registry import DETECTORS
from detectors.base import build_detector, detector_info


def samples(n: int = 6, size: tuple[int, int] = (48, 40)) -> list[Sample]:
    rng = np.random.default_rng(1)
    out = []
    for i in range(n):
        points = np.array([[rng.integers(size[0]), rng.integers(size[1])]], np.int32)
        out.append(Sample(f"s{i}", "all", rng.integers(0, 256, size, dtype=np.uint8), None, points, points))
    return out


def training(augmentation: str, crop: int = 32, n: int = 6) -> tuple[TrainingData, list[np.ndarray]]:
    data = samples(n)
    labels = [np.random.default_rng(i).random(s.shape).astype(np.float32) for i, s in enumerate(data)]  # every pixel distinct
    profile = get_profile("smoke").with_overrides({"augmentation": augmentation, "crop_size": crop, "batch_size": n})
    return TrainingData(data, labels, "centroid", (100.0, 50.0), 1, profile, seed=3), labels


@pytest.mark.parametrize("augmentation", ["basic", "pal"])
def test_each_crop_writes_back_onto_its_window_of_the_image(augmentation: str) -> None:
    data, labels = training(augmentation)
    exact = warped = 0
    for epoch in range(8):
        batch = next(iter(data.loader(epoch)))
        for i, index in enumerate(batch["index"].tolist()):
            if bool(batch["warped"][i]):
                warped += 1
                continue
            top, left = batch["crop"][i].tolist()
            geometry = Geometry(top, left, tuple(bool(f) for f in batch["flips"][i]))
            window, values = geometry.to_image(batch["label"][i, 0].numpy(), labels[index].shape)
            np.testing.assert_array_equal(values, labels[index][window])
            exact += 1
    assert exact > 10
    assert (warped > 0) == (augmentation == "pal")  # only PAL's list rotates, shifts and scales


def test_a_crop_larger_than_its_image_drops_the_padding() -> None:
    label = np.arange(12, dtype=np.float32).reshape(3, 4)
    crop = np.pad(label, ((0, 3), (0, 2)))[:, ::-1]  # padded to 6x6 then flipped left-right
    window, values = Geometry(0, 0, (False, True, False)).to_image(crop, label.shape)
    np.testing.assert_array_equal(values, label)
    assert window == (slice(0, 3), slice(0, 4))


def _corner(image, label, points, norm, profile, rng) -> Augmented:
    c = profile.crop_size
    return Augmented(image[:c, :c].astype(np.float32), label[:c, :c], points[:c, :c], Geometry(0, 0))


if "test_corner" not in AUGMENTATIONS.names():
    register_augmentation("test_corner")(_corner)


def test_augmentations_are_named_from_a_registry() -> None:
    assert {"basic", "pal", "test_corner"} <= set(AUGMENTATIONS.names())
    data, labels = training("test_corner", crop=16)
    batch = next(iter(data.loader(0)))
    assert batch["crop"].tolist() == [[0, 0]] * 6
    np.testing.assert_array_equal(batch["label"][0, 0].numpy(), labels[int(batch["index"][0])][:16, :16])
    with pytest.raises(UnknownNameError, match="basic"):
        next(iter(training("nonesuch")[0].loader(0)))


def test_validation_split_is_fixed_disjoint_and_sized() -> None:
    train, val = carve_validation(20, 0.25)
    again_train, again_val = carve_validation(20, 0.25)
    assert val.tolist() == again_val.tolist() and len(val) == 5
    assert not set(train) & set(val) and sorted([*train, *val]) == list(range(20))
    assert carve_validation(20, 0.0)[1].size == 0 and len(carve_validation(3, 0.01)[1]) == 1
    with pytest.raises(ValueError):
        carve_validation(10, 1.0)


def test_per_image_losses() -> None:
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(4, 1, 8, 8, generator=g)
    target = (torch.rand(4, 1, 8, 8, generator=g) > 0.7).float()
    focal = losses.per_image(losses.gaussian_focal)(logits, target)
    assert focal.shape == (4,)
    for i in range(4):
        torch.testing.assert_close(focal[i], losses.gaussian_focal(logits[i : i + 1], target[i : i + 1]))
    values, w = torch.tensor([1.0, 2.0, 4.0]), torch.tensor([0.0, 1.0, 2.0])
    assert float(losses.weighted_mean(values, w)) == pytest.approx((0 + 2 + 8) / 3)
    with pytest.raises(ValueError):
        losses.weighted_mean(values, torch.ones(2))


@pytest.mark.parametrize("name", DETECTORS.names())
def test_every_detector_declares_its_feature_map(name: str) -> None:
    info = detector_info(name)
    for width in (0.125, 0.25):
        model = build_detector(name, in_channels=1, width=width).eval()
        with torch.no_grad():
            out = model(torch.randn(2, 1, 32, 32))
        assert out.features is not None
        assert out.features.shape[1] == info.channels_at(width), (name, width)
        assert 32 // out.features.shape[-1] == info.feature_stride and 32 // out.features.shape[-2] == info.feature_stride


def test_predict_returns_features_beside_the_same_probabilities() -> None:
    torch.manual_seed(0)
    model = build_detector("DNANet", in_channels=1, width=0.125)
    images = [s.image for s in samples(3, size=(40, 50))]
    both = predict_with_features(model, images, (100.0, 50.0), 1, torch.device("cpu"))
    probs = predict_probs(model, images, (100.0, 50.0), 1, torch.device("cpu"))
    for (p, f), q in zip(both, probs):
        np.testing.assert_array_equal(p, q)
        assert p.shape == (40, 50) and f.shape == (detector_info("DNANet").channels_at(0.125), 40, 50)
