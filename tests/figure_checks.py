"""Checks a rendered matplotlib figure must pass (used by tests/test_figures.py): every
axis that shows tick labels has a label, no two tick labels overlap, every line style
drawn has a legend entry, and no text is smaller than the paper's minimum."""

from __future__ import annotations

from typing import Any

from boltzbench.report.style import MIN_FONT


def _visible_ticks(ax: Any, which: str) -> list[Any]:
    axis = ax.xaxis if which == "x" else ax.yaxis
    return [t for t in axis.get_ticklabels() if t.get_visible() and t.get_text().strip()]


def _hidden_names(ax: Any, which: str) -> list[str]:
    """Category tick labels (names, not numbers) that are not shown: thinning may drop a
    number from a scale, never a method's or a target's name."""
    axis = ax.xaxis if which == "x" else ax.yaxis
    shown = [t.label1 for t in axis.get_major_ticks()]
    low, high = sorted(ax.get_xlim() if which == "x" else ax.get_ylim())
    locs = axis.get_majorticklocs()
    labels = [
        t for t, v in zip(shown, locs, strict=False) if low <= v <= high and t.get_text().strip()
    ]
    names = [
        t for t in labels if "$" not in t.get_text() and any(c.isalpha() for c in t.get_text())
    ]
    if len(names) < len(labels) / 2:  # a numeric axis
        return []
    return [t.get_text() for t in names if not t.get_visible()]


def _has_content(ax: Any) -> bool:
    return bool(ax.lines or ax.collections or ax.images or ax.patches or ax.containers)


def _legend_styles(fig: Any) -> set[str]:
    styles: set[str] = set()
    legends = list(fig.legends) + [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    for legend in legends:
        for handle in legend.legend_handles:
            ls = getattr(handle, "get_linestyle", lambda: None)()
            if isinstance(ls, str):
                styles.add(ls)
    return styles


def figure_problems(fig: Any) -> list[str]:
    """What is wrong with ``fig`` (empty when nothing is)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    problems: list[str] = []
    boxes = []
    for k, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        colorbar = hasattr(ax, "_colorbar")
        for which in ("x", "y"):
            ticks = _visible_ticks(ax, which)
            label = (ax.get_xlabel() if which == "x" else ax.get_ylabel()).strip()
            if ticks and not label and (_has_content(ax) or colorbar):
                problems.append(f"axes {k} ({ax.get_title()!r}): no {which} label")
            boxes += [(k, which, t.get_text(), t.get_window_extent(renderer)) for t in ticks]
            hidden = _hidden_names(ax, which)
            if hidden:
                problems.append(f"axes {k}: {which} tick names hidden: {hidden}")
        for text in [ax.title, ax.xaxis.label, ax.yaxis.label, *ax.texts]:
            if text.get_text().strip() and text.get_fontsize() < MIN_FONT - 0.01:
                problems.append(f"axes {k}: text {text.get_text()!r} at {text.get_fontsize()} pt")
    for i, (k1, _, t1, b1) in enumerate(boxes):
        for k2, _, t2, b2 in boxes[i + 1 :]:
            if b1.overlaps(b2) and (b1.width > 0 and b2.width > 0):
                inter_w = min(b1.x1, b2.x1) - max(b1.x0, b2.x0)
                inter_h = min(b1.y1, b2.y1) - max(b1.y0, b2.y0)
                if inter_w > 0.5 and inter_h > 0.5:
                    problems.append(
                        f"tick labels overlap: {t1!r} (axes {k1}) and {t2!r} (axes {k2})"
                    )
    drawn = set()
    for ax in fig.axes:
        for line in ax.lines:
            ls = line.get_linestyle()
            if line.get_visible() and ls not in ("None", "", " ") and len(line.get_xdata()) > 0:
                drawn.add(ls)
    missing = drawn - _legend_styles(fig) - {"-"} if drawn - {"-"} else set()
    if missing:
        problems.append(f"line styles without a legend entry: {sorted(missing)}")
    return problems
