"""``pointbench bench detectors``: forward+backward throughput of every detector.

Batch 16 at 256x256, 3-channel input, published width, loss over the final map and the
side outputs. On the CPU one setting (fp32 eager); on a GPU three: fp32 eager, bf16
autocast with channels_last, and the same under ``torch.compile``. Images per second
are from the median of the timed steps after warm-up (compile's warm-up compiles).
"""

from __future__ import annotations

import statistics
import time
from contextlib import nullcontext
from typing import Any, Sequence

import torch

from detectors.base import build_detector

CPU_MODES = ("fp32",)
GPU_MODES = ("fp32", "bf16+channels_last", "compile+bf16+channels_last")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_one(
    name: str, device: torch.device, mode: str, batch: int = 16, size: int = 256, warmup: int = 1, steps: int = 2, width: float = 1.0
) -> dict[str, Any]:
    torch.manual_seed(0)
    model = build_detector(name, in_channels=3, width=width).to(device).train()
    x = torch.randn(batch, 3, size, size, device=device)
    channels_last = "channels_last" in mode
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    step_model = torch.compile(model) if mode.startswith("compile") else model
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if "bf16" in mode else nullcontext()
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-6)

    def step() -> None:
        with autocast:
            out = step_model(x)
            loss = out.logits.float().mean() + sum(s.float().mean() for s in out.side)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    start = time.perf_counter()
    for _ in range(warmup):
        step()
    _sync(device)
    warmup_seconds = time.perf_counter() - start
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - t)
    seconds = statistics.median(times)
    return {
        "detector": name,
        "device": str(device),
        "mode": mode,
        "batch": batch,
        "size": size,
        "width": width,
        "images_per_second": batch / seconds,
        "step_seconds": seconds,
        "warmup_seconds": warmup_seconds,
        "peak_memory_gb": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
    }


def bench_detectors(
    names: Sequence[str], device: str = "cpu", modes: Sequence[str] | None = None, **kwargs: Any
) -> list[dict[str, Any]]:
    dev = torch.device(device)
    chosen = modes or (GPU_MODES if dev.type == "cuda" else CPU_MODES)
    rows = []
    for name in names:
        for mode in chosen:
            rows.append(bench_one(name, dev, mode, **kwargs))
            if dev.type == "cuda":
                torch.cuda.empty_cache()
    return rows


def markdown_rows(rows: list[dict[str, Any]]) -> str:
    from tabulate import tabulate

    table = [
        [r["detector"], r["device"], r["mode"], f"{r['images_per_second']:.2f}", f"{r['step_seconds']:.2f}",
         "-" if r["peak_memory_gb"] is None else f"{r['peak_memory_gb']:.2f}"]
        for r in rows
    ]
    return tabulate(table, headers=["detector", "device", "mode", "images/s", "s/step", "peak GiB"], tablefmt="github")
