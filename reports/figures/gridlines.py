"""Grid lines of a panel whose y axis is not drawn, at the ticks of the panel it shares
that axis with.

In a row of panels sharing one y axis only the first shows tick labels; the others draw
their axis for its grid lines alone, and building and drawing those ticks was about half
of what a 28-panel figure cost (ticks are made at the first draw, for the PNG and again
drawn for the PDF). Such a panel's y axis is hidden instead and this one collection
draws the same lines, at the locations the first panel's locator gives at draw time (so
a log scale or a later limit change still lines up), in the grid's rc style.
"""

from __future__ import annotations

import matplotlib as mpl
import numpy as np
from matplotlib.collections import LineCollection


class SharedGrid(LineCollection):
    """Horizontal grid lines across ``ax`` at ``source``'s major y tick locations."""

    def __init__(self, ax, source) -> None:
        rc = mpl.rcParams
        super().__init__([], colors=rc["grid.color"], linewidths=rc["grid.linewidth"],
                         linestyles=rc["grid.linestyle"], alpha=rc["grid.alpha"], zorder=0.5,
                         transform=ax.get_yaxis_transform())
        self._ax, self._source, self._ticks = ax, source, None

    def draw(self, renderer) -> None:
        low, high = sorted(self._ax.get_ylim())
        ticks = np.asarray(self._source.yaxis.get_majorticklocs(), float)
        ticks = tuple(ticks[(ticks >= low - 1e-9 * abs(high - low)) & (ticks <= high + 1e-9 * abs(high - low))])
        if ticks != self._ticks:  # the PDF's draw usually finds the PNG's lines
            self.set_segments([[(0.0, y), (1.0, y)] for y in ticks])
            self._ticks = ticks
        super().draw(renderer)


def share_grid(ax, source) -> None:
    """Hide ``ax``'s y axis (``source`` shows the shared one) and draw its grid lines."""
    ax.yaxis.set_visible(False)
    if mpl.rcParams["axes.grid"] and mpl.rcParams["axes.grid.axis"] in ("y", "both"):
        ax.add_collection(SharedGrid(ax, source), autolim=False)
