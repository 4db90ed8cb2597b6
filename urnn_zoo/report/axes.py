r"""The conventions every figure of a report shares: how an axis is scaled (the logarithmic-axis rule, the
y-limits of learning curves), which points are singled out (the Pareto front, the points no better than the
memoryless baseline), and the colours, panel grid, legend and files of a figure.

Note [Log-scale metric axes]
    A metric axis (the test metric of the scatter panels, the validation metric of a learning-curve panel) is
    logarithmic when every value it shows is > 0 and the largest is more than :data:`LOG_SPAN` (100) times
    the smallest; otherwise linear. Decided per panel, from the values plotted and the memoryless baseline
    drawn across it. Accuracy-type metrics (higher is better, bounded in [0, 1]) are always linear. Why: on
    copy the solved cells reach a test loss near 1e-8 while the baseline is 0.0204; on a linear axis every
    solved cell sits on 0 and they cannot be told apart.

Note [The first evaluation]
    A learning-curve panel's y-limits come from the values after the first evaluation of each curve (one
    curve per run), the seed bands drawn over them (mean ± one standard deviation; on a log axis the ends
    above 0) and the baseline, padded by :data:`MARGIN` of the span (of the decades, on a log axis); its
    scale (Note [Log-scale metric axes]) from those values and the baseline.
    The first evaluation is the untrained model (step 0), which can sit orders of magnitude above the rest
    (expRNN on adding: 5.2 where every later value is below 0.2): it is clipped, the curves are not. A curve
    with a single evaluation keeps it.

Note [No better than the baseline]
    The memoryless baseline is the best a model without memory can do. A value is *better* than it when it is
    strictly below it (lower-is-better metrics) or strictly above it (higher-is-better metrics); a point that
    is not (a run that did not learn), or whose run diverged (:mod:`urnn_zoo.runs.divergence`), lies on no
    Pareto front and is drawn hollow. Without a baseline only divergence marks a point.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: no display is ever needed

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .bibtex import label  # noqa: E402

__all__ = ["LOG_SPAN", "MARGIN", "after_first_evaluation", "colors_for", "grid", "legend", "legend_order",
           "log_ticks", "metric_scale", "not_better", "padded_limits", "palette", "pareto_front", "save"]

Paths = tuple[Path, Path]
LOG_SPAN = 100.0
MARGIN = 0.06


def _finite(values) -> np.ndarray:
    v = np.asarray(values, dtype=float).ravel()
    return v[np.isfinite(v)]


def metric_scale(values, higher_is_better: bool) -> str:
    r"""``"log"`` or ``"linear"`` for a metric axis showing ``values`` (Note [Log-scale metric axes]).

    Args:
        values: the values plotted on the axis (any shape; non-finite ones are not plotted and not counted).
        higher_is_better: the metric is accuracy-like (always linear).

    Example:
        >>> metric_scale([1e-8, 3e-6, 0.0204], False), metric_scale([0.05, 0.2], False)
        ('log', 'linear')
    """
    v = _finite(values)
    if higher_is_better or not len(v) or (v <= 0).any():
        return "linear"
    return "log" if v.max() > LOG_SPAN * v.min() else "linear"


def padded_limits(values, scale: str, margin: float = MARGIN) -> tuple[float, float]:
    r"""``(low, high)`` enclosing the finite ``values`` with ``margin`` of their span on either side: of the
    values on a linear axis, of their decades on a log axis (where every value must be > 0).

    Raises:
        ValueError: no finite value, or a value <= 0 on a log axis.
    """
    v = _finite(values)
    if not len(v):
        raise ValueError(f"expected at least one finite value to set axis limits from, got {list(values)!r}")
    if scale == "log":
        if (v <= 0).any():
            raise ValueError(f"expected values > 0 on a log axis, got a smallest value of {v.min()!r}")
        lo, hi = math.log10(v.min()), math.log10(v.max())
        pad = margin * max(hi - lo, 0.5)
        return 10 ** (lo - pad), 10 ** (hi + pad)
    lo, hi = float(v.min()), float(v.max())
    pad = margin * (hi - lo) if hi > lo else margin * max(abs(hi), 1e-12)
    return lo - pad, hi + pad


def after_first_evaluation(curves: pd.DataFrame) -> pd.DataFrame:
    r"""The rows of ``curves`` (one metric of one split, columns ``run``, ``step``) after each run's first
    evaluation; a run evaluated once keeps its row (Note [The first evaluation])."""
    if not len(curves):
        return curves
    first = curves.groupby("run").step.transform("min")
    evaluations = curves.groupby("run").step.transform("nunique")
    return curves[(curves.step > first) | (evaluations == 1)]


def not_better(values, baseline: float, higher_is_better: bool) -> np.ndarray:
    r"""Which ``values`` are no better than ``baseline`` (Note [No better than the baseline]); all False when
    the baseline is unknown (NaN). A NaN value is never better.

    Example:
        >>> not_better([0.01, 0.0204, 0.03], 0.0204, higher_is_better=False).tolist()
        [False, True, True]
    """
    v = np.asarray(values, dtype=float)
    if baseline is None or not math.isfinite(baseline):
        return np.zeros(v.shape, dtype=bool)
    better = v > baseline if higher_is_better else v < baseline
    return ~better


def pareto_front(x: np.ndarray, y: np.ndarray, higher_is_better: bool,
                 baseline: float | None = None) -> np.ndarray:
    r"""Indices of the points no other point beats in both (lower) ``x`` and (better) ``y``, by ascending x.

    With a ``baseline``, only the points better than it take part (Note [No better than the baseline]): a
    point no better than the baseline is on no front. Of points with equal coordinates the first is kept.

    Args:
        x: cost per point (time or parameters), shape (n,).
        y: the metric per point, shape (n,).
        higher_is_better: whether a larger ``y`` is better.
        baseline: the memoryless baseline of the metric (optional).

    Example:
        >>> pareto_front(np.array([1, 2, 3]), np.array([0.5, 0.4, 0.6]), higher_is_better=False).tolist()
        [0, 1]
        >>> pareto_front(np.array([1, 2, 3]), np.array([0.5, 0.4, 0.3]), False, baseline=0.45).tolist()
        [1, 2]
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"expected x and y of one equal length, got shapes {x.shape} and {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y) & ~not_better(y, math.nan if baseline is None else baseline,
                                                       higher_is_better)
    order = [i for i in np.lexsort((-y if higher_is_better else y, x)) if keep[i]]
    front, best = [], None
    for i in order:
        value = y[i] if higher_is_better else -y[i]
        if best is None or value > best:
            front.append(int(i))
            best = value
    return np.asarray(front, dtype=int)


def log_ticks(ax, axis: str = "x") -> None:
    r"""Log axis with plain numbers: decades labelled, and 2 and 5 times them when less than two decades show
    (decided when the figure is drawn, from the final limits)."""
    from matplotlib.ticker import FuncFormatter

    target = ax.xaxis if axis == "x" else ax.yaxis

    def minor(v, _):
        lo, hi = sorted(target.get_view_interval())
        if v <= 0 or lo <= 0 or math.log10(hi / lo) >= 2:
            return ""
        lead = round(v / 10 ** math.floor(math.log10(v)), 6)
        return f"{v:g}" if lead in (2, 5) else ""

    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(FuncFormatter(minor))


# ----------------------------------------------------------------------------------------- colours, layout
def palette() -> dict[str, tuple]:
    r"""A fixed colour per registered cell label (the same in every figure and report)."""
    import urnn_zoo as uz

    names = [label(c) for c in uz.cell_names()]
    colors = sns.color_palette("tab10", 10) + sns.color_palette("Dark2", 8)
    return {n: colors[i % len(colors)] for i, n in enumerate(names)}


def colors_for(labels) -> dict[str, tuple]:
    r""":func:`palette` with a colour for every other label in ``labels``: a cell's only variant shown (its cell
    not shown) takes the cell's colour, any other label (an unregistered cell, a second variant) one of its own."""
    base = palette()
    present = set(labels)
    others = sorted(present - set(base))
    # a cell's one variant (``kru (KRU) [factors=...]``) keeps its cell's colour when the cell itself is not shown
    cell_of = {name: next((c for c in base if name.startswith(c + " [")), None) for name in others}
    shown_cells = [cell_of[n] for n in others if cell_of[n] is not None]
    own = {n: base[cell_of[n]] for n in others
           if cell_of[n] is not None and cell_of[n] not in present and shown_cells.count(cell_of[n]) == 1}
    rest = [n for n in others if n not in own]
    extra = sns.color_palette("husl", max(1, len(rest)))
    base.update(own)
    for i, name in enumerate(rest):
        base[name] = extra[i]
    return base


def legend_order(colors: dict[str, tuple], labels) -> list[str]:
    r"""Legend order: the registry's order (that of :func:`palette`), for the labels present."""
    present = set(labels)
    return [name for name in colors if name in present]


def save(fig: plt.Figure | None, out: Path, name: str) -> Paths | None:
    r"""Write ``fig`` as ``<out>/<name>.png`` (130 dpi) and ``.svg``, close it and return the two paths;
    ``None`` for no figure."""
    if fig is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    png, svg = out / f"{name}.png", out / f"{name}.svg"
    fig.savefig(png, dpi=130, bbox_inches="tight")
    fig.savefig(svg, bbox_inches="tight")
    plt.close(fig)
    return png, svg


def grid(n: int, width: float = 4.6, height: float = 3.6):
    r"""A figure of ``n`` panels, two a row (``width`` x ``height`` inches each, room for a legend beside);
    ``(figure, [axes])``."""
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols + 2.6, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def legend(fig: plt.Figure, axes, first: list | None = None) -> None:
    r"""One legend beside the figure: ``first`` handles, then every labelled artist of ``axes`` (once a label)."""
    handles = {h.get_label(): h for h in first or []}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
        if ax.get_legend():
            ax.get_legend().remove()
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="center left", bbox_to_anchor=(1.0, 0.5),
                   frameon=False, fontsize=8)
