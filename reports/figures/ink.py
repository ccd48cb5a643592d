"""What one panel draws (lines, bands, markers), gathered and then added as three
collections instead of an artist per scheme.

A report's curve figures have ~10 schemes in each of ~100 panels; matplotlib spends
about a millisecond of Python per artist per draw, and the PNG and the PDF each draw.
A collection is one artist with one renderer call, so a panel costs three artists
whatever its number of schemes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.collections import LineCollection, PathCollection, PolyCollection
from matplotlib.markers import MarkerStyle
from matplotlib.transforms import IdentityTransform

BAND_ALPHA = 0.2
LINE_WIDTH = 1.2
MARKER_POINTS = 3.5  # marker size in points (Line2D's markersize)


@lru_cache(maxsize=None)
def marker_path(marker: str):
    """The unit path of a marker (cached: a figure's ~10,000 markers share a dozen shapes)."""
    style = MarkerStyle(marker)
    return style.get_path().transformed(style.get_transform())


@dataclass
class Ink:
    """Lines, bands and markers of one panel, in data coordinates."""

    lines: list[np.ndarray] = field(default_factory=list)
    line_styles: list[tuple] = field(default_factory=list)  # (colour, dash, width)
    bands: list[np.ndarray] = field(default_factory=list)
    band_colours: list = field(default_factory=list)
    marks: list[tuple[float, float]] = field(default_factory=list)
    mark_styles: list[tuple] = field(default_factory=list)  # (colour, marker, points)

    def line(self, x, y, style: dict, width: float = LINE_WIDTH, linestyle: str | None = None) -> None:
        ok = np.isfinite(np.asarray(y, float)) & np.isfinite(np.asarray(x, float))
        if ok.sum() >= 2:
            self.lines.append(np.column_stack([np.asarray(x, float)[ok], np.asarray(y, float)[ok]]))
            self.line_styles.append((style["color"], linestyle or style["linestyle"], width))

    def band(self, x, low, high, colour, alpha: float = BAND_ALPHA) -> None:
        x, low, high = (np.asarray(v, float) for v in (x, low, high))
        ok = np.isfinite(low) & np.isfinite(high)
        if ok.any():
            self.bands.append(np.column_stack([np.r_[x[ok], x[ok][::-1]], np.r_[low[ok], high[ok][::-1]]]))
            self.band_colours.append((*to_rgb(colour), alpha))

    def bar(self, x: float, height: float, colour, alpha: float, width: float = 0.7) -> None:
        """A bar from 0 to ``height`` centred on ``x`` (a filled polygon)."""
        half = width / 2
        self.bands.append(np.array([[x - half, 0.0], [x + half, 0.0], [x + half, height], [x - half, height]]))
        self.band_colours.append((*to_rgb(colour), alpha))

    def error_bar(self, x: float, low: float, high: float, cap: float = 0.08) -> None:
        """A black vertical bar from ``low`` to ``high`` with caps."""
        style = {"color": "black", "linestyle": "-"}
        self.line([x, x], [low, high], style, width=0.8)
        for y in (low, high):
            self.line([x - cap, x + cap], [y, y], style, width=0.8)

    def markers(self, x, y, style: dict, points: float = MARKER_POINTS) -> None:
        for a, b in zip(np.asarray(x, float).ravel(), np.asarray(y, float).ravel()):
            if np.isfinite(a) and np.isfinite(b):
                self.marks.append((a, b))
                self.mark_styles.append((style["color"], style["marker"], points))

    def __bool__(self) -> bool:
        return bool(self.lines or self.bands or self.marks)

    def draw(self, ax) -> None:
        """Bands under lines under markers. The axes' data limits take them in and its
        view is autoscaled at draw time: ``add_collection``'s own limits update re-scales
        every axes shared with this one at each call (quadratic in a shared grid)."""
        collections = []
        if self.bands:
            collections.append(PolyCollection(self.bands, facecolors=self.band_colours, linewidths=0, zorder=1.5))
        if self.lines:
            colours, dashes, widths = zip(*self.line_styles)
            collections.append(LineCollection(self.lines, colors=list(colours), linestyles=list(dashes),
                                              linewidths=list(widths), zorder=2))
        if self.marks:
            colours, markers, sizes = zip(*self.mark_styles)
            collections.append(PathCollection([marker_path(m) for m in markers], sizes=np.square(sizes),
                                              offsets=np.asarray(self.marks), offset_transform=ax.transData,
                                              transform=IdentityTransform(), facecolors=colours, edgecolors=colours,
                                              linewidths=0.5, zorder=2.5))
        for collection in collections:
            ax.add_collection(collection, autolim=False)
        if self:
            ax.update_datalim(np.concatenate(self.bands + self.lines + [np.asarray(self.marks).reshape(-1, 2)]))
            ax.autoscale()  # lazy: the view is computed once, when the figure is drawn
