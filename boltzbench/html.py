"""``report.html``: one self-contained page (tables and PNG plots embedded as data URIs, no
scripts or styles from outside) that opens offline in any browser.

A short inline script counts the images that decoded (``naturalWidth > 0``) and writes
``data-images-loaded="k/n"`` on ``<body>``, so a headless browser can check the page.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd

STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 13px; }
th, td { border: 1px solid #bbb; padding: 3px 7px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; margin: 1em 0; border: 1px solid #ddd; }
.note { color: #555; font-size: 13px; }
"""

SCRIPT = """
window.addEventListener('load', function () {
  var imgs = document.images, ok = 0;
  for (var i = 0; i < imgs.length; i++) { if (imgs[i].naturalWidth > 0) ok++; }
  document.body.setAttribute('data-images-loaded', ok + '/' + imgs.length);
});
"""


def _table(df: pd.DataFrame) -> str:
    return df.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="n/a", border=0)


def _image(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = html.escape(path.stem)
    return f'<h3>{alt}</h3>\n<img alt="{alt}" src="data:image/png;base64,{data}">'


def render(
    title: str,
    board: pd.DataFrame,
    breakeven: pd.DataFrame,
    plots: list[Path],
    note: str = "",
) -> str:
    """The page: per-target leaderboard tables (mean [low, high]; "(floor)" where the
    interval reaches the exact sampler's noise floor), the break-even table, then every
    plot."""
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{html.escape(note)}</p>',
    ]
    for target in sorted(board["target"].unique()):
        sub = board[board["target"] == target].copy()
        sub["value"] = [
            (
                "failed"
                if pd.isna(m)
                else f"{m:.4g}"
                if pd.isna(lo) or pd.isna(hi)
                else f"{m:.4g} [{lo:.3g}, {hi:.3g}]"
            )
            + (" (floor)" if at_floor else "")
            for m, lo, hi, at_floor in zip(
                sub["mean"], sub["low"], sub["high"], sub["within_floor"], strict=True
            )
        ]
        wide = sub.pivot_table(
            index=["method", "budget"],
            columns="metric",
            values="value",
            aggfunc="first",
            dropna=False,
        ).reset_index()
        parts += [f"<h2>{html.escape(str(target))}</h2>", _table(wide)]
    if not breakeven.empty:
        parts += ["<h2>Break-even sample counts</h2>", _table(breakeven)]
    parts += ["<h2>Plots</h2>"] + [_image(p) for p in plots if Path(p).is_file()]
    parts += [f"<script>{SCRIPT}</script>", "</body></html>"]
    return "\n".join(parts)
