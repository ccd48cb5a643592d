"""Start-up of the commands that only read: ``list methods``, ``status``, ``report``.

Each runs in a fresh interpreter (what a user waits for), ``repeats`` times; the median
wall and CPU seconds are reported with whether the process imported torch (it must not:
torch alone takes seconds to import). On a shared machine wall time includes waiting for
a core; CPU time is the process's own.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CHILD = """
import json, resource, sys, time
start = time.perf_counter()
from benchmark.cli import main
code = main(json.loads(sys.argv[2]))
usage = resource.getrusage(resource.RUSAGE_SELF)
json.dump({"code": code, "seconds": time.perf_counter() - start, "cpu_seconds": usage.ru_utime + usage.ru_stime,
           "torch": "torch" in sys.modules}, open(sys.argv[1], "w"))
"""


def commands(cache_dir: Path | None) -> dict[str, list[str]]:
    cache = ["--cache-dir", str(cache_dir)] if cache_dir else []
    reference = "results/reference"  # the children run in the repository
    return {
        "list methods": ["list", "methods"],
        "status": ["status", "--suite", "detectors-quick", "--results", reference, *cache],
        "report": ["report", "--results", reference],
    }


def _once(argv: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", CHILD, str(out), json.dumps(argv)], cwd=REPO, env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=300)
        result = json.loads(out.read_text())
        result["process_seconds"] = time.perf_counter() - start  # interpreter start included
        return result


def bench_startup(repeats: int = 3, cache_dir: Path | None = None) -> list[dict[str, Any]]:
    rows = []
    for name, argv in commands(cache_dir).items():
        runs = [_once(argv) for _ in range(max(1, repeats))]
        rows.append({
            "command": f"pointbench {' '.join(argv)}",
            "exit_code": runs[-1]["code"],
            "process_seconds": statistics.median(r["process_seconds"] for r in runs),
            "cpu_seconds": statistics.median(r["cpu_seconds"] for r in runs),
            "imported_torch": any(r["torch"] for r in runs),
            "repeats": len(runs),
        })
    return rows
