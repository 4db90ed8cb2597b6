r"""Figures of a report (seaborn on matplotlib's Agg backend, PNG and SVG): speed against accuracy with the
Pareto front, parameters against accuracy, learning curves with seed bands, unitarity drift over training,
and forward+backward time against N.

Every function takes :class:`~urnn_zoo.report.load.Results`, writes ``<out>/<name>.png`` and ``.svg`` and
returns the two paths, or ``None`` when there is nothing to plot (the report then says so). Legends name a
cell by its registry name with its display name beside it (``fcurnn (FC-uRNN)``), in a colour that is the
same in every figure.
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
from .load import Results  # noqa: E402
from .tables import arms_of, headline, speed_of, tasks_of  # noqa: E402

__all__ = ["drift", "learning_curves", "palette", "pareto_front", "params_accuracy", "speed_accuracy", "summary_points",
           "speed_by_size", "write_all"]

Paths = tuple[Path, Path]


def palette() -> dict[str, tuple]:
    r"""A fixed colour per registered cell label (the same in every figure and report)."""
    import urnn_zoo as uz

    names = [label(c) for c in uz.cell_names()]
    colors = sns.color_palette("tab10", 10) + sns.color_palette("Dark2", 8)
    return {n: colors[i % len(colors)] for i, n in enumerate(names)}


def _colors(labels) -> dict[str, tuple]:
    base = palette()
    extra = sns.color_palette("husl", max(1, len(set(labels) - set(base))))
    for i, name in enumerate(sorted(set(labels) - set(base))):
        base[name] = extra[i]
    return base


def _log_ticks(ax, axis: str = "x") -> None:
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


def _order(colors: dict[str, tuple], labels) -> list[str]:
    r"""Legend order: the registry's order (that of :func:`palette`), for the labels present."""
    present = set(labels)
    return [name for name in colors if name in present]


def _save(fig: plt.Figure, out: Path, name: str) -> Paths:
    out.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    png, svg = out / f"{name}.png", out / f"{name}.svg"
    fig.savefig(png, dpi=130, bbox_inches="tight")
    fig.savefig(svg, bbox_inches="tight")
    plt.close(fig)
    return png, svg


def _grid(n: int, width: float = 4.6, height: float = 3.6):
    cols = min(n, 2)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols + 2.6, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _legend(fig: plt.Figure, axes) -> None:
    handles, labels = {}, {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
        if ax.get_legend():
            ax.get_legend().remove()
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="center left", bbox_to_anchor=(1.0, 0.5),
                   frameon=False, fontsize=8)


def pareto_front(x: np.ndarray, y: np.ndarray, higher_is_better: bool) -> np.ndarray:
    r"""Indices of the points no other point beats in both (lower) ``x`` and (better) ``y``, by ascending x.

    Example:
        >>> pareto_front(np.array([1, 2, 3]), np.array([0.5, 0.4, 0.6]), higher_is_better=False).tolist()
        [0, 1]
    """
    order = np.lexsort((-y if higher_is_better else y, x))
    front, best = [], None
    for i in order:
        value = y[i] if higher_is_better else -y[i]
        if best is None or value > best:
            front.append(int(i))
            best = value
    return np.asarray(front, dtype=int)


def summary_points(res: Results) -> pd.DataFrame:
    r"""One point per (task, arm, cell, variant, hidden size): the headline test metric's mean over finished seeds,
    total parameters and time per sequence."""
    rows = []
    ok = res.runs[res.runs.ok]
    test = res.finals[res.finals.split == "test"]
    for (task_label, task, arm, cell, variant, hidden), g in ok.groupby(
            ["task_label", "task", "arm", "cell", "variant", "hidden"], dropna=False, sort=False):
        metric, _ = headline(task)
        values = test[test.run.isin(g.run) & (test.metric == metric)].value
        if not len(values):
            continue
        ms, _ = speed_of(res, cell, int(hidden))
        if math.isnan(ms) and g.seconds_per_step.notna().any():
            ms = math.nan
        rows.append({"task_label": task_label, "task": task, "arm": arm if isinstance(arm, str) else "runs",
                     "label": label(cell) + (f" [{variant}]" if variant else ""), "hidden": int(hidden),
                     "metric": metric, "value": values.mean(), "params": g.params_stored.iloc[0],
                     "recurrent": g.recurrent_dof.iloc[0], "ms": ms})
    return pd.DataFrame(rows)


def _scatter(res: Results, out: Path, name: str, x: str, xlabel: str, front: bool) -> Paths | None:
    points = summary_points(res)
    if not len(points) or points[x].notna().sum() == 0:
        return None
    points = points[points[x].notna()]
    tasks = list(dict.fromkeys(points.task_label))
    colors = _colors(points.label)
    with sns.axes_style("whitegrid"):
        fig, axes = _grid(len(tasks))
        for ax, task_label in zip(axes, tasks):
            sel = points[points.task_label == task_label]
            metric, higher = headline(sel.task.iloc[0])
            sns.scatterplot(data=sel.rename(columns={"label": "cell"}), x=x, y="value", hue="cell", style="arm",
                            hue_order=_order(colors, points.label), palette=colors, s=70, ax=ax)
            if front and len(sel) > 1:
                for (arm, g), ls in zip(sel.groupby("arm", sort=False), ("--", ":", "-.", "-")):
                    idx = pareto_front(g[x].to_numpy(float), g.value.to_numpy(float), higher)
                    pts = g.iloc[idx]
                    ax.plot(pts[x], pts.value, ls, color="0.35", lw=1, zorder=0, label=f"Pareto front ({arm})")
            baseline = res.finals[(res.finals.run.isin(res.runs.run[res.runs.task_label == task_label]))
                                  & (res.finals.metric == metric)].baseline.dropna()
            if len(baseline):
                ax.axhline(baseline.iloc[0], color="#b05050", lw=0.9, ls="-", alpha=.6, label="memoryless baseline")
            ax.set_xscale("log")
            _log_ticks(ax)
            ax.set(title=task_label, xlabel=xlabel, ylabel=f"test {metric} ({'higher' if higher else 'lower'} "
                                                             f"is better)")
        _legend(fig, axes)
        return _save(fig, out, name)


def speed_accuracy(res: Results, out: Path) -> Paths | None:
    r"""Test metric against forward+backward ms per sequence, a panel per task, Pareto front dashed."""
    t = res.timings
    workload = ""
    if t is not None and len(t):
        b, ln = t.batch.iloc[0], t.length.iloc[0]
        workload = f" (B={b}, T={ln})"
    return _scatter(res, out, "speed_accuracy", "ms", f"forward+backward ms per sequence{workload}, log", True)


def params_accuracy(res: Results, out: Path) -> Paths | None:
    r"""Test metric against total stored parameters, a panel per task."""
    return _scatter(res, out, "params_accuracy", "params", "total parameters (stored reals), log", False)


def _curves(res: Results, split: str, metric_of) -> pd.DataFrame:
    c = res.curves
    if c is None or not len(c):
        return pd.DataFrame()
    arms = res.runs[["run", "arm"]].copy()
    arms["arm"] = arms.arm.fillna("runs")
    c = c.merge(arms, on="run")
    c = c[(c.split == split) & (c.metric == c.task.map(metric_of))]
    if not len(c):
        return c
    c = c.copy()
    c["label"] = [label(cell) + (f" [{v}]" if v else "") for cell, v in zip(c.cell, c.variant)]
    c["panel"] = [f"{t}, {a}" for t, a in zip(c.task_label, c.arm)]
    order = [f"{t}, {a if a is not None else 'runs'}" for t in tasks_of(res) for a in arms_of(res, t)]
    rank = {p: i for i, p in enumerate(order)}
    return c.sort_values("panel", key=lambda p: p.map(rank), kind="stable")


def _lines(c: pd.DataFrame, out: Path, name: str, ylabel, log: bool, hlines=None) -> Paths | None:
    if not len(c):
        return None
    panels = list(dict.fromkeys(c.panel))
    colors = _colors(c.label)
    with sns.axes_style("whitegrid"):
        fig, axes = _grid(len(panels))
        for ax, panel in zip(axes, panels):
            sel = c[c.panel == panel]
            sns.lineplot(data=sel.drop(columns="cell").rename(columns={"label": "cell"}), x="step", y="value",
                         hue="cell", hue_order=_order(colors, c.label), palette=colors, errorbar="sd",
                         estimator="mean", ax=ax)
            if hlines is not None and panel in hlines:
                ax.axhline(hlines[panel], color="#b05050", lw=0.9, ls="-", alpha=.6, label="memoryless baseline")
            if log and (sel.value > 0).all():
                ax.set_yscale("log")
            ax.set(title=panel, xlabel="optimizer step", ylabel=ylabel(sel))
        _legend(fig, axes)
        return _save(fig, out, name)


def learning_curves(res: Results, out: Path) -> Paths | None:
    r"""Validation metric against step, a panel per task and arm; band: ± one std over seeds."""
    c = _curves(res, "valid", lambda t: headline(t)[0])
    if not len(c):
        return None
    base = {}
    for panel, g in c.groupby("panel"):
        b = res.finals[res.finals.run.isin(g.run) & (res.finals.metric == headline(g.task.iloc[0])[0])].baseline
        if b.notna().any():
            base[panel] = b.dropna().iloc[0]
    return _lines(c, out, "learning_curves", lambda s: f"valid {headline(s.task.iloc[0])[0]}", False, base)


def drift(res: Results, out: Path) -> Paths | None:
    r"""‖W^H W − I‖_F against step for cells with an exact or soft constraint, a panel per task and arm."""
    c = _curves(res, "model", lambda t: "unitarity_error")
    if not len(c):
        return None
    constraint = res.runs.drop_duplicates("run").set_index("run").constraint
    c = c[c.run.map(constraint).isin(["exact", "soft"])]
    c = c.assign(value=c.value.clip(lower=1e-12))
    return _lines(c, out, "drift", lambda s: "‖W^H W − I‖_F (log)", True)


def speed_by_size(res: Results, out: Path) -> Paths | None:
    r"""Forward+backward ms per sequence against N for every cell (log-log); asv timings dashed."""
    t = res.timings
    if t is None or not len(t) or t.seconds_per_sequence.notna().sum() == 0:
        return None
    t = t[t.seconds_per_sequence.notna()].copy()
    t["ms"] = t.seconds_per_sequence * 1e3
    t["label"] = t.cell.map(label)
    t["workload"] = [f"{s}, B={b}, T={ln}, {d}" for s, b, ln, d in zip(t.source, t.batch, t.length, t.device)]
    colors = _colors(t.label)
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(7.5, 4.6))
        sns.lineplot(data=t.drop(columns="cell").rename(columns={"label": "cell"}), x="hidden", y="ms", hue="cell",
                     hue_order=_order(colors, t.label), style="workload", palette=colors, markers=True,
                     errorbar="sd", ax=ax)
        ax.set(xscale="log", yscale="log", xlabel="hidden size N", ylabel="forward+backward ms per sequence")
        _log_ticks(ax, "x")
        _log_ticks(ax, "y")
        ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=8)
        return _save(fig, out, "speed_by_size")


FIGURES = {"speed_accuracy": speed_accuracy, "params_accuracy": params_accuracy,
           "learning_curves": learning_curves, "drift": drift, "speed_by_size": speed_by_size}


def write_all(res: Results, out: Path) -> dict[str, Paths | None]:
    r"""Every figure of :data:`FIGURES` into ``out``; ``{name: (png, svg) or None}``."""
    return {name: fn(res, Path(out)) for name, fn in FIGURES.items()}
