"""``report.html``: one self-contained page (tables and PNG plots embedded as data URIs, no
scripts or styles from outside) that opens offline in any browser. It leads with the
answer: the overall ranking, then a table of contents, one table per target sorted by its
primary metric, the figures with captions, the provenance block, and the break-even detail
folded away.

A short inline script counts the images that decoded (``naturalWidth > 0``) and writes
``data-images-loaded="k/n"`` on ``<body>``, so a headless browser can check the page.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from boltzbench.report.crossover import summary_frame
from boltzbench.report.views import overall_view, target_view

STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1400px; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #bbb; padding: 3px 7px; text-align: right; }
th:nth-child(2), td:nth-child(2) { text-align: left; }
img { max-width: 100%; margin: 0.5em 0; border: 1px solid #ddd; }
figcaption, .note { color: #555; font-size: 13px; }
nav li { margin: 2px 0; }
"""

SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].naturalWidth > 0) ok++; }
  document.body.setAttribute('data-images-loaded', ok + '/' + imgs.length);
});
"""

#: a caption per figure, by file stem (samples_<target> share one)
CAPTIONS = {
    "heatmap": "Methods × targets on each target's primary metric at its largest budget; "
    "colour: orders of magnitude above the exact sampler's floor, log10(median / floor); "
    "outlined bold: at the floor; hatched grey: a failure tier, named; n/a: not run.",
    "curves": "One target's primary metric against budget units spent (and wall seconds, "
    "where the snapshots carry their clock): median over seeds with the order-statistic "
    "interval as a band; panels by family, at most six methods each; grey band: the exact "
    "floor; the y axis is linear up to the floor, logarithmic above.",
    "bars": "Per target: median over seeds with its order-statistic interval, by rank; "
    "dashed: the exact floor; ×: failed or in a failure tier; ▲: diverged, value printed.",
    "budgets": "The primary metric against budget (sweeps): one line per method with its "
    "interval over seeds, the exact floor as a band.",
    "energy": "Densities of E(x) of each method's samples (lowest seed) against the "
    "reference; the share of samples off scale under each panel.",
    "samples": "Each method's samples over the reference (grey): a 2-D target over its "
    "energy contours, one column per seed; any other target as pair plots of its "
    "collective variables (torsions, pair distances, leading coordinates or principal "
    "components), seed 0 in colour over a second seed in black, and a marginal.",
    "summary": "Where each method stands per target: orders of magnitude above the floor "
    "and behind the best method; failure tiers marked.",
}


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, na_rep="n/a", border=0, escape=True)


def _anchor(name: str) -> str:
    return "t-" + "".join(c if c.isalnum() else "-" for c in name)


def _figure(path: Path) -> str:
    """A figure linked from ``plots/`` beside the page (not embedded: the page stays
    small), with its PDF and SVG where they were written."""
    alt = html.escape(path.stem)
    caption = CAPTIONS.get(path.stem.split("_")[0], "")
    src = html.escape(f"plots/{path.name}")
    vector = " ".join(
        f'<a href="plots/{html.escape(path.with_suffix(s).name)}">{s[1:].upper()}</a>'
        for s in (".pdf", ".svg")
        if path.with_suffix(s).is_file()
    )
    return (
        f'<figure id="{_anchor(path.stem)}"><img alt="{alt}" src="{src}" loading="lazy">'
        f"<figcaption><b>{alt}</b>. {html.escape(caption)} {vector}</figcaption></figure>"
    )


def render(
    title: str,
    runs: pd.DataFrame,
    board: pd.DataFrame,
    summary: pd.DataFrame,
    breakeven: pd.DataFrame,
    plots: list[Path],
    provenance: dict[str, str],
    note: str = "",
    crossover: pd.DataFrame | None = None,
) -> str:
    """The page (``runs`` and ``board`` at each target's largest budget)."""
    targets = sorted(board["target"].unique()) if not board.empty else []
    plots = [p for p in plots if Path(p).is_file()]
    toc = ['<nav id="contents"><h2>Contents</h2><ul>', '<li><a href="#overall">Overall</a></li>']
    toc += [f'<li><a href="#{_anchor(t)}">{html.escape(t)}</a></li>' for t in targets]
    swept = crossover is not None and not crossover.empty
    if swept:
        toc.append('<li><a href="#sweep">Budget sweep</a></li>')
    toc += [
        '<li><a href="#figures">Figures</a></li>',
        '<li><a href="#provenance">Provenance</a></li>',
        '<li><a href="#breakeven">Break-even detail</a></li>',
        "</ul></nav>",
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{html.escape(note)}</p>',
        '<section id="overall"><h2>Overall</h2>',
        '<p class="note">Mean rank over targets by each target\'s primary metric (ties '
        "shared where 95% intervals overlap), ok cells, mean cost per cell in budget units "
        "and in seconds (of which inside the energy), failures.</p>",
        _table(overall_view(summary)) if not summary.empty else "<p>No finished cells.</p>",
        "</section>",
        *toc,
    ]
    for target in targets:
        view, primary = target_view(board, runs, target, bold="{} (floor)", emph="{}")
        if primary:
            view = view.rename(columns={primary: f"{primary} (primary)"})
        parts += [
            f'<section id="{_anchor(target)}"><h2>{html.escape(target)}</h2>',
            f'<p class="note">Sorted by rank on the primary metric {html.escape(str(primary))}'
            "; =k: shared rank.</p>",
            _table(view),
            "</section>",
        ]
    if swept:
        parts += [
            '<section id="sweep"><h2>Budget sweep: where the amortized samplers overtake MCMC</h2>',
            '<p class="note">Per amortized method and target, the MCMC methods by where '
            "the amortized method stands at the largest budget (means over seeds, compared "
            "only at budgets where both have a result): ahead (with the budget from which "
            "it stays ahead; *: the 95% intervals separate), tied (the MCMC method's "
            "interval reaches the exact floor, which nothing beats), behind, n/a. Every "
            "budget: crossover.csv; the curves: budgets.png.</p>",
            _table(summary_frame(crossover)),
            "</section>",
        ]
    parts += ['<section id="figures"><h2>Figures</h2>'] + [_figure(p) for p in plots]
    parts += ["</section>", '<section id="provenance"><h2>Provenance</h2><dl>']
    for key, value in provenance.items():
        parts.append(f"<dt>{html.escape(key)}</dt><dd><code>{html.escape(str(value))}</code></dd>")
    parts += ["</dl></section>", '<section id="breakeven"><h2>Break-even detail</h2>']
    if not breakeven.empty:
        parts += [
            "<details><summary>Break-even sample counts against MCMC "
            f"({len(breakeven)} rows)</summary>",
            _table(breakeven),
            "</details>",
        ]
    else:
        parts.append("<p>None: no amortized method with an MCMC comparison.</p>")
    parts += ["</section>", f"<script>{SCRIPT}</script>", "</body></html>"]
    return "\n".join(parts)
