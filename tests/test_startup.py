"""Listing, status and reports never import torch (lazy registry entries, torch-free method
modules); the command line takes -v anywhere and only the options a command uses; plugin
entry points must name their method; logs show progress without a terminal (issue 9,
points 11-13)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import build_parser

REPO = Path(__file__).resolve().parents[1]


def python(code: str, *, path: list[Path] = (), cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*map(str, path), str(REPO)])}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


# 11. no torch where nothing trains ---------------------------------------------------------------
def test_list_status_and_report_never_import_torch(tmp_path: Path) -> None:
    from tests.test_data_layout import make_dataset

    make_dataset(tmp_path / "data", "SIRST", n=4)
    reference = REPO / "results" / "reference"
    commands = [
        ["list", "methods"], ["list", "datasets"], ["list", "suites"],
        ["status", "--suite", "smoke", "--data-root", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache"),
         "--results", str(tmp_path)],
        ["report", "--results", str(reference)],
    ]
    code = (
        "import sys\nfrom benchmark.cli import main\n"
        f"codes = [main(argv) for argv in {commands!r}]\n"
        "imported = sorted(m for m in sys.modules if m == 'torch' or m.startswith(('detectors.', 'ray')))\n"
        "print('RESULT', codes, imported)\n"
    )
    done = python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "RESULT [0, 0, 0, 0, 0] []"


def test_lazy_entries_are_every_builtin_and_load_on_use() -> None:
    code = (
        "import importlib, pkgutil, sys\n"
        "from benchmark.registry import DETECTORS, METHODS\n"
        "lazy = (DETECTORS.names(), METHODS.names())\n"
        "assert 'torch' not in sys.modules and not any(m.startswith('detectors.') for m in sys.modules)\n"
        "DETECTORS.get('dnanet')\n"
        "assert 'torch' in sys.modules and 'detectors.dnanet' in sys.modules and 'detectors.isnet' not in sys.modules\n"
        "for pkg in ('detectors', 'methods'):\n"
        "    for info in pkgutil.iter_modules(importlib.import_module(pkg).__path__):\n"
        "        importlib.import_module(f'{pkg}.{info.name}')\n"
        "print('SAME', lazy == (sorted(DETECTORS._entries), sorted(METHODS._entries)))\n"
    )
    done = python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "SAME True"  # the source scan finds exactly what importing registers


# 13. plugins -------------------------------------------------------------------------------------
def install_plugin(site: Path, entry: str, body: str, name: str = "pb_plugin_lazy") -> None:
    pkg = site / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import sys\nsys.modules.setdefault('pb_plugin_imported', sys)\n" + body)
    info = site / f"{name}-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[pointbench.methods]\n{entry}\n")
    (info / "RECORD").write_text("")


def test_a_class_entry_point_is_lazy_and_carries_its_distribution(tmp_path: Path) -> None:
    install_plugin(tmp_path, "lazy_points = pb_plugin_lazy:Lazy",
                   "from methods.base import Method\nclass Lazy(Method):\n    name = 'lazy_points'\n")
    code = (
        "import sys\nfrom benchmark.registry import METHODS\n"
        "assert 'lazy_points' in METHODS.names() and 'pb_plugin_imported' not in sys.modules\n"
        "dist = METHODS.distribution('lazy_points')\n"
        "assert 'pb_plugin_imported' not in sys.modules\n"
        "cls = METHODS.get('lazy_points')\n"
        "print('OK', dist, cls.name, METHODS.entry('lazy_points').source)\n"
    )
    done = python(code, path=[tmp_path])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "OK ('pb-plugin-lazy', '0.3') lazy_points entry point lazy_points = pb_plugin_lazy:Lazy"


@pytest.mark.parametrize("body, message", [
    ("from methods.base import Method\nclass Lazy(Method):\n    description = 'no name'\n",
     "is a class without a class attribute 'name'"),
    ("from methods.base import Method\nclass Lazy(Method):\n    name = 'other'\n",
     "whose name is 'other': register it under its own name"),
])
def test_a_method_without_its_name_is_refused(tmp_path: Path, body: str, message: str) -> None:
    install_plugin(tmp_path, "lazy_points = pb_plugin_lazy:Lazy", body)
    done = python("import sys\nfrom benchmark.cli import main\nsys.exit(main(['list', 'methods']))", path=[tmp_path])
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "entry point lazy_points = pb_plugin_lazy:Lazy" in done.stderr
    assert "Traceback" not in done.stderr


# 12. the command line ------------------------------------------------------------------------------
def test_verbose_after_the_subcommand_and_only_used_options() -> None:
    parser = build_parser()
    assert parser.parse_args(["list", "methods", "-v"]).verbose is True
    assert parser.parse_args(["-v", "status"]).verbose is True
    assert parser.parse_args(["report"]).verbose is False
    assert parser.parse_args(["report", "--data-root", "x"]).data_root == "x"  # the qualitative grids' real images
    for argv in (["report", "--cache-dir", "x"], ["status", "--executor", "ray"],
                 ["labels", "--method", "point", "--dataset", "SIRST", "--results", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(argv)
    assert parser.parse_args(["report", "--results", "a", "--results", "b"]).results == ["a", "b"]


def test_logs_show_one_line_per_evaluated_epoch_without_a_terminal(tmp_path: Path, shared_cache: Path) -> None:
    from benchmark.cells import Cell
    from benchmark.dispatch import plan
    from benchmark.serial_executor import run_serial
    from benchmark.engine import RunOptions
    from benchmark.store import Store

    tiny = Cell("DNANet", "full", "synthetic", "full", 0, profile="smoke",
                profile_overrides=(("epochs", 2), ("max_train_images", 4), ("max_test_images", 2)))
    store = Store(tmp_path, "t")
    lines: list[str] = []
    run_serial(plan([tiny], store).todo, store, RunOptions(cache_dir=shared_cache, progress=False, threads=1), echo=lines.append)
    epochs = [l for l in lines if " epoch " in l]
    assert [l.split(" epoch ")[1].split(":")[0] for l in epochs] == ["1/2", "2/2"]
    assert all("loss " in l and "IoU " in l and " s this epoch" in l for l in epochs)


def test_json_output_of_status_is_strict(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from benchmark.cli import main

    assert main(["status", "--results", str(tmp_path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    from benchmark.suites import load_suite

    quick = load_suite("quick")
    assert payload["pending"]["count"] == len(quick.methods) and payload["stale"]["count"] == 0
