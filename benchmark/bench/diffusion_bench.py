"""``pointbench bench diffusion``: the diffusion annotator's seconds per target on one
core, split into what a label refresh pays (the walk, fusion, Otsu and CRF at a new
``theta``) and what is paid once (size priors, CLAHE, gradients, entropies, superpixels).

Each stage is timed in wall and CPU seconds, the rerun as the best of ``repeats``; the
load average before and after says how much other work shared the machine (on a busy
machine the CPU seconds are the figure to read: wall time counts the waiting too).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from benchmark.bench.common import one_core


def bench_diffusion(dataset: str, label_type: str, spec: str, repeats: int, data_root: Path | None,
                    cache_dir: Path | None) -> dict[str, Any]:
    from benchmark.cells import parse_spec
    from benchmark.data.loader import load_split
    from benchmark.pseudolabels import labels_rng, visible_samples
    from benchmark.registry import METHODS
    import methods._diffusion_annotator  # noqa: F401  (imports out of the timed region)

    name, opts = parse_spec(spec)
    method = METHODS.get(name)(**opts)
    split = load_split(dataset, "train", data_root, cache_dir)
    samples = visible_samples(method, split.samples)
    targets = sum(len(s.points(label_type)) for s in samples)
    load_before = os.getloadavg()
    with one_core() as pinned:
        wall, cpu = time.perf_counter(), time.process_time()
        annotator = method.annotator(samples, label_type, labels_rng(method, split.dataset, label_type, 0))
        prepare = (time.perf_counter() - wall, time.process_time() - cpu)
        reruns = []
        for k in range(max(1, repeats)):
            wall, cpu = time.perf_counter(), time.process_time()
            annotator.labels((0.01 * k,) * 4)  # a new theta each time, as a refresh sees
            reruns.append((time.perf_counter() - wall, time.process_time() - cpu))
    rerun = min(reruns)
    return {
        "method": method.spec, "dataset": split.dataset, "labels": label_type, "images": len(samples), "targets": targets,
        "cpu": pinned, "load_before": load_before, "load_after": os.getloadavg(),
        "prepare_seconds_per_target": prepare[0] / targets, "prepare_cpu_seconds_per_target": prepare[1] / targets,
        "rerun_seconds_per_target": rerun[0] / targets, "rerun_cpu_seconds_per_target": rerun[1] / targets,
        "total_cpu_seconds_per_target": (prepare[1] + rerun[1]) / targets,
    }


def format_diffusion(r: dict[str, Any]) -> str:
    return (
        f"{r['method']} on {r['dataset']} train ({r['labels']}): {r['images']} images, {r['targets']} targets, {r['cpu']}; "
        f"load average {r['load_before'][0]:.1f} -> {r['load_after'][0]:.1f}\n"
        f"once per split   {r['prepare_seconds_per_target']:.4f} s/target (CPU {r['prepare_cpu_seconds_per_target']:.4f})\n"
        f"per theta        {r['rerun_seconds_per_target']:.4f} s/target (CPU {r['rerun_cpu_seconds_per_target']:.4f})\n"
        f"total CPU        {r['total_cpu_seconds_per_target']:.4f} s/target"
    )
