"""A ``Table`` as a booktabs LaTeX float, written from a plain template.

Why not ``Styler.to_latex``: it renders the cells and the bold/underline well, but it
cannot put the row-level names in the header corner without an extra header row, has
no ``\\cmidrule`` under spanning headers nor ``\\midrule`` between detector blocks (only
``\\cline``, which breaks booktabs spacing), and has no notes under the table. The
template below is the same booktabs output with those four, and needs only packages of
Debian's texlive-latex-base/-recommended: booktabs, graphicx (``\\resizebox``).
"""

from __future__ import annotations

import re

from reports.formatting import HEADER, CellText, arrow, block_starts, cell_text, notes, typical_seeds
from reports.layout import Table
from reports.marks import FLAG, rank_marks

PREAMBLE = r"""\usepackage{booktabs}
\usepackage{graphicx}
\usepackage{array}
"""
_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
DAGGER = r"$^{\dagger}$"
APPROX = r"$^{\approx}$"
WIDE = 8  # data columns beyond which the std goes under the mean and the table is scaled to fit


_UNICODE = (("×10⁻⁶", r"$\times10^{-6}$"), ("±", r"$\pm$"), ("†", r"$^{\dagger}$"), ("≈", r"$^{\approx}$"),
            ("×", r"$\times$"), ("↑", r"$\uparrow$"), ("↓", r"$\downarrow$"), ("→", r"$\to$"), ("−", "-"),
            ("–", "--"), ("—", "---"))


def escape(text: str) -> str:
    """LaTeX-safe text: special characters escaped, the Unicode symbols reports use as math."""
    out = re.sub(r"[\\&%$#_{}~^]", lambda m: _SPECIAL[m.group()], str(text))
    for symbol, tex in _UNICODE:
        out = out.replace(symbol, tex)
    return out


def _cell(text: CellText, mark: str, stacked: bool = False) -> str:
    """``mean ±std`` with its mark; ``stacked`` (wide tables) puts the std under the mean."""
    if text.missing:
        return "--"
    mean = text.mean
    if mark.endswith(FLAG):
        mean += APPROX
    elif mark == "best":
        mean = rf"\textbf{{{mean}}}"
    elif mark == "second":
        mean = rf"\underline{{{mean}}}"
    if text.seeds is not None:
        mean += rf"$^{{({text.seeds})}}$"
    if text.std is None:
        return mean
    std = rf"{{\scriptsize$\pm${text.std}}}"
    return rf"\shortstack{{{mean}\\{std}}}" if stacked else f"{mean} {std}"


def _header(table: Table) -> list[str]:
    k, m = len(table.row_levels), len(table.metrics)
    first = [escape(level) for level in table.row_levels]
    first += [rf"\multicolumn{{{m}}}{{c}}{{{escape(g)}}}" for g in table.groups]
    rules = "".join(rf"\cmidrule(lr){{{k + 1 + i * m}-{k + (i + 1) * m}}}" for i in range(len(table.groups)))
    second = [""] * k + [escape(HEADER[x]) + (r"$\uparrow$" if arrow(x) else r"$\downarrow$")
                         for _ in table.groups for x in table.metrics]
    return [" & ".join(first) + r" \\", rules, " & ".join(second) + r" \\"]


def _body(table: Table) -> list[str]:
    marks = rank_marks(table)
    typical = typical_seeds(table)
    starts = block_starts(table)
    lines = []
    for i, labels in enumerate(table.rows):
        if starts[i] and i > 0:
            lines.append(r"\midrule")
        shown = [escape(lab) if (j > 0 or starts[i] or len(labels) == 1) else "" for j, lab in enumerate(labels)]
        if table.privileged[i]:
            shown[-1] += DAGGER
        stacked = len(table.columns) > WIDE
        cells = [_cell(cell_text(table, i, j, typical), marks[i, j], stacked) for j in range(len(table.columns))]
        lines.append(" & ".join(shown + cells) + r" \\")
    return lines


def tabular(table: Table) -> str:
    """The ``tabular`` alone (booktabs rules)."""
    spec = "l" * len(table.row_levels) + "c" * len(table.columns)
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", *_header(table), r"\midrule", *_body(table),
             r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines)


def table_float(table: Table) -> str:
    """A complete ``table`` float: caption, label, the tabular (scaled if wide), notes."""
    body = tabular(table)
    if len(table.columns) > WIDE:
        body = "\\resizebox{\\textwidth}{!}{%\n" + body + "}"
    footer = " ".join(escape(n) for n in _notes(table))
    return "\n".join([
        r"\begin{table}[htbp]", r"\centering", rf"\caption{{{escape(table.caption)}}}",
        rf"\label{{tab:{table.name}}}", r"\small", body, r"\par\smallskip", rf"{{\footnotesize {footer}\par}}",
        r"\end{table}", "",
    ])


def _notes(table: Table) -> list[str]:
    return notes(table, dagger="\u2020", approx="\u2248")



def standalone(table: Table) -> str:
    """A compilable document holding one table (what the tests compile)."""
    return "\n".join([r"\documentclass{article}", PREAMBLE + r"\usepackage[margin=2cm]{geometry}",
                      r"\begin{document}", table_float(table), r"\end{document}", ""])
