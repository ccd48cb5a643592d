"""Draw probe histories (``benchmark.bench.peaks --out``) side by side: the median over
targets of the highest probability near each point, and the median over images of the
highest background probability, per epoch, with the 0.5 threshold.

Why a figure: "before" and "after" a fix differ by orders of magnitude early on, which
a log-scale curve shows at a glance and a table of numbers does not. No torch here.

``python -m benchmark.bench.peaks_plot before.json after.json --labels before after --out fig.png``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence


def curves(history: Sequence[dict[str, Any]], split: str) -> dict[str, list[float]]:
    """Epochs and the on/off medians of the probed epochs of one split."""
    probed = [e for e in history if "peaks" in e and split in e["peaks"]]
    return {
        "epoch": [e["epoch"] for e in probed],
        "on": [e["peaks"][split]["on_median"] for e in probed],
        "off": [e["peaks"][split]["off_median"] for e in probed],
    }


def plot(runs: Sequence[tuple[str, Sequence[dict[str, Any]]]], out: Path, split: str = "test", title: str = "",
         marks: Sequence[tuple[float, str]] = ()) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for i, (label, history) in enumerate(runs):
        c = curves(history, split)
        ax.plot(c["epoch"], c["on"], color=f"C{i}", marker="o", ms=3, label=f"{label}: on the targets")
        ax.plot(c["epoch"], c["off"], color=f"C{i}", ls="--", label=f"{label}: background")
    ax.axhline(0.5, color="grey", lw=0.8)
    for value, text in marks:  # e.g. the loss's optimum where the detector cannot localize
        ax.axhline(value, color="black", lw=0.8, ls=":")
        ax.annotate(text, (ax.get_xlim()[0], value), fontsize=7, va="bottom")
    ax.set(yscale="log", ylim=(1e-3, 1.05), xlabel="epoch", ylabel=f"max probability ({split} images, median)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("histories", nargs="+", type=Path)
    parser.add_argument("--labels", nargs="*")
    parser.add_argument("--split", default="test", choices=["train", "test"])
    parser.add_argument("--title", default="")
    parser.add_argument("--mark", nargs="*", default=[], metavar="VALUE=TEXT", help="horizontal reference lines")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    labels = args.labels or [p.stem for p in args.histories]
    if len(labels) != len(args.histories):
        parser.error(f"{len(labels)} labels for {len(args.histories)} histories")
    runs = [(label, json.loads(p.read_text())["history"]) for label, p in zip(labels, args.histories)]
    marks = [(float(v), t) for v, t in (m.split("=", 1) for m in args.mark)]
    plot(runs, args.out, args.split, args.title, marks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
