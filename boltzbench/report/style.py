"""How every figure of the report looks and is written, in one place: sizes for a
two-column paper, fonts, the file formats and the resolution.

A figure is drawn inside :func:`styled` (matplotlib's ``rc_context`` with :data:`RC`) and
written by :func:`save`, which writes one file per format of the :class:`FigureStyle`
beside each other (``heatmap.png``, ``heatmap.pdf``, ``heatmap.svg``) and returns the PNG's
path (the one the documents show).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boltzbench.files import atomic_write_bytes

#: one column of a two-column paper and the full text width, in inches
COLUMN_WIDTH = 3.3
FULL_WIDTH = 6.9
#: the smallest font on a figure printed at its size, in points
MIN_FONT = 7.0
FORMATS = ("png", "pdf", "svg")

#: matplotlib settings every report figure is drawn with
RC: dict[str, Any] = {
    "font.size": 8,
    "axes.titlesize": 8,
    "axes.labelsize": 8,
    "xtick.labelsize": MIN_FONT,
    "ytick.labelsize": MIN_FONT,
    "legend.fontsize": MIN_FONT,
    "figure.titlesize": 9,
    "axes.linewidth": 0.6,
    "lines.linewidth": 1.1,
    "xtick.major.width": 0.6,
    "ytick.major.width": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "pdf.fonttype": 42,  # TrueType in PDF: editable text, accepted by journals
    "svg.fonttype": "none",  # text stays text in SVG
    "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02,
}


@dataclass(frozen=True)
class FigureStyle:
    """Which files a figure is written as and at what resolution.

    Attributes:
        formats: file suffixes without the dot, a subset of :data:`FORMATS`; PNG is
            always written (the documents show it).
        dpi: dots per inch of the PNG (vector formats ignore it).
    """

    formats: tuple[str, ...] = FORMATS
    dpi: int = 150

    def __post_init__(self) -> None:
        unknown = sorted(set(self.formats) - set(FORMATS))
        if unknown:
            raise ValueError(f"unknown figure format(s) {unknown}; choose from {list(FORMATS)}")
        if not 50 <= self.dpi <= 1200:
            raise ValueError(f"dpi must be between 50 and 1200, got {self.dpi}")
        if "png" not in self.formats:
            object.__setattr__(self, "formats", ("png", *self.formats))


DEFAULT_STYLE = FigureStyle()


@contextlib.contextmanager
def styled() -> Iterator[None]:
    """Draw inside this: the report's matplotlib settings (:data:`RC`)."""
    import matplotlib

    with matplotlib.rc_context(RC):
        yield


def panel_size(cols: int, aspect: float = 0.8, width: float = FULL_WIDTH) -> tuple[float, float]:
    """(width, height) in inches of one panel when ``cols`` panels share ``width``."""
    w = width / max(cols, 1)
    return w, w * aspect


def declutter(fig: Any) -> None:
    """Hide every tick label that would overlap one kept before it anywhere on the figure
    (axes in order, x then y, ticks in order), as a reader would thin crowded ticks."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    kept = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for label in axis.get_ticklabels():
                if not (label.get_visible() and label.get_text().strip()):
                    continue
                box = label.get_window_extent(renderer).expanded(1.05, 1.1)
                if any(box.overlaps(other) for other in kept):
                    label.set_visible(False)
                else:
                    kept.append(box)


def save(fig: Any, path: Path, style: FigureStyle = DEFAULT_STYLE) -> Path:
    """Write ``fig`` in every format of ``style`` beside ``path`` (atomically) and close
    it; returns the PNG's path. Crowded tick labels are thinned first (:func:`declutter`)."""
    import matplotlib.pyplot as plt

    path = Path(path).with_suffix(".png")
    with styled():
        declutter(fig)
        for fmt in style.formats:
            buf = io.BytesIO()
            kw = {"dpi": style.dpi} if fmt == "png" else {}
            if fmt == "svg":
                kw["metadata"] = {"Date": None}  # the same figure gives the same file
            if fmt == "pdf":
                kw["metadata"] = {"CreationDate": None}
            fig.savefig(buf, format=fmt, **kw)
            atomic_write_bytes(path.with_suffix(f".{fmt}"), buf.getvalue())
    plt.close(fig)
    return path
