"""The executor interface: ``run(todo, store, options, settings) -> records``.

Two executors share one skip-done rule and one record writer (both live in ``run_cell``
and the store): ``serial`` (``benchmark.serial_executor``) runs cells one after another
in this process (debugging, machines without Ray, CI); ``ray``
(``benchmark.ray_executor``) runs them as Ray Tune trials across a cluster. Executors are
named here as ``module:function`` and imported on first use, so choosing ``serial``
never imports Ray and no executor imports another.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol

from benchmark.resolve import ResolvedCell
from benchmark.schema import Record
from benchmark.store import Store

if TYPE_CHECKING:  # the engine imports torch: listings and status do without it
    from benchmark.engine import RunOptions

Echo = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class DispatchSettings:
    """How an executor spreads cells; none of it changes a cell's result or key."""

    address: str | None = None  # an existing Ray cluster ("auto", "ray://host:10001", "host:6379")
    max_concurrent: int | None = None  # cap on cells training at once (None: as resources allow)
    gpus_per_cell: float | None = None  # overrides the policy in benchmark/resources.py
    cpus_per_cell: float | None = None
    retries: int = 2  # extra attempts of a failed cell; each resumes from its checkpoint
    suite_resources: Mapping[str, Any] = field(default_factory=dict)  # the suite's [resources] table
    echo: Echo = _stderr


class Executor(Protocol):
    def __call__(
        self, todo: list[ResolvedCell], store: Store, options: RunOptions, settings: DispatchSettings | None = None
    ) -> list[Record]: ...


EXECUTORS: dict[str, str] = {"serial": "benchmark.serial_executor:run_serial", "ray": "benchmark.ray_executor:run_ray"}


def get_executor(name: str) -> Executor:
    """The executor registered as ``name`` (imported now)."""
    try:
        module, attr = EXECUTORS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown executor {name!r}; use {' or '.join(EXECUTORS)}") from None
    return getattr(importlib.import_module(module), attr)


def summary_line(record: Record) -> str:
    if record["status"] != "done":
        return f"FAILED: {record.get('error', {}).get('type')}: {record.get('error', {}).get('message')}"
    m = record["metrics"]["last"]["subsets"]["all"]
    return f"IoU {m['iou']:.2f}  nIoU {m['niou']:.2f}  Pd {m['pd']:.2f}  Fa {m['fa']:.2f}"
