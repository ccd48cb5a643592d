"""One style for every figure: seaborn's paper context and its colour-blind palette,
labelled axes, one legend under the axes (it hides no data), PNG (for Markdown) and PDF
(for LaTeX) side by side.

A scheme has one colour in every figure of every report: the nine schemes of the
Diffuse to Detect paper take the palette's first nine colours in the paper's order, any
other scheme name the colour its CRC-32 picks (stable across runs and reports). The
variants of a scheme (``diffusion[bilevel=off]``) keep its hue in lighter or darker
shades, each with its own dash and marker, so they stay apart without a new colour.

Margins are set in inches rather than by constrained layout or a tight bounding box
(both redraw the figure), axis labels sit at fixed offsets and titles at a fixed height
(matplotlib otherwise measures every tick label of every panel to place them): on the
report's ~150-panel figures these were most of the drawing time.
"""

from __future__ import annotations

import colorsys
import textwrap
import zlib
from pathlib import Path
from typing import Iterable, Sequence

import matplotlib
import numpy as np

matplotlib.use("Agg")  # headless: reports run on servers and in CI

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullLocator  # noqa: E402
from matplotlib.transforms import ScaledTranslation  # noqa: E402

from benchmark.cells import parse_spec  # noqa: E402
from reports.figures import legend as legend_grid  # noqa: E402
from reports.figures.gridlines import share_grid  # noqa: E402
from reports.naming import SCHEME_ORDER, scheme_name, scheme_sort_key  # noqa: E402

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">"]
DASHES = ["-", "--", "-.", ":"]
PALETTE = [tuple(c) for c in sns.color_palette("colorblind", 10)]
LEVELS = [0.22, 0.72, 0.45, 0.82, 0.33, 0.6, 0.15, 0.52]  # lightness of a scheme's variants, in turn
FA_UNIT = "×10⁻⁶"  # Unicode, not mathtext: parsing TeX-like labels was ~1 s of a report (pyparsing)
PNG_COMPRESSION = 1  # zlib level: 6 (PIL's default) made files ~15% smaller for ~3x the encoding time
DPI = 120  # the PNG's resolution (7-pt text about 12 px tall); the PDF is vector
TITLE = 0.6  # inches above the axes for the figure's and the panels' titles
XLABEL_DROP = 0.21  # inches from the axes' bottom to an x label's top (below 6-pt tick labels)
YLABEL_LEFT = 0.33  # inches from the axes' left to a y label (beside 4-5 character tick labels)


def apply_style() -> None:
    sns.set_theme(style="whitegrid", context="paper", palette=PALETTE)
    plt.rcParams.update({"figure.dpi": DPI, "axes.titlesize": 8, "axes.labelsize": 7, "xtick.labelsize": 6,
                         "ytick.labelsize": 6, "legend.fontsize": 7,
                         "axes.titley": 1.0,  # a fixed title height: no measuring of every panel's ticks
                         "axes.grid.axis": "y"})


_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def power_label(value: float, _position=None) -> str:
    """A log-axis tick as ``10³`` in Unicode (matplotlib's default writes mathtext)."""
    if value == 0:
        return "0"
    exponent = np.log10(abs(value))
    if np.isclose(exponent, round(exponent)):
        return ("−" if value < 0 else "") + "10" + str(int(round(exponent))).translate(_SUPERSCRIPT)
    return f"{value:g}"


def log_scale(ax, axis: str = "y", kind: str = "log", **options) -> None:
    """A log or symlog scale whose tick labels are Unicode powers of ten, without minor
    ticks (the style draws no tick marks and no minor grid, so they would show nothing)."""
    (ax.set_yscale if axis == "y" else ax.set_xscale)(kind, **options)
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(FuncFormatter(power_label))
    target.set_minor_locator(NullLocator())


def scheme_colour(method: str) -> tuple[float, float, float]:
    """The colour of a scheme (a method name) in every figure: the paper's nine schemes in
    its order, any other name by its CRC-32 (not ``hash``: that one changes per process)."""
    index = SCHEME_ORDER.index(method) if method in SCHEME_ORDER else zlib.crc32(method.encode()) % len(PALETTE)
    return PALETTE[index]


def shade(colour: tuple[float, float, float], k: int) -> tuple[float, float, float]:
    """The ``k``-th shade of ``colour`` (0: itself): its hue and saturation at the k-th
    of ``LEVELS`` of lightness that differ from its own by more than 0.1 (so no shade of a
    light colour fades to white nor one of a dark colour to black)."""
    if k == 0:
        return colour
    h, lightness, s = colorsys.rgb_to_hls(*colour)
    levels = [v for v in LEVELS if abs(v - lightness) > 0.1]
    return colorsys.hls_to_rgb(h, levels[(k - 1) % len(levels)], s)


def scheme_styles(specs: Iterable[str]) -> dict[str, dict]:
    """spec -> colour, marker, dash and label. The colour is the scheme's own
    (``scheme_colour``); the k-th variant of a scheme here (in the schemes' order, the
    plain scheme first) takes the k-th shade, dash and marker after the scheme's."""
    out: dict[str, dict] = {}
    seen: dict[str, int] = {}
    for spec in sorted(set(specs), key=scheme_sort_key):
        method = parse_spec(spec)[0]
        k = seen[method] = seen.get(method, -1) + 1
        base = SCHEME_ORDER.index(method) if method in SCHEME_ORDER else zlib.crc32(method.encode())
        out[spec] = {"color": shade(scheme_colour(method), k),
                     "marker": MARKERS[(base + k) % len(MARKERS)], "linestyle": DASHES[k % len(DASHES)],
                     "label": scheme_name(spec)}
    return out


def handles(styles: dict[str, dict]) -> tuple[list, list[str]]:
    """Legend entries for scheme styles (lines with markers)."""
    entries = [Line2D([], [], color=s["color"], marker=s["marker"], linestyle=s["linestyle"], markersize=4)
               for s in styles.values()]
    return entries, [s["label"] for s in styles.values()]


def wrap(text: str, inches: float, points: float = 8) -> list[str]:
    """Lines of ``text`` that fit ``inches`` at ``points`` (about 0.55 em per character)."""
    return textwrap.wrap(text, max(12, int(inches * 72 / (0.55 * points)))) or [""]


def grid(rows: int, cols: int, width: float = 2.3, height: float = 1.8, legend: Sequence[str] = (),
         sharex: bool | str = False, sharey: bool | str = False, left: float = 0.6, wspace: float = 0.35,
         below: float = 0.45, title: str = ""):
    """A figure of rows x cols panels of ``width`` x ``height`` inches, with room for its
    ``title`` (wrapped to the width), ``below`` inches for tick labels and a legend of
    the labels ``legend``."""
    fig_w = left + 0.15 + width * cols
    bottom = below + legend_grid.ROW * legend_grid.shape(fig_w, list(legend))[1]
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
        fixed_label_offsets(fig, ax)
    if sharex is True:  # above the bottom row a shared x axis shows nothing (no labels, no x grid): not drawn,
        for ax in axes[:-1].ravel():  # which spares matplotlib making and measuring its ticks
            ax.xaxis.set_visible(False)
    if sharey in (True, "row"):  # right of the first column a shared y axis shows only its grid lines
        for row in axes:
            for ax in row[1:]:
                share_grid(ax, row[0])
    return fig, [list(r) for r in axes]


def fixed_label_offsets(fig, ax, below: float = XLABEL_DROP, left: float = YLABEL_LEFT) -> None:
    """Axis labels ``below`` and ``left`` inches off the axes instead of placed by
    measuring the tick labels of the panel and its siblings at every draw."""
    ax.xaxis.set_label_coords(0.5, 0.0, transform=ax.transAxes + ScaledTranslation(0, -below, fig.dpi_scale_trans))
    ax.yaxis.set_label_coords(0.0, 0.5, transform=ax.transAxes + ScaledTranslation(-left, 0, fig.dpi_scale_trans))


def legend_below(fig, entries: list, labels: list[str]) -> None:
    """One legend under the panels, in the room ``grid`` left for ``labels``."""
    legend_grid.draw(fig, entries, labels)


def save(fig, folder: Path, name: str) -> list[Path]:
    """``name.png`` (for the index and Markdown) and ``name.pdf`` (vector, for a paper's
    LaTeX: a raster PDF would halve the figure time but print blurred); the figure is closed."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{name}.png", folder / f"{name}.pdf"]
    fig.savefig(paths[0], dpi=DPI, pil_kwargs={"compress_level": PNG_COMPRESSION})
    fig.savefig(paths[1])
    plt.close(fig)
    return paths
