"""The datasets pointbench knows: where they live and how they are normalized.

Normalization constants are LESPS's (grey 0..255, field-notes 2.1): the "std" is the
mean of per-image standard deviations. A dataset without constants (the synthetic one,
or a user's) is normalized with the same statistics computed over its training images.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmark.registry import DATASETS


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset in the common layout, or a union of such datasets (``parts``)."""

    name: str
    description: str
    mean: float | None = None
    std: float | None = None
    parts: tuple[str, ...] = ()  # a union such as SIRST3: its images live in the parts' folders
    embedded: bool = False  # made by pointbench itself; needs no data root

    @property
    def folder(self) -> str:
        return self.name


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    DATASETS.add(spec.name, spec)
    return spec


SIRST = register_dataset(
    DatasetSpec("SIRST", "SIRST-v1 (NUAA-SIRST), 427 images, 213/214 split of DNANet/LESPS", 101.064, 34.620)
)
NUDT_SIRST = register_dataset(
    DatasetSpec("NUDT-SIRST", "NUDT-SIRST, 1327 synthetic-background images, official 663/664 split", 107.809, 33.023)
)
IRSTD_1K = register_dataset(DatasetSpec("IRSTD-1K", "IRSTD-1k, 1001 images 512x512, official 800/201 split", 87.466, 39.720))
SIRST3 = register_dataset(
    DatasetSpec(
        "SIRST3",
        "union of SIRST, NUDT-SIRST and IRSTD-1K (1676/1079), as LESPS and PAL train",
        95.010,
        41.511,
        parts=("SIRST", "NUDT-SIRST", "IRSTD-1K"),
    )
)
SYNTHETIC = register_dataset(
    DatasetSpec(
        "synthetic",
        "embedded default: infrared-like clutter with point-spread targets, made by pointbench from a seed",
        embedded=True,
    )
)


def dataset_spec(name: str) -> DatasetSpec:
    return DATASETS.get(name)
