"""Pd-Fa curves from the threshold sweep each record keeps at its last epoch: Pd (%)
against Fa (x1e-6) as the threshold moves, mean over seeds per threshold, one panel per
detector; the table's threshold (0.5) is the filled marker."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from reports.figures.style import grid, handles, legend_below, save, scheme_styles

TABLE_THRESHOLD = 0.5


def pdfa_figure(sweeps: pd.DataFrame, folder: Path, name: str, title: str) -> list[Path]:
    detectors = list(dict.fromkeys(sweeps["detector"]))
    styles = scheme_styles(sweeps["method_spec"])
    fig, axes = grid(1, len(detectors), legend_entries=len(styles), height=2.0, sharex=True, sharey=True, wspace=0.12,
                     title=f"{title}: thresholds 0.05-0.95 at the last epoch (marker: 0.5), mean over seeds")
    for col, (ax, detector) in enumerate(zip(axes[0], detectors)):
        for spec, part in sweeps[sweeps["detector"] == detector].groupby("method_spec", sort=False):
            mean = part.groupby("threshold")[["pd", "fa"]].mean().reset_index()
            style = styles[spec]
            ax.plot(mean["fa"], mean["pd"], color=style["color"], linestyle=style["linestyle"], linewidth=1.1)
            at = mean[(mean["threshold"] - TABLE_THRESHOLD).abs() < 1e-6]
            ax.plot(at["fa"], at["pd"], linestyle="none", marker=style["marker"], color=style["color"], markersize=4)
        ax.set_xscale("symlog", linthresh=1.0)
        ax.set_xlabel(r"Fa ($\times10^{-6}$, symlog)")
        ax.set_ylabel("Pd (%)" if col == 0 else "")
        ax.set_title(detector)
    legend_below(fig, *handles(styles))
    return save(fig, folder, name)
