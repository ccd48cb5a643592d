"""The generic registry: registration, lookup errors, wildcards, third-party entry points."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.errors import UnknownNameError
from benchmark.registry import DATASETS, DETECTORS, METHODS, Registry

REPO = Path(__file__).resolve().parents[1]


def test_builtin_entries_are_discovered() -> None:
    assert {"DNANet", "ISNet", "ALCLNet", "MLCLNet", "GGLNet", "MSDANet"} <= set(DETECTORS.names())
    assert {"full", "point"} <= set(METHODS.names())
    assert {"SIRST", "NUDT-SIRST", "IRSTD-1K", "SIRST3", "synthetic"} <= set(DATASETS.names())


def test_unknown_name_lists_known_and_suggests_closest() -> None:
    with pytest.raises(UnknownNameError) as err:
        DETECTORS.resolve_name("DNANte")
    message = str(err.value)
    assert "Did you mean 'DNANet'" in message and "ISNet" in message


def test_lookup_is_case_insensitive_and_wildcards_work() -> None:
    assert DETECTORS.resolve_name("dnanet") == "DNANet"
    assert DETECTORS.names("*CL*") == ["ALCLNet", "MLCLNet"]
    assert DATASETS.names("SIRST*") == ["SIRST", "SIRST3"]


def test_duplicates_and_bad_names_raise() -> None:
    reg: Registry[int] = Registry("thing", None, "pointbench.test-things")
    reg.add("a", 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("a", 2)
    with pytest.raises(ValueError, match="differs only in case"):
        reg.add("A", 3)
    with pytest.raises(ValueError, match="invalid"):
        reg.add("x[y]", 4)


def _install_plugin(site: Path) -> None:
    """A tiny installed distribution: a package plus its dist-info with an entry point."""
    pkg = site / "pb_plugin_demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "from methods.base import Method, register_method\n"
        "@register_method\n"
        "class Demo(Method):\n"
        "    name = 'demo_points'\n"
        "    description = 'a third-party method'\n"
    )
    info = site / "pb_plugin_demo-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pb-plugin-demo\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pointbench.methods]\ndemo_points = pb_plugin_demo\n")
    (info / "RECORD").write_text("")


def test_third_party_method_is_listed(tmp_path: Path) -> None:
    _install_plugin(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    out = subprocess.run(
        [sys.executable, "-m", "benchmark.cli", "list", "methods", "--json"],
        capture_output=True, text=True, env=env, check=True, timeout=120,
    )
    listed = {m["name"]: m for m in json.loads(out.stdout)}
    assert "demo_points" in listed and "point" in listed
    assert "entry point" in listed["demo_points"]["source"]
