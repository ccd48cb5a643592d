"""The image and ground truth under a saved window, read from the data root at report time.

Records of real datasets keep only what pointbench made (maps, labels and each window's
box, ``benchmark/evidence.py``); the datasets' own pixels stay in the data root. A
qualitative grid over such records draws their image and ground-truth columns from
``--data-root`` when it is given and holds the files, and leaves them blank otherwise
(saying so in the figure's title). Torch-free: PIL and numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.data.layout import read_grey_png, relative_paths
from benchmark.errors import UnknownNameError
from benchmark.metrics import binarize_mask


@dataclass
class WindowSource:
    """Windows of one dataset's files under ``data_root`` (None: no data root given)."""

    data_root: Path | None
    dataset: str

    def _folders(self) -> list[Path]:
        from benchmark.data.catalog import dataset_spec

        if self.data_root is None:
            return []
        try:
            parts = dataset_spec(self.dataset).parts or (self.dataset,)
        except UnknownNameError:
            parts = (self.dataset,)  # a user's dataset in the common layout
        return [Path(self.data_root) / part for part in parts]

    def window(self, entry: dict) -> tuple[np.ndarray | None, np.ndarray | None]:
        """(image crop, binarized mask crop) under ``entry["box"]``; (None, None) when absent."""
        for folder in self._folders():
            paths = {kind: folder / rel for kind, rel in relative_paths(entry["name"]).items()}
            if paths["image"].is_file():
                top, left, bottom, right = entry["box"]
                window = (slice(top, bottom), slice(left, right))
                image = read_grey_png(paths["image"])[window]
                mask = binarize_mask(read_grey_png(paths["mask"]))[window] if paths["mask"].is_file() else None
                return image, None if mask is None else mask.astype(np.uint8) * 255
        return None, None

