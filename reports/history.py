"""Training curves from stored records: per-epoch loss, each named part of a method's
loss (``history[].loss_parts``), the training labels' IoU and the test IoU.

Why: in-training schemes (GSACP's targets from its own features, Diffusion's bi-level
weights) can drift; their loss parts over epochs show it. Reads records only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pandas as pd


def history_frame(records: Iterable[dict]) -> pd.DataFrame:
    """One row per cell x epoch x series (``loss``, ``loss/<part>``, ``label_iou``, ``test_iou``)."""
    rows = []
    for r in records:
        name, spec = r.get("name"), r.get("method", {}).get("spec")
        for entry in r.get("history") or []:
            base = {"key": r.get("key"), "name": name, "method_spec": spec, "epoch": entry["epoch"]}
            series = {"loss": entry.get("loss")}
            series.update({f"loss/{k}": v for k, v in (entry.get("loss_parts") or {}).items()})
            if "label_iou" in entry:
                series["label_iou"] = entry["label_iou"]
            if "test" in entry:
                series["test_iou"] = entry["test"].get("iou")
            rows += [{**base, "series": k, "value": v} for k, v in series.items() if v is not None]
    return pd.DataFrame(rows, columns=["key", "name", "method_spec", "epoch", "series", "value"])


def plot_loss_parts(frame: pd.DataFrame, path: Path | str) -> Path:
    """Loss and its parts against epochs, one panel per cell (seaborn), saved to ``path``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import seaborn as sns

    losses = frame[frame["series"].str.startswith("loss")]
    if losses.empty:
        raise ValueError("no loss history in these records")
    grid = sns.relplot(data=losses, x="epoch", y="value", hue="series", col="name", col_wrap=3, kind="line",
                       facet_kws={"sharey": False}, height=3)
    grid.set_titles("{col_name}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.savefig(path, dpi=120)
    import matplotlib.pyplot as plt

    plt.close(grid.figure)
    return path
