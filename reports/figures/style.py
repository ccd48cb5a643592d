"""One style for every figure: seaborn's paper context, the colour-blind palette with
colours given in the schemes' fixed order (figures of the same schemes, e.g. a suite's
curves, Pd-Fa and seed plots, agree; an ablation suite's variants are coloured among
themselves, and beyond 10 schemes a colour comes back with another dash), labelled
axes, one legend under the axes (it hides no data), PNG (for Markdown) and PDF (for
LaTeX) side by side.

Margins are set in inches rather than by constrained layout or a tight bounding box:
both redraw the figure, which tripled the time of a 21-panel figure here.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Iterable

import matplotlib

matplotlib.use("Agg")  # headless: reports run on servers and in CI

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from reports.naming import scheme_name, scheme_sort_key  # noqa: E402

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
DASHES = ["-", "--", "-.", ":"]
DPI = 100
LEGEND_ROW = 0.2  # inches per legend row
TITLE = 0.6  # inches above the axes for the figure's and the panels' titles


def apply_style() -> None:
    sns.set_theme(style="whitegrid", context="paper", palette="colorblind")
    plt.rcParams.update({"figure.dpi": DPI, "axes.titlesize": 8, "axes.labelsize": 7, "xtick.labelsize": 6,
                         "ytick.labelsize": 6, "legend.fontsize": 7})


def scheme_styles(specs: Iterable[str]) -> dict[str, dict]:
    """spec -> colour, marker and dash; beyond 10 schemes colours repeat with a new dash."""
    colours = sns.color_palette("colorblind", 10)
    ordered = sorted(set(specs), key=scheme_sort_key)
    return {s: {"color": colours[i % 10], "marker": MARKERS[i % len(MARKERS)], "linestyle": DASHES[(i // 10) % len(DASHES)],
                "label": scheme_name(s)} for i, s in enumerate(ordered)}


def handles(styles: dict[str, dict]) -> tuple[list, list[str]]:
    """Legend entries for scheme styles (lines with markers)."""
    entries = [Line2D([], [], color=s["color"], marker=s["marker"], linestyle=s["linestyle"], markersize=4)
               for s in styles.values()]
    return entries, [s["label"] for s in styles.values()]


LEGEND_ENTRY = 1.7  # inches per legend column


def legend_columns(fig) -> int:
    return max(1, int(fig.get_figwidth() // LEGEND_ENTRY))


def wrap(text: str, inches: float, points: float = 8) -> list[str]:
    """Lines of ``text`` that fit ``inches`` at ``points`` (about 0.55 em per character)."""
    return textwrap.wrap(text, max(12, int(inches * 72 / (0.55 * points)))) or [""]


def grid(rows: int, cols: int, width: float = 2.3, height: float = 1.8, legend_entries: int = 0,
         sharex: bool | str = False, sharey: bool | str = False, left: float = 0.6, wspace: float = 0.35,
         below: float = 0.45, title: str = ""):
    """A figure of rows x cols panels of ``width`` x ``height`` inches, with room for its
    ``title`` (wrapped to the width), ``below`` inches for tick labels and a legend of
    ``legend_entries`` entries."""
    fig_w = left + 0.15 + width * cols
    columns = max(1, int(fig_w // LEGEND_ENTRY))
    legend_rows = -(-legend_entries // columns) if legend_entries else 0
    bottom = below + LEGEND_ROW * legend_rows
    lines = wrap(title, fig_w - 0.2)
    top = TITLE + 0.15 * (len(lines) - 1)
    fig_h = top + bottom + height * rows
    fig, axes = plt.subplots(rows, cols, figsize=(fig_w, fig_h), squeeze=False, sharex=sharex, sharey=sharey)
    fig.subplots_adjust(left=left / fig_w, right=1 - 0.15 / fig_w, top=1 - top / fig_h, bottom=bottom / fig_h,
                        wspace=wspace, hspace=0.3 if sharex is True else 0.45)
    if title:
        fig.suptitle("\n".join(lines), fontsize=8, y=1 - 0.08 / fig_h, va="top")
    for ax in axes.ravel():
        ax.yaxis.set_major_locator(MaxNLocator(4))
    return fig, [list(r) for r in axes]


def legend_below(fig, entries: list, labels: list[str]) -> None:
    if labels:
        fig.legend(entries, labels, loc="lower center", ncol=min(legend_columns(fig), len(labels)), frameon=False,
                   bbox_to_anchor=(0.5, 0.0))


def save(fig, folder: Path, name: str) -> list[Path]:
    """``name.png`` and ``name.pdf`` in ``folder``; the figure is closed."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png", folder / f"{name}.pdf"]
    for path in paths:
        fig.savefig(path)
    plt.close(fig)
    return paths
