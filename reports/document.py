"""The report's two documents: ``index.md`` (every table inline, every figure linked) and
``report.pdf``, compiled from the same ``.tex`` tables and PDF figures when a LaTeX
engine is on PATH (pdflatex, else lualatex or xelatex); without one the report says so
and skips it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from reports import latex, text
from reports.report import Report

ENGINES = ("pdflatex", "lualatex", "xelatex")
TIMEOUT = 180


def latex_engine() -> str | None:
    """The first LaTeX engine on PATH (``POINTBENCH_LATEX`` names another)."""
    wanted = os.environ.get("POINTBENCH_LATEX")
    for name in ([wanted] if wanted else []) + list(ENGINES):
        if shutil.which(name):
            return name
    return None


def write_index(report: Report) -> Path:
    lines = ["# pointbench report", "",
             "Regenerated from stored records (`pointbench report`); tables as LaTeX (`tables/*.tex`), "
             "Markdown and CSV, figures as PNG and PDF.", ""]
    for table in report.tables:
        lines += [f"## {table.name}", "", text.markdown(table), f"[LaTeX](tables/{table.name}.tex) · "
                  f"[intervals and Markdown](tables/{table.name}.md) · [numbers](tables/{table.name}.csv)", ""]
    for title, body in report.extra_markdown.items():
        lines += [f"## {title}", "", body, ""]
    if report.figures:
        lines += ["## Figures", ""]
        for caption, png in report.figures:
            rel = png.relative_to(report.out).as_posix()
            lines += [f"### {caption}", "", f"![{caption}]({rel})", f"([PDF]({rel[:-4]}.pdf))", ""]
    path = report.out / "index.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def document_tex(report: Report) -> str:
    """report.tex: the tables (``\\input``) and figures (PDF) of the report."""
    body = [rf"\input{{tables/{t.name}.tex}}" for t in report.tables]
    if (report.out / "tables" / "published-comparison.tex").is_file():
        body.append(r"\input{tables/published-comparison.tex}")
    for caption, png in report.figures:
        pdf = png.with_suffix(".pdf").relative_to(report.out).as_posix()
        body += [r"\begin{figure}[p]", r"\centering", rf"\includegraphics[width=\textwidth,height=0.8\textheight,keepaspectratio]{{{pdf}}}",
                 rf"\caption{{{latex.escape(caption)}}}", r"\end{figure}", r"\clearpage"]
    return "\n".join([r"\documentclass[10pt]{article}", latex.PREAMBLE.rstrip(), r"\usepackage{longtable}", r"\setlength{\LTcapwidth}{\textwidth}",
                      r"\usepackage[margin=1.8cm,landscape]{geometry}", r"\title{pointbench report}", r"\date{}",
                      r"\begin{document}", r"\maketitle", *body, r"\end{document}", ""])


def compile_tex(folder: Path, name: str, engine: str) -> tuple[bool, str]:
    """Run the engine twice (longtable widths settle on the second pass); (ok, log tail)."""
    for _ in range(2):
        run = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", f"{name}.tex"], cwd=folder,
                             capture_output=True, text=True, timeout=TIMEOUT)
        if run.returncode != 0:
            return False, "\n".join(run.stdout.splitlines()[-25:])
    return True, ""


def write_pdf(report: Report) -> None:
    (report.out / "report.tex").write_text(document_tex(report), encoding="utf-8")
    engine = latex_engine()
    if engine is None:
        report.pdf_message = ("report.pdf skipped: no LaTeX engine on PATH (pdflatex, lualatex or xelatex; "
                              "e.g. apt-get install texlive-latex-base texlive-latex-recommended); report.tex is written")
        return
    ok, log = compile_tex(report.out, "report", engine)
    if ok:
        report.pdf = report.out / "report.pdf"
        report.pdf_message = f"report.pdf: {report.pdf} ({engine})"
        for suffix in (".aux", ".log"):  # kept only when the compile failed
            (report.out / f"report{suffix}").unlink(missing_ok=True)
    else:
        report.pdf_message = f"report.pdf failed with {engine}; see {report.out / 'report.log'}:\n{log}"
