"""Profiles shrink the scale, never a method's own protocol, and say what they force."""

from __future__ import annotations

import pytest

import methods  # noqa: F401  (registers the methods)
from benchmark.cells import Cell
from benchmark.profiles import PROFILES
from benchmark.registry import METHODS
from benchmark.resolve import resolve


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_method_keeps_its_setting_except_what_the_profile_forces(profile: str) -> None:
    forced = dict(PROFILES[profile].forced)
    for name in METHODS.names():
        method = METHODS.get(name)()
        labels = "full" if "full" in method.label_types else method.label_types[0]
        resolved = resolve(Cell("DNANet", name, "synthetic", labels, 0, profile)).profile
        for field, value in method.paper_overrides().items():
            expected = forced.get(field, value)
            assert getattr(resolved, field) == expected, f"{profile}/{name}: {field}"


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_forced_setting_is_explained_and_recorded(profile: str) -> None:
    p = PROFILES[profile]
    for field, _ in p.forced:
        assert any(field in line for line in p.deviations), f"{profile}: forced {field} has no deviation line"
    if profile != "paper":
        assert p.deviations, f"{profile} shrinks the paper's protocol but names no deviation"
    config = resolve(Cell("DNANet", "pal", "synthetic", "centroid", 0, profile)).config
    assert tuple(config["profile"]["deviations"]) == p.deviations  # every record carries them


def test_pal_under_a_reduced_profile_trains_with_pals_optimizer_and_augmentation() -> None:
    pal = resolve(Cell("DNANet", "pal", "synthetic", "centroid", 0, "quick")).profile
    assert (pal.optimizer, pal.lr, pal.augmentation, pal.deep_supervision, pal.in_channels) == ("adamw", 1e-3, "pal", "sum", 3)
    override = resolve(Cell("DNANet", "pal", "synthetic", "centroid", 0, "quick", profile_overrides=(("lr", 2e-3),))).profile
    assert override.lr == 2e-3  # a user's explicit override still wins
