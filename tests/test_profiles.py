"""Profiles shrink the scale, never a method's own protocol, and say what they force."""

from __future__ import annotations

import pytest

import methods  # noqa: F401  (registers the methods)
from benchmark.cells import Cell
from benchmark.profiles import PROFILES, SCALE_FIELDS
from benchmark.registry import METHODS
from benchmark.resolve import resolve


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_method_keeps_its_setting_except_what_the_profile_forces(profile: str) -> None:
    forced, scale = dict(PROFILES[profile].forced), PROFILES[profile].lr_scale
    for name in METHODS.names():
        method = METHODS.get(name)()
        labels = "full" if "full" in method.label_types else method.label_types[0]
        resolved = resolve(Cell("DNANet", name, "synthetic", labels, 0, profile)).profile
        own = {"lr": PROFILES[profile].lr, **method.paper_overrides()}
        for field, value in own.items():
            expected = forced.get(field, value)
            if field in SCALE_FIELDS and PROFILES[profile].deviations:
                expected = getattr(PROFILES[profile], field)  # a reduced profile's batch and crop are its scale
            if field == "scheduler" and value == "constant" and scale > 1:
                expected = PROFILES[profile].scheduler  # a raised constant rate settles at the profile's step
            if field == "lr":
                expected = pytest.approx(expected * scale)  # the method's own rate, scaled
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
    assert (pal.optimizer, pal.augmentation, pal.deep_supervision, pal.in_channels) == ("adamw", "pal", "sum", 3)
    assert pal.lr == pytest.approx(1e-3 * PROFILES["quick"].lr_scale)  # PAL's own rate, scaled as every method's
    override = resolve(Cell("DNANet", "pal", "synthetic", "centroid", 0, "quick", profile_overrides=(("lr", 2e-3),))).profile
    assert override.lr == 2e-3  # a user's explicit override still wins


def test_lr_scale_multiplies_each_methods_own_rate_and_an_explicit_lr_wins() -> None:
    scale = PROFILES["cpu"].lr_scale
    assert scale != 1.0
    pal = resolve(Cell("DNANet", "pal", "SIRST", "centroid", 0, "cpu")).profile
    full = resolve(Cell("DNANet", "full", "SIRST", "full", 0, "cpu")).profile
    assert pal.lr == pytest.approx(1e-3 * scale) and full.lr == pytest.approx(5e-4 * scale)  # PAL's AdamW 1e-3, BasicIRSTD's 5e-4
    explicit = resolve(Cell("DNANet", "pal", "SIRST", "centroid", 0, "cpu", profile_overrides=(("lr", 3e-4),))).profile
    assert explicit.lr == 3e-4
    rescaled = resolve(Cell("DNANet", "full", "SIRST", "full", 0, "cpu", profile_overrides=(("lr_scale", 2.0),))).profile
    assert rescaled.lr == pytest.approx(1e-3) and rescaled.lr_scale == 2.0


def test_cpu_profile_forces_target_bearing_crops_on_the_plain_crop_methods() -> None:
    for name in ("point", "lesps", "pal"):
        assert METHODS.get(name)().paper_overrides()["pos_prob"] == 0.0  # their code: plain random crops
        assert resolve(Cell("DNANet", name, "SIRST", "centroid", 0, "cpu")).profile.pos_prob == 0.5
    assert resolve(Cell("DNANet", "point", "SIRST", "centroid", 0, "paper")).profile.pos_prob == 0.0


@pytest.mark.parametrize("profile", ["cpu", "quick", "short", "smoke"])
def test_a_reduced_profile_keeps_its_batch_and_crop_over_a_methods_published_ones(profile: str) -> None:
    own = METHODS.get("diffusion")().paper_overrides()
    assert (own["batch_size"], own["crop_size"]) == (16, 256)  # Diffuse to Detect's train.py
    resolved = resolve(Cell("DNANet", "diffusion", "SIRST", "centroid", 0, profile)).profile
    base = PROFILES[profile]
    assert (resolved.batch_size, resolved.crop_size) == (base.batch_size, base.crop_size)
    assert resolved.optimizer == "adamw" and resolved.augmentation == "pal"  # the method's own setting stays
    paper = resolve(Cell("DNANet", "diffusion", "SIRST", "centroid", 0, "paper")).profile
    assert (paper.batch_size, paper.crop_size) == (16, 256)
    asked = resolve(Cell("DNANet", "diffusion", "SIRST", "centroid", 0, profile, profile_overrides=(("crop_size", 96),)))
    assert asked.profile.crop_size == 96  # a user's explicit setting still wins


@pytest.mark.parametrize("name", ["pal", "diffusion"])
def test_a_constant_rate_that_a_profile_raises_takes_the_profiles_step(name: str) -> None:
    assert METHODS.get(name)().paper_overrides()["scheduler"] == "constant"  # their code: no schedule
    labels = METHODS.get(name)().label_types[0]
    for profile in ("cpu", "quick"):
        assert PROFILES[profile].lr_scale > 1
        resolved = resolve(Cell("DNANet", name, "SIRST", labels, 0, profile)).profile
        assert (resolved.scheduler, resolved.milestones) == ("multistep", PROFILES[profile].milestones)
        assert any("constant rate" in line for line in PROFILES[profile].deviations)  # and the records say so
    for profile in ("paper", "short", "smoke"):  # no raised rate: their own constant schedule
        assert PROFILES[profile].lr_scale == 1.0
        assert resolve(Cell("DNANet", name, "SIRST", labels, 0, profile)).profile.scheduler == "constant"
    unscaled = resolve(Cell("DNANet", name, "SIRST", labels, 0, "cpu", profile_overrides=(("scheduler", "constant"),)))
    assert unscaled.profile.scheduler == "constant"  # a user's explicit setting still wins
