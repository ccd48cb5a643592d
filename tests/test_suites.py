"""Suite files: per-detector profile tables and every built-in suite loading."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark.errors import ConfigError
from benchmark.per_detector import MISSING, for_detector
from benchmark.resolve import resolve
from benchmark.suites import available_suites, load_suite

GRID = """
description = "t"
profile = "quick"
detectors = ["DNANet", "ISNet", "UIUNet"]
methods = ["full"]
datasets = ["synthetic"]
labels = ["full"]
seeds = [0]
[profile_overrides]
epochs = 3
"""


def test_for_detector_picks_entry_then_default() -> None:
    table = {"ISNet": 1.0, "default": 0.25}
    assert for_detector(table, "isnet") == 1.0 and for_detector(table, "DNANet") == 0.25
    assert for_detector({"ISNet": 1.0}, "DNANet") is MISSING
    assert for_detector(0.5, "DNANet") == 0.5


def test_profile_override_table_resolves_per_detector(tmp_path: Path) -> None:
    path = tmp_path / "grid.toml"
    path.write_text(GRID + "detector_width = {ISNet = 1.0, UIUNet = 0.5}\n")
    cells = {c.detector: c for c in load_suite(str(path)).cells()}
    widths = {name: resolve(cell).profile.detector_width for name, cell in cells.items()}
    assert widths == {"DNANet": 0.25, "ISNet": 1.0, "UIUNet": 0.5}  # DNANet: no entry, no default -> quick's own
    assert all(resolve(c).profile.epochs == 3 for c in cells.values())
    assert resolve(cells["ISNet"]).key != resolve(cells["DNANet"]).key


def test_bad_table_field_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "grid.toml"
    path.write_text(GRID + "detector_widht = {ISNet = 1.0}\n")
    with pytest.raises(ConfigError, match="grid.toml.*detector_widht"):
        load_suite(str(path))


@pytest.mark.parametrize("name", available_suites())
def test_every_builtin_suite_loads(name: str) -> None:
    suite = load_suite(name)
    assert suite.description and suite.methods and suite.datasets
    if suite.kind == "train":
        assert suite.detectors


def test_key_hashes_what_runs_not_how_it_was_written() -> None:
    from benchmark.cells import Cell
    from benchmark.resolve import key_config

    plain = Cell("DNANet", "full", "synthetic", "full", 0, profile="quick")
    spelled = Cell("DNANet", "full", "synthetic", "full", 0, profile="quick", profile_overrides=(("detector_width", 0.25),))
    assert resolve(plain).key == resolve(spelled).key  # 0.25 is quick's own width
    shorter = Cell("DNANet", "full", "synthetic", "full", 0, profile="quick", profile_overrides=(("epochs", 3),))
    assert resolve(shorter).key != resolve(plain).key
    hashed = key_config(resolve(plain).config)["profile"]
    assert "standardize_logits" not in hashed and "pre_start_steps" not in hashed  # at their defaults: a new field moves no key
    assert hashed["target_prior"] == 0.01  # quick's own: kept
    assert hashed["milestones"] == (0.75,)  # differs from the default: kept
    assert "profile_overrides" not in key_config(resolve(spelled).config)["cell"]
