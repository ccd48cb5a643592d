"""Content digests of a dataset folder's files, remembered by size and modification time.

A split's fingerprint is a hash of its files' contents, so two copies of the same data
(another machine, another path, fresh mtimes) have one fingerprint, and pseudo-label
caches and records travel between them. Reading SIRST3's ~11,000 files for every run
would cost seconds, so each digest is kept in ``<cache>/digests/<folder hash>.json``
with the file's size, mtime and ctime: a later run stats the files and rereads only
those that changed. (ctime cannot be set back by tools that restore an mtime.)
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


def file_digest(path: Path) -> str:
    """md5 of a file's bytes (not for security: a content identity)."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class DigestCache:
    """Digests of the files under one folder; ``save()`` writes what changed."""

    def __init__(self, folder: Path, cache_dir: Path):
        self.given = str(folder)  # digest() takes paths relative to it
        self.folder = Path(folder).resolve()
        name = hashlib.md5(str(self.folder).encode("utf-8")).hexdigest()[:16]
        self.path = Path(cache_dir) / "digests" / f"{name}.json"
        self.entries: dict[str, list[Any]] = self._read()
        self.hashed = 0  # files read this time (the rest came from the cache)
        self._dirty = False

    def _read(self) -> dict[str, list[Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data.get("files", {}) if data.get("folder") == str(self.folder) else {}

    def digest(self, rel: str) -> str | None:
        """The content digest of ``folder/rel``, or None if there is no such file."""
        path = os.path.join(self.given, rel)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return None
        stamp = [st.st_size, st.st_mtime_ns, st.st_ctime_ns]
        known = self.entries.get(rel)
        if known is not None and known[:3] == stamp:
            return str(known[3])
        value = file_digest(Path(path))
        self.entries[rel] = [*stamp, value]
        self.hashed += 1
        self._dirty = True
        return value

    def save(self) -> None:
        """Best effort: a read-only cache folder only costs the rehash next time."""
        if not self._dirty:
            return
        from benchmark.store import write_json_atomic

        try:
            write_json_atomic(self.path, {"folder": str(self.folder), "files": self.entries})
            self._dirty = False
        except OSError:
            pass
