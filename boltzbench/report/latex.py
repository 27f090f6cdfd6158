"""``leaderboard.tex``: the overall table and one table per target as LaTeX (booktabs), the
same rows, values, bolding (values at the exact sampler's floor) and shared ranks (=k) as
``LEADERBOARD.md``, from the same formatted views (:mod:`boltzbench.report.views`).

The file is a fragment to ``\\input`` into a paper (it needs ``\\usepackage{booktabs}`` and
``graphicx``); each table sits in a ``table`` float with a caption and a label
``tab:<target>``, scaled to the line width.
"""

from __future__ import annotations

import pandas as pd

from boltzbench.report.views import overall_view, target_view

#: markers the views wrap bold and emphasised text in, replaced after escaping
_BOLD = ("\x01", "\x02")
_EMPH = ("\x03", "\x04")
_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "–": "--",
    "×": r"$\times$",
}


def escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped, the view's bold and emphasis
    markers turned into ``\\textbf{…}`` and ``\\emph{…}``."""
    out = "".join(_SPECIAL.get(c, c) for c in str(text))
    for (start, end), command in ((_BOLD, r"\textbf{"), (_EMPH, r"\emph{")):
        out = out.replace(start, command).replace(end, "}")
    return out


def tabular(df: pd.DataFrame, caption: str, label: str) -> list[str]:
    """One booktabs table in a ``table`` float: text columns left, the rest right."""
    cols = [str(c) for c in df.columns]
    align = "".join("l" if c in ("method", "rank") else "r" for c in cols)
    lines = [
        r"\begin{table}[t]",
        r"\centering\small",
        rf"\caption{{{escape(caption)}}}",
        rf"\label{{{label}}}",
        r"\resizebox{\linewidth}{!}{%",
        rf"\begin{{tabular}}{{{align}}}",
        r"\toprule",
        " & ".join(escape(c) for c in cols) + r" \\",
        r"\midrule",
    ]
    for _, row in df.iterrows():
        if str(row.get("method", "")).startswith("floor"):
            lines.append(r"\midrule")
        lines.append(" & ".join(escape(v) for v in row.tolist()) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\end{table}", ""]
    return lines


def leaderboard_latex(summary: pd.DataFrame, board: pd.DataFrame, runs: pd.DataFrame) -> str:
    """The whole file (see the module docstring); ``board`` and ``runs`` at each target's
    largest budget, ``summary`` the overall table."""
    lines = [
        "% boltzbench leaderboard (boltzbench report); needs \\usepackage{booktabs,graphicx}",
        "",
    ]
    if not summary.empty:
        lines += tabular(
            overall_view(summary),
            "Overall: mean rank over targets by each target's primary metric, ok cells, "
            "mean cost per cell in budget units and in seconds (of which inside the energy).",
            "tab:overall",
        )
    bold, emph = _BOLD[0] + "{}" + _BOLD[1], _EMPH[0] + "{}" + _EMPH[1]
    for target in sorted(board["target"].unique()) if not board.empty else []:
        view, primary = target_view(board, runs, target, bold=bold, emph=emph)
        caption = (
            f"{target}: median over seeds [order-statistic interval]; sorted by rank on "
            f"{primary} (=k: shared rank); bold: at the exact sampler's floor."
        )
        lines += tabular(view, caption, f"tab:{target}")
    return "\n".join(lines) + "\n"
