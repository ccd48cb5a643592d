"""Is a cell done, failed, being trained, interrupted or pending? One answer, here.

A cell being trained keeps a heartbeat file (``<results>/<suite>/.work/<key>.alive``:
host, pid, epoch), so ``pointbench status`` tells a running cell from an interrupted one
and a second ``pointbench run`` does not start a cell that another process is training.
``cell_state`` is the only judge: ``Store.status``, planning, the executors and
``pointbench status`` all ask it.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence


class Records(Protocol):
    """What liveness reads of a results store (``benchmark.store.Store``)."""

    dir: Path

    def read(self, key: str) -> Any: ...

    def work_dir(self, key: str) -> Path: ...


class Keyed(Protocol):
    key: str


HEARTBEAT_EVERY_S = 10.0
HEARTBEAT_STALE_S = 60.0  # another host's heartbeat older than this: its writer is gone


def heartbeat_path(store: Records, key: str) -> Path:
    """Beside the work dir, not in it: the engine removes an emptied work dir when a cell ends."""
    return store.dir / ".work" / f"{key}.alive"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_heartbeat(path: Path) -> dict[str, Any] | None:
    """The heartbeat if its writer still lives (same host: its pid; elsewhere: a recent mtime)."""
    try:
        age = time.time() - path.stat().st_mtime
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        info = {}
        try:
            age = time.time() - path.stat().st_mtime
        except OSError:
            return None
    if info.get("host") == socket.gethostname() and isinstance(info.get("pid"), int):
        alive = _pid_alive(info["pid"])
    else:
        alive = age < HEARTBEAT_STALE_S
    return {**info, "age_s": age} if alive else None


class Heartbeat:
    """Marks one cell as being trained by this process, until the context exits."""

    def __init__(self, store: Records, key: str, executor: str, epochs: int | None = None):
        self.path = heartbeat_path(store, key)
        self.info: dict[str, Any] = {
            "host": socket.gethostname(), "pid": os.getpid(), "executor": executor,
            "started": time.time(), "epoch": 0, "epochs": epochs,
        }
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat-{key}", daemon=True)

    def _write(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text(json.dumps(self.info), encoding="utf-8")  # readers tolerate a torn file
        except OSError:
            pass  # a heartbeat must never fail a cell

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_EVERY_S):
            try:
                os.utime(self.path)
            except OSError:
                self._write()

    def epoch(self, entry: Mapping[str, Any]) -> None:
        """``on_epoch`` hook: the last finished epoch, for ``pointbench status``."""
        self.info["epoch"] = entry.get("epoch", self.info["epoch"])
        self._write()

    def __enter__(self) -> "Heartbeat":
        self._write()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        self.path.unlink(missing_ok=True)


STATES = ("done", "failed", "running", "interrupted", "pending")


def cell_state(store: Records, key: str) -> str:
    """done | failed | running (a live heartbeat) | interrupted (a checkpoint, nobody on it) | pending.

    A live heartbeat wins over a failed record: that is a retry in progress.
    """
    record = store.read(key)
    if record is not None and record.get("status") == "done":
        return "done"
    if read_heartbeat(heartbeat_path(store, key)) is not None:
        return "running"
    if record is not None:
        return "failed"
    return "interrupted" if (store.work_dir(key) / "checkpoint.pt").is_file() else "pending"


def busy_elsewhere(todo: Sequence[Keyed], store: Records) -> list[Any]:
    """Cells another live process is training now (their heartbeat is fresh)."""
    return [rc for rc in todo if read_heartbeat(heartbeat_path(store, rc.key)) is not None]
