"""Stage what ``pointbench bench gpu`` needs on a GPU machine that only sees the working tree.

    python -m benchmark.bench.gpu_data --from ../shared/data           # SIRST -> .gpu-data/SIRST
    python -m benchmark.bench.gpu_data --from ../shared/data --wheels  # and the datasets wheels -> .gpu-wheels/

Both folders are git-ignored (never committed) and travel as the device tool's
``carry`` paths. SIRST is about 20 MB; the three wheels (``datasets``, ``dill``,
``multiprocess``: the packages pointbench needs that the GPU image lacks) under 1 MB.
``--wheels`` runs ``pip download`` once, here; nothing is downloaded on the GPU machine
or at run time.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

DATA = Path(".gpu-data")
WHEELS = Path(".gpu-wheels")
DATASETS = ("SIRST",)
SUBFOLDERS = ("images", "masks", "masks_centroid", "masks_coarse", "img_idx")
# the versions this project is tested with (pyproject's), for the GPU image's Python 3.12
WHEEL_PINS = ("datasets==5.2.0", "dill==0.4.1", "multiprocess==0.70.19")


def stage_data(source: Path, target: Path = DATA, datasets: tuple[str, ...] = DATASETS) -> list[Path]:
    """Copy each dataset's layout folders from ``source`` into ``target`` (replacing an older copy)."""
    copied = []
    for name in datasets:
        src = source / name
        if not (src / "images").is_dir():
            raise SystemExit(f"error: {src} is not a dataset folder (no images/); pass --from the folder holding {name}/")
        dst = target / name
        if dst.exists():
            shutil.rmtree(dst)
        for sub in SUBFOLDERS:
            if (src / sub).is_dir():
                shutil.copytree(src / sub, dst / sub)
        copied.append(dst)
    return copied


def wheel_command(target: Path = WHEELS) -> list[str]:
    """``pip download`` of the pinned wheels for the GPU image (x86-64, CPython 3.12)."""
    platforms = [a for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
                 for a in ("--platform", p)]
    return [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
            "--implementation", "cp", *platforms, "-d", str(target), *WHEEL_PINS]


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmark.bench.gpu_data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--from", dest="source", required=True, help="folder holding SIRST/ (e.g. ../shared/data)")
    parser.add_argument("--to", default=str(DATA), help=f"where the copy goes (default {DATA}, git-ignored)")
    parser.add_argument("--wheels", action="store_true", help=f"also pip-download the wheels into {WHEELS}/")
    args = parser.parse_args(argv)
    for folder in stage_data(Path(args.source), Path(args.to)):
        print(f"copied {folder} ({folder_mb(folder):.1f} MB)")
    if args.wheels:
        subprocess.run(wheel_command(), check=True)
        print(f"wheels in {WHEELS} ({folder_mb(WHEELS):.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
