"""What a written report is: its folder, tables, files, figures, comparisons, the PDF's
fate and the seconds each stage took."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import pandas as pd

from reports.layout import Table


@dataclass
class Report:
    out: Path
    tables: list[Table] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    figures: list[tuple[str, Path]] = field(default_factory=list)  # (caption, PNG)
    comparison: pd.DataFrame = field(default_factory=pd.DataFrame)
    paired: pd.DataFrame = field(default_factory=pd.DataFrame)
    pdf: Path | None = None
    pdf_message: str = ""
    extra_markdown: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall seconds per stage (``bench report``)
    cpu_seconds: dict[str, float] = field(default_factory=dict)  # this process's CPU seconds per stage

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start
            self.cpu_seconds[name] = self.cpu_seconds.get(name, 0.0) + time.process_time() - cpu
