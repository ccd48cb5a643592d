"""The real datasets: split sizes, target counts, point labels, the Misc_111 repair."""

from __future__ import annotations

import numpy as np
import pytest

from benchmark.data import points as pointlib
from benchmark.data.loader import load_split
from benchmark.metrics import binarize_mask, components

pytestmark = pytest.mark.realdata

EXPECTED = {  # (train images, test images, test targets): field-notes 1.1 and 2.1
    "SIRST": (213, 214, 263),
    "NUDT-SIRST": (663, 664, 945),
    "IRSTD-1K": (800, 201, 297),
    "SIRST3": (1676, 1079, 1505),
}


@pytest.mark.parametrize("name", list(EXPECTED))
def test_split_sizes_and_target_counts(name: str, data_root, shared_cache) -> None:
    train = load_split(name, "train", data_root, shared_cache)
    test = load_split(name, "test", data_root, shared_cache)
    n_train, n_test, targets = EXPECTED[name]
    assert (len(train), len(test)) == (n_train, n_test)
    assert sum(len(components(binarize_mask(s.mask))[0]) for s in test.samples) == targets


def test_sirst3_is_the_union_with_subsets(data_root, shared_cache) -> None:
    test = load_split("SIRST3", "test", data_root, shared_cache)
    counts = {s: test.subsets.count(s) for s in set(test.subsets)}
    assert counts == {"SIRST": 214, "NUDT-SIRST": 664, "IRSTD-1K": 201}


def test_misc_111_coarse_point_is_repaired_onto_its_target(data_root, shared_cache) -> None:
    test = load_split("SIRST", "test", data_root, shared_cache)
    sample = next(s for s in test.samples if s.name == "Misc_111")
    assert sample.image.shape == (220, 325)
    assert len(sample.coarse) == 1
    r, c = sample.coarse[0]
    assert sample.mask[max(r - 2, 0) : r + 3, max(c - 2, 0) : c + 3].max() > 127  # lands on the target
    assert any("Misc_111" in message for message in test.repairs)


def test_centroid_derivation_reproduces_released_labels(data_root, shared_cache) -> None:
    train = load_split("SIRST", "train", data_root, shared_cache)
    for sample in train.samples:
        assert np.array_equal(pointlib.centroid_points(sample.mask), sample.centroid), sample.name


def test_derived_coarse_points_lie_on_targets_and_are_seeded(data_root, shared_cache) -> None:
    train = load_split("IRSTD-1K", "train", data_root, shared_cache)
    for sample in train.samples[:100]:
        a = pointlib.coarse_points(sample.mask, np.random.default_rng(1))
        b = pointlib.coarse_points(sample.mask, np.random.default_rng(1))
        assert np.array_equal(a, b)
        assert all(sample.mask[r, c] > 0 for r, c in a)
        assert len(a) <= len(components(sample.mask > 0)[0])
