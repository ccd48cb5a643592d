"""Progress of a training cell where no progress bar is drawn (stderr is a log file, CI).

On a terminal the engine draws a bar per cell; elsewhere the bar is off and, without
this, a log would show nothing between "cell started" and "cell finished" for an hour.
One line per evaluated epoch: epoch, loss, test IoU, seconds.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, Mapping

OnEpoch = Callable[[Mapping[str, Any]], None]


def epoch_lines(on_epoch: OnEpoch, rc: Any, options: Any, echo: Callable[[str], None], prefix: str = "") -> OnEpoch:
    """``on_epoch`` plus, when the engine draws no bar, a log line per evaluated epoch."""
    bar = sys.stderr.isatty() if getattr(options, "progress", None) is None else options.progress
    if bar:
        return on_epoch
    start = time.perf_counter()
    epochs = rc.profile.epochs

    def hook(entry: Mapping[str, Any]) -> None:
        on_epoch(entry)
        if "test" in entry:
            echo(f"{prefix} {rc.cell.name} epoch {entry['epoch']}/{epochs}: loss {entry['loss']:.4f}, "
                 f"IoU {entry['test']['iou']:.2f}, {entry['seconds']:.1f} s this epoch, "
                 f"{time.perf_counter() - start:.0f} s in this run".lstrip())

    return hook
