"""Loading a dataset split: through the `datasets` library into an Arrow cache.

The first load reads the PNGs, derives missing point labels, and saves one Arrow
dataset per (dataset, split) under ``<cache>/arrow/<NAME>/<split>-<fingerprint>``; later
loads read only the cache. The fingerprint is a hash of the split list and of every
file's *content* (``benchmark.data.digests``, remembered by size and mtime so a second
run rereads nothing): an edited, added or removed file rebuilds the cache and makes the
records trained on the old files stale, while two copies of the same data share one
fingerprint, one label cache and one set of records.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmark.data import layout
from benchmark.data.catalog import DatasetSpec, dataset_spec
from benchmark.data.digests import DigestCache
from benchmark.data.split import Sample, Split
from benchmark.errors import DataError

log = logging.getLogger(__name__)

CACHE_VERSION = "1"  # bump when the cached content or its derivation changes


def default_cache_dir() -> Path:
    return Path(os.environ.get("POINTBENCH_CACHE", Path.home() / ".cache" / "pointbench")).expanduser()


def default_data_root() -> Path:
    return Path(os.environ.get("POINTBENCH_DATA", "data")).expanduser()


def load_split(
    dataset: str,
    split: str,
    data_root: Path | str | None = None,
    cache_dir: Path | str | None = None,
) -> Split:
    """One split of a registered dataset, as samples with their subset names."""
    spec, root, cache = _locate(dataset, data_root, cache_dir)
    if spec.parts:
        return _load_union(spec, split, root, cache)
    return _read_cache(_ensure_folder(layout.dataset_folder(root, spec.folder), spec.name, split, cache), spec.name, split)


def split_fingerprint(
    dataset: str, split: str, data_root: Path | str | None = None, cache_dir: Path | str | None = None
) -> tuple[str, int]:
    """(fingerprint, number of images) of a split, from the files alone (nothing is loaded)."""
    spec, root, cache = _locate(dataset, data_root, cache_dir)
    if spec.parts:
        fingerprint, ids, _ = _union_fingerprint(spec, split, root, cache)
        return fingerprint, len(ids)
    fingerprint, ids, _ = _folder_fingerprint(layout.dataset_folder(root, spec.folder), spec.name, split, cache)
    return fingerprint, len(ids)


def ensure_cached(dataset: str, split: str, data_root: Path | str | None = None, cache_dir: Path | str | None = None) -> None:
    """Read every file of a split into the Arrow cache now (a bad file raises DataError here,
    before any training), without loading the result."""
    spec, root, cache = _locate(dataset, data_root, cache_dir)
    for part in spec.parts or (spec.folder,):
        _ensure_folder(layout.dataset_folder(root, part), part, split, cache)


def _locate(dataset: str, data_root: Path | str | None, cache_dir: Path | str | None) -> tuple[DatasetSpec, Path, Path]:
    spec = dataset_spec(dataset)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if spec.embedded:
        from benchmark.data.synthetic import ensure_synthetic_root

        return spec, ensure_synthetic_root(cache), cache
    return spec, layout.check_data_root(Path(data_root) if data_root is not None else default_data_root()), cache


def _folder_fingerprint(folder: Path, name: str, split: str, cache: Path) -> tuple[str, list[str], Path]:
    """Hash of the split list and of each listed file's content (or its absence)."""
    split_path = layout.split_file(folder, name, split)
    ids = layout.read_split_ids(split_path)
    digests = DigestCache(folder, cache)
    digest = hashlib.md5(CACHE_VERSION.encode())
    digest.update(split_path.read_bytes())
    for sample_id in ids:
        for kind, rel in layout.relative_paths(sample_id).items():
            digest.update(f"|{kind}:{sample_id}:{digests.digest(rel) or 'missing'}".encode())
    digests.save()
    return digest.hexdigest()[:16], ids, split_path


def _union_fingerprint(spec: DatasetSpec, split: str, root: Path, cache: Path) -> tuple[str, list[str] | None, list[str]]:
    """(fingerprint, ids of the union's own list or None, the parts' fingerprints)."""
    parts = [_folder_fingerprint(layout.dataset_folder(root, p), p, split, cache) for p in spec.parts]
    list_path = layout.split_file(root / spec.folder, spec.name, split)
    ids = layout.read_split_ids(list_path) if list_path.is_file() else None
    text = "|".join(p[0] for p in parts) + "|" + ("\n".join(ids) if ids is not None else "parts in order")
    fingerprint = hashlib.md5(text.encode()).hexdigest()[:16]
    return fingerprint, ids if ids is not None else [i for p in parts for i in p[1]], ids


def _load_union(spec: DatasetSpec, split: str, root: Path, cache: Path) -> Split:
    parts = [_read_cache(_ensure_folder(layout.dataset_folder(root, p), p, split, cache), p, split) for p in spec.parts]
    fingerprint, _, listed = _union_fingerprint(spec, split, root, cache)
    by_id = {s.name: s for part in parts for s in part.samples}
    if listed is not None:
        unknown = [i for i in listed if i not in by_id]
        if unknown:
            list_path = layout.split_file(root / spec.folder, spec.name, split)
            raise DataError(
                f"{len(unknown)} ids in {str(list_path)!r} are in none of the {split} splits of "
                f"{', '.join(spec.parts)} (first: {unknown[:3]}); {spec.name} must be their union"
            )
        samples = [by_id[i] for i in listed]
    else:
        samples = [s for part in parts for s in part.samples]
    repairs = [r for p in parts for r in p.repairs]
    return Split(spec.name, split, samples, fingerprint, repairs)


def _ensure_folder(folder: Path, name: str, split: str, cache: Path) -> Path:
    """The Arrow cache folder of one dataset folder's split, built if missing."""
    fingerprint, ids, split_path = _folder_fingerprint(folder, name, split, cache)
    target = cache / "arrow" / name / f"{split}-{fingerprint}"
    if not (target / "pointbench.json").is_file():
        _build_cache(folder, name, split, ids, split_path, target)
    return target


def _build_cache(folder: Path, name: str, split: str, ids: list[str], split_path: Path, target: Path) -> None:
    import datasets
    from tqdm.auto import tqdm

    repairs: list[str] = []
    columns: dict[str, list] = {k: [] for k in ("name", "height", "width", "image", "mask", "has_mask", "centroid", "coarse")}
    sources: dict[str, dict[str, int]] = {"centroid": {}, "coarse": {}}
    for sample_id in tqdm(ids, desc=f"reading {name} {split}", unit="img", disable=not sys.stderr.isatty(), leave=False):
        raw = layout.read_sample(folder, name, sample_id, split_path, repairs)
        columns["name"].append(raw.name)
        columns["height"].append(raw.image.shape[0])
        columns["width"].append(raw.image.shape[1])
        columns["image"].append(raw.image.tobytes())
        columns["mask"].append(b"" if raw.mask is None else raw.mask.tobytes())
        columns["has_mask"].append(raw.mask is not None)
        columns["centroid"].append(raw.centroid.reshape(-1).tolist())
        columns["coarse"].append(raw.coarse.reshape(-1).tolist())
        for kind, source in (("centroid", raw.centroid_source), ("coarse", raw.coarse_source)):
            sources[kind][source] = sources[kind].get(source, 0) + 1
    features = datasets.Features(
        {
            "name": datasets.Value("string"),
            "height": datasets.Value("int32"),
            "width": datasets.Value("int32"),
            "image": datasets.Value("binary"),
            "mask": datasets.Value("binary"),
            "has_mask": datasets.Value("bool"),
            "centroid": datasets.List(datasets.Value("int32")),
            "coarse": datasets.List(datasets.Value("int32")),
        }
    )
    datasets.disable_progress_bars()  # our own bar covers the slow part (reading PNGs)
    table = datasets.Dataset.from_dict(columns, features=features)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    table.save_to_disk(str(scratch / "arrow"))
    meta = {"dataset": name, "split": split, "source": str(folder), "repairs": repairs, "point_sources": sources}
    (scratch / "pointbench.json").write_text(json.dumps(meta, indent=1))
    try:
        os.replace(scratch, target)  # atomic: a concurrent reader sees all or nothing
    except OSError:  # another process finished first; its copy is identical
        shutil.rmtree(scratch, ignore_errors=True)
    for stale in target.parent.glob(f"{split}-*"):
        if stale != target and not stale.name.startswith("."):
            shutil.rmtree(stale, ignore_errors=True)


def _read_cache(target: Path, name: str, split: str) -> Split:
    import datasets

    fingerprint = target.name.split("-", 1)[1]

    meta = json.loads((target / "pointbench.json").read_text())
    table = datasets.load_from_disk(str(target / "arrow")).with_format("arrow")[:]
    cols = {c: table.column(c).to_pylist() for c in table.column_names}
    samples = []
    for i, sample_id in enumerate(cols["name"]):
        shape = (cols["height"][i], cols["width"][i])
        image = np.frombuffer(cols["image"][i], dtype=np.uint8).reshape(shape)
        mask = np.frombuffer(cols["mask"][i], dtype=np.uint8).reshape(shape) if cols["has_mask"][i] else None
        centroid = np.asarray(cols["centroid"][i], dtype=np.int32).reshape(-1, 2)
        coarse = np.asarray(cols["coarse"][i], dtype=np.int32).reshape(-1, 2)
        samples.append(Sample(sample_id, name, image, mask, centroid, coarse))
    return Split(name, split, samples, fingerprint, list(meta["repairs"]))
