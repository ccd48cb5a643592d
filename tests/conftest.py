"""Shared fixtures: real-data location, a tiny dataset folder, isolated caches."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def real_data_root() -> Path | None:
    root = Path(os.environ.get("POINTBENCH_DATA", DEFAULT_DATA))
    return root if (root / "SIRST").is_dir() else None


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The real datasets. Under CI a missing folder fails the test instead of skipping it."""
    root = real_data_root()
    if root is None:
        message = f"real data not found at {os.environ.get('POINTBENCH_DATA', DEFAULT_DATA)} (set POINTBENCH_DATA)"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)
        pytest.skip(message)
    return root


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One Arrow cache folder for the whole test session (real data loads once)."""
    return tmp_path_factory.mktemp("pointbench-cache")
