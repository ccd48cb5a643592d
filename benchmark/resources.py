"""How much of a node one cell asks for: the one place that decides CPUs and GPU fractions.

Ray's resources are logical (a cell at 0.25 GPU is not stopped from using the whole
card), so the fraction is a packing decision: how many trainings share one GPU. It
follows the cost of one training step, not the parameter count: activation memory and
compute scale with MACs x batch x crop area. Under the ``paper`` profile (batch 16,
256x256 crops) this gives:

    MLCLNet, ALCLNet, GGLNet, DNANet   <= 250 GMACs per step  -> 0.25 GPU (4 per card)
    MSDANet, ISNet                     <= 500                 -> 0.5  GPU (2 per card)
    UIUNet                              > 500                 -> 1    GPU

The tiers assume a card of 24 GB or more (an H100 holds even four UIUNets); on smaller
cards pass ``--gpus-per-cell`` or a suite's ``[resources]`` table. The worker also caps
torch's share of GPU memory at the same fraction, so an over-packed card fails with a
CUDA out-of-memory error in one cell (recorded, retried) rather than slowing every cell.

A CPU-only cell asks for its torch threads (``benchmark.cpu_plan``: one by default,
``--threads N``) plus one CPU per data-loading process; the worker sets torch's thread
count to what the cell was given, so cells sharing a node do not oversubscribe it
(docs/performance.md, "Threads", shows what oversubscription costs on a shared box). A
run with fewer cells than CPUs no longer spreads the spare CPUs over its cells as extra
threads: on a shared machine those threads are what collapses.

Precedence: command-line flags > the suite's ``[resources]`` table > this policy. A GPU
is never requested from a cluster that has none (Ray would leave the trial pending
forever), and no cell asks for more than the largest node has.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, Mapping

from benchmark.cpu_plan import DEFAULT_THREADS
from benchmark.errors import ConfigError
from benchmark.per_detector import MISSING, for_detector

# (upper bound of GMACs per training step, GPU fraction); above the last bound: a whole GPU
GPU_TIERS: tuple[tuple[float, float], ...] = ((250.0, 0.25), (500.0, 0.5))
REFERENCE_SIZE = 256  # the size detector MACs are counted at


@dataclass(frozen=True)
class ClusterShape:
    """What the cluster offers, from ``ray.cluster_resources()`` and ``ray.nodes()``."""

    cpus: float  # total
    gpus: float  # total
    max_node_cpus: float  # the largest node: no cell may ask for more
    max_node_gpus: float

    @classmethod
    def from_ray(cls, total: Mapping[str, float], nodes: list[dict[str, Any]]) -> "ClusterShape":
        alive = [n.get("Resources", {}) for n in nodes if n.get("Alive", n.get("alive", True))]
        return cls(
            cpus=float(total.get("CPU", 0)),
            gpus=float(total.get("GPU", 0)),
            max_node_cpus=max((float(r.get("CPU", 0)) for r in alive), default=float(total.get("CPU", 0))),
            max_node_gpus=max((float(r.get("GPU", 0)) for r in alive), default=float(total.get("GPU", 0))),
        )

    @property
    def cpus_per_gpu(self) -> float:
        return self.max_node_cpus / self.max_node_gpus if self.max_node_gpus else self.max_node_cpus


@dataclass(frozen=True)
class ResourceOverrides:
    """Explicit choices: ``gpus`` is one fraction for every cell or a table by detector
    (key ``default`` for the rest); ``cpus`` likewise. None leaves it to the policy."""

    gpus: float | Mapping[str, float] | None = None
    cpus: float | Mapping[str, float] | None = None

    @classmethod
    def from_suite(cls, table: Mapping[str, Any] | None) -> "ResourceOverrides":
        table = dict(table or {})
        unknown = sorted(set(table) - {"gpus_per_cell", "cpus_per_cell"})
        if unknown:
            raise ConfigError(f"suite [resources] has unknown key(s) {unknown}; known: cpus_per_cell, gpus_per_cell")
        return cls(gpus=table.get("gpus_per_cell"), cpus=table.get("cpus_per_cell"))

    def over(self, other: "ResourceOverrides") -> "ResourceOverrides":
        """These choices where made, ``other``'s elsewhere (flags over suite)."""
        return ResourceOverrides(
            gpus=self.gpus if self.gpus is not None else other.gpus,
            cpus=self.cpus if self.cpus is not None else other.cpus,
        )


def _pick(value: float | Mapping[str, float] | None, detector: str) -> float | None:
    chosen = for_detector(value, detector)
    return None if chosen is None or chosen is MISSING else float(chosen)


@functools.lru_cache(maxsize=None)
def _detector_gmacs(detector: str, in_channels: int, width: float) -> float:
    """MACs (G) of one 256x256 forward pass, counted on the meta device (no memory used)."""
    from benchmark.detector_stats import detector_cost

    return float(detector_cost(detector, in_channels=in_channels, width=width, size=REFERENCE_SIZE)["macs_g"])


def step_gmacs(rc: Any) -> float:
    """Forward MACs (G) of one training step of a resolved cell: detector x batch x crop area."""
    p = rc.profile
    per_image = _detector_gmacs(rc.cell.detector, p.in_channels, p.detector_width)
    return per_image * p.batch_size * (p.crop_size / REFERENCE_SIZE) ** 2


def policy_gpu_fraction(gmacs: float) -> float:
    for bound, fraction in GPU_TIERS:
        if gmacs <= bound:
            return fraction
    return 1.0


def _valid_gpu(value: float, where: str) -> float:
    if value < 0:
        raise ConfigError(f"{where}: a GPU share cannot be negative ({value})")
    if value > 1 and value != int(value):
        raise ConfigError(f"{where}: more than one GPU must be a whole number, got {value}")
    return value


def cell_resources(
    rc: Any, cluster: ClusterShape, overrides: ResourceOverrides = ResourceOverrides(), threads: int | None = None
) -> dict[str, float]:
    """``{"cpu": c, "gpu": g}`` for one resolved cell on this cluster.

    ``threads``: torch threads per CPU cell (``--threads``; None: ``cpu_plan``'s default
    of one), plus one CPU per data-loading process.
    """
    detector = rc.cell.detector
    gpu = _pick(overrides.gpus, detector)
    if gpu is not None:
        gpu = _valid_gpu(gpu, f"GPUs per cell for {detector}")
        if gpu > 0 and cluster.gpus == 0:
            raise ConfigError(
                f"{gpu:g} GPU per cell was asked for, but the Ray cluster has no GPU (its trials would wait "
                f"forever); drop --gpus-per-cell / the suite's gpus_per_cell, or pass --address of a GPU cluster"
            )
    elif cluster.gpus == 0:
        gpu = 0.0
    else:
        gpu = policy_gpu_fraction(step_gmacs(rc))
    if gpu > cluster.max_node_gpus:
        raise ConfigError(
            f"a {detector} cell asks for {gpu:g} GPUs but the largest node has {cluster.max_node_gpus:g}; "
            f"lower --gpus-per-cell"
        )
    cpu = _pick(overrides.cpus, detector)
    if cpu is None:
        wanted = (threads or DEFAULT_THREADS) + rc.profile.num_workers  # the training loop plus its loaders
        if gpu > 0:  # a cell's share of the node's CPUs follows its share of a GPU
            cpu = max(1.0, min(wanted, math.floor(cluster.cpus_per_gpu * gpu)))
        else:
            cpu = float(min(wanted, max(1.0, cluster.max_node_cpus)))
    if cpu <= 0:
        raise ConfigError(f"CPUs per cell must be > 0, got {cpu:g}")
    if cpu > cluster.max_node_cpus:
        raise ConfigError(
            f"a {detector} cell asks for {cpu:g} CPUs but the largest node has {cluster.max_node_cpus:g}; "
            f"lower --cpus-per-cell"
        )
    return {"cpu": float(cpu), "gpu": float(gpu)}
