r"""Figures of a report (seaborn on matplotlib's Agg backend, PNG and SVG): speed against accuracy with the
Pareto front, parameters against accuracy, learning curves with seed bands, unitarity drift over training,
and forward+backward time against N.

Every writer takes :class:`~urnn_zoo.report.load.Results`, writes ``<out>/<name>.png`` and ``.svg`` and
returns the two paths, or ``None`` when there is nothing to plot (the report then says so); :func:`draw`
gives the figure itself. Legends name a cell by its registry name with its display name beside it
(``fcurnn (FC-uRNN)``), in a colour that is the same in every figure; every point of the scatter panels is
labelled with the same text. Metric axes are logarithmic when their values span more than two decades, the
y-limits of learning curves ignore the untrained model's first evaluation, Pareto fronts pass only through
points better than the memoryless baseline, points no better than it (or of a diverged run) are hollow
(:mod:`urnn_zoo.report.axes`), and times carry bars from the fastest to the slowest timing repeat.
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
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import NullFormatter  # noqa: E402

from urnn_zoo.runs import RunStatus  # noqa: E402

from .axes import (after_first_evaluation, colors_for, grid, legend, legend_order, log_ticks,  # noqa: E402
                   Paths, metric_scale, not_better, padded_limits, palette, pareto_front, save)
from .bibtex import label  # noqa: E402
from .load import Results  # noqa: E402
from .speeds import run_options, speed_spread, timing_labels  # noqa: E402
from .tables import arms_of, headline, tasks_of  # noqa: E402

__all__ = ["HOLLOW", "draw", "drift", "learning_curves", "palette", "pareto_front", "params_accuracy",
           "speed_accuracy", "speed_by_size", "speed_spread", "summary_points", "write_all"]

HOLLOW = "hollow: no better than the baseline or diverged"
_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")
_STYLES = ("-", "--", ":", "-.")
_BASELINE = dict(color="#b05050", lw=0.9, ls="-", alpha=.6)


def summary_points(res: Results, diverged: bool = False) -> pd.DataFrame:
    r"""One point per (task, arm, cell, variant, hidden size): the headline test metric's mean over finished
    seeds, total parameters and time per sequence.

    Args:
        diverged: also a point of the diverged seeds (status ``diverged``, finite metric) of each group, apart
            from the finished ones, with ``diverged`` True.

    Returns:
        Columns ``task_label, task, arm, label, hidden, metric, value, seeds, baseline, diverged, marked,
        params, recurrent, ms, ms_min, ms_max, workload``: ``seeds`` the runs averaged; ``baseline`` the
        task's memoryless baseline of the metric (NaN if unknown); ``marked`` a point no better than it or
        diverged (Note [No better than the baseline] of :mod:`urnn_zoo.report.axes`); ``ms*`` the mean,
        fastest and slowest timing repeat of the group's model (its cell options, NaN when it was not timed) and
        ``workload`` their B and T (:func:`speed_spread`).
    """
    rows = []
    bad_runs = (res.runs.status == str(RunStatus.DIVERGED)).fillna(False).astype(bool)
    runs = res.runs[res.runs.ok | (bad_runs & diverged)].assign(diverged=bad_runs)
    test = res.finals[res.finals.split == "test"]
    for (task_label, task, arm, cell, variant, hidden, bad), g in runs.groupby(
            ["task_label", "task", "arm", "cell", "variant", "hidden", "diverged"], dropna=False, sort=False):
        metric, higher = headline(task)
        found = test[test.run.isin(g.run) & (test.metric == metric)]
        values = found.value[np.isfinite(found.value)] if bad else found.value
        if not len(values):
            continue
        baseline = found.baseline.dropna()
        baseline = float(baseline.iloc[0]) if len(baseline) else math.nan
        value = float(values.mean())
        ms, lo, hi, workload = speed_spread(res, cell, int(hidden), run_options(res, g))
        rows.append({"task_label": task_label, "task": task, "arm": arm if isinstance(arm, str) else "runs",
                     "label": label(cell) + (f" [{variant}]" if variant else ""), "hidden": int(hidden),
                     "metric": metric, "value": value, "seeds": int(found.run[values.index].nunique()), "baseline": baseline,
                     "diverged": bool(bad), "marked": bool(bad) or bool(not_better(value, baseline, higher)),
                     "params": g.params_stored.iloc[0], "recurrent": g.recurrent_dof.iloc[0], "ms": ms,
                     "ms_min": lo, "ms_max": hi, "workload": workload})
    return pd.DataFrame(rows)


def _scatter(res: Results, x: str, xlabel, front: bool) -> plt.Figure | None:
    r"""A panel per task: the test metric of :func:`summary_points` against ``x``; ``xlabel``: text, or a
    function of the points drawn."""
    points = summary_points(res, diverged=True)
    if not len(points) or points[x].notna().sum() == 0:
        return None
    points = points[points[x].notna()]
    tasks = list(dict.fromkeys(points.task_label))
    colors = colors_for(points.label)
    arms = list(dict.fromkeys(points.arm))
    marker = {arm: _MARKERS[i % len(_MARKERS)] for i, arm in enumerate(arms)}
    with sns.axes_style("whitegrid"):
        fig, axes = grid(len(tasks))
        for ax, task_label in zip(axes, tasks):
            sel = points[points.task_label == task_label]
            metric, higher = headline(sel.task.iloc[0])
            for p in sel.itertuples():
                c = colors[p.label]
                ax.scatter([getattr(p, x)], [p.value], s=60, marker=marker[p.arm], linewidths=1.3, zorder=3,
                           facecolors="none" if p.marked else [c], edgecolors=[c])
                ax.annotate(p.label, (getattr(p, x), p.value), xytext=(5, 4), textcoords="offset points",
                            fontsize=6.5, color="0.2", zorder=4)
                if x == "ms" and p.ms_max > p.ms_min:
                    ax.errorbar(p.ms, p.value, xerr=[[p.ms - p.ms_min], [p.ms_max - p.ms]], fmt="none",
                                ecolor=c, elinewidth=0.9, capsize=2, zorder=2, label=f"_spread {p.label}")
            baseline = sel.baseline.dropna()
            baseline = float(baseline.iloc[0]) if len(baseline) else math.nan
            for (arm, g), ls in zip(sel[~sel.diverged].groupby("arm", sort=False), _STYLES) if front else ():
                idx = pareto_front(g[x].to_numpy(float), g.value.to_numpy(float), higher, baseline)
                if len(idx) >= 2:  # fewer than two points better than the baseline: no front
                    pts = g.iloc[idx]
                    ax.plot(pts[x], pts.value, ls, color="0.35", lw=1, zorder=1, label=f"Pareto front ({arm})")
            if math.isfinite(baseline):
                ax.axhline(baseline, **_BASELINE, label="memoryless baseline")
            ax.set_xscale("log")
            log_ticks(ax)
            scale = metric_scale(list(sel.value) + [baseline], higher)
            ax.set_yscale(scale)
            if scale == "log":
                log_ticks(ax, "y")
            ax.set(title=task_label, xlabel=xlabel(points) if callable(xlabel) else xlabel,
                   ylabel=f"test {metric} ({'higher' if higher else 'lower'} is better{', log' * (scale == 'log')})")
        first = [Line2D([], [], ls="", marker="o", color=colors[n], label=n)
                 for n in legend_order(colors, points.label)]
        if len(arms) > 1:
            first += [Line2D([], [], ls="", marker=marker[a], color="0.4", label=f"arm: {a}") for a in arms]
        if points.marked.any():
            first.append(Line2D([], [], ls="", marker="o", mfc="none", mec="0.3", label=HOLLOW))
        legend(fig, axes, first)
        return fig


def _speed_accuracy(res: Results) -> plt.Figure | None:
    def xlabel(points: pd.DataFrame) -> str:
        workloads = set(points.workload)
        shown = f" ({workloads.pop()})" if len(workloads) == 1 else " (workloads differ: see the timing table)"
        return f"forward+backward ms per sequence{shown}, log\nbars: fastest to slowest timing repeat"

    return _scatter(res, "ms", xlabel, True)


def _params_accuracy(res: Results) -> plt.Figure | None:
    return _scatter(res, "params", "total parameters (stored reals), log", False)


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


def _lines(c: pd.DataFrame, ylabel, log: bool, hlines=None) -> plt.Figure | None:
    r"""A panel per ``c.panel``: the mean over seeds per cell, with a band of ± one std (linear axis) or the
    range over the seeds (log axis). ``log``: a log y axis; otherwise the axis
    follows Note [Log-scale metric axes] and its limits Note [The first evaluation] (:mod:`.axes`)."""
    if not len(c):
        return None
    panels = list(dict.fromkeys(c.panel))
    colors = colors_for(c.label)
    with sns.axes_style("whitegrid"):
        fig, axes = grid(len(panels))
        for ax, panel in zip(axes, panels):
            sel = c[c.panel == panel]
            base = (hlines or {}).get(panel, math.nan)
            scale = "log" if log and (sel.value > 0).all() else "linear"
            if not log:
                later = after_first_evaluation(sel)
                scale = metric_scale([*later.value, base], headline(sel.task.iloc[0])[1])
            # Note [Seed bands]: ± one standard deviation on a linear axis; on a log axis the range over the seeds
            # (mean − sd falls below 0 where seeds differ by a factor, and a log axis cannot show it)
            errorbar = ("pi", 100) if scale == "log" else "sd"
            sns.lineplot(data=sel.drop(columns="cell").rename(columns={"label": "cell"}), x="step", y="value",
                         hue="cell", hue_order=legend_order(colors, c.label), palette=colors, errorbar=errorbar,
                         estimator="mean", ax=ax)
            if math.isfinite(base):
                ax.axhline(base, **_BASELINE, label="memoryless baseline")
            if not log:
                band = later.groupby(["label", "step"]).value.agg(["mean", "std"]).dropna()  # seaborn's "sd" band
                ends = [*(band["mean"] - band["std"]), *(band["mean"] + band["std"])] if scale == "linear" else []
                shown = [*later.value, base, *ends]
                if np.isfinite(np.asarray(shown, dtype=float)).any():
                    ax.set_ylim(*padded_limits(shown, scale))
            ax.set_yscale(scale)
            if scale == "log" and not log:
                log_ticks(ax, "y")
            ax.set(title=panel, xlabel="optimizer step", ylabel=ylabel(sel) + ", log" * (scale == "log" and not log))
        legend(fig, axes)
        return fig


def _learning_curves(res: Results) -> plt.Figure | None:
    c = _curves(res, "valid", lambda t: headline(t)[0])
    if not len(c):
        return None
    base = {}
    for panel, g in c.groupby("panel"):
        b = res.finals[res.finals.run.isin(g.run) & (res.finals.metric == headline(g.task.iloc[0])[0])].baseline
        if b.notna().any():
            base[panel] = b.dropna().iloc[0]
    return _lines(c, lambda s: f"valid {headline(s.task.iloc[0])[0]}", False, base)


def _drift(res: Results) -> plt.Figure | None:
    c = _curves(res, "model", lambda t: "unitarity_error")
    if not len(c):
        return None
    constraint = res.runs.drop_duplicates("run").set_index("run").constraint
    c = c[c.run.map(constraint).isin(["exact", "soft"])]
    c = c.assign(value=c.value.clip(lower=1e-12))
    return _lines(c, lambda s: "‖W^H W − I‖_F (log)", True)


def _speed_by_size(res: Results) -> plt.Figure | None:
    t = res.timings
    if t is None or not len(t) or t.seconds_per_sequence.notna().sum() == 0:
        return None
    t = t[t.seconds_per_sequence.notna()].copy()
    t["ms"] = t.seconds_per_sequence * 1e3
    t["label"] = timing_labels(t)  # a line per option set timed: the workload's, and each run's own
    t["workload"] = [f"{s}, B={b}, T={ln}, {d}" for s, b, ln, d in zip(t.source, t.batch, t.length, t.device)]
    workloads = sorted(set(t.workload), key=lambda w: (not w.startswith("compare"), w))
    style = {w: (_STYLES[i % len(_STYLES)], _MARKERS[i % len(_MARKERS)]) for i, w in enumerate(workloads)}
    colors = colors_for(t.label)
    with sns.axes_style("whitegrid"):
        fig, ax = plt.subplots(figsize=(7.5, 4.6))
        for (name, workload), g in t.groupby(["label", "workload"], sort=False):
            s = g.groupby("hidden").ms.agg(["mean", "min", "max"]).sort_index()
            ls, m = style[workload]
            ax.errorbar(s.index.to_numpy(float), s["mean"], yerr=[s["mean"] - s["min"], s["max"] - s["mean"]],
                        color=colors[name], ls=ls, marker=m, ms=4, lw=1.2, capsize=2, elinewidth=0.9,
                        label=f"{name} | {workload}")
        ax.set(xscale="log", yscale="log", xlabel="hidden size N",
               ylabel="forward+backward ms per sequence\n(mean; bars: fastest to slowest repeat)")
        sizes = sorted(set(t.hidden.astype(int)))
        ax.set_xticks(sizes, [str(n) for n in sizes], minor=False)  # the sizes timed, not decades
        ax.xaxis.set_minor_formatter(NullFormatter())
        log_ticks(ax, "y")
        handles = [Line2D([], [], color=colors[n], marker="o", label=n) for n in legend_order(colors, t.label)]
        handles += [Line2D([], [], color="0.3", ls=style[w][0], marker=style[w][1], label=w) for w in workloads]
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False, fontsize=8)
        return fig


_DRAW = {"speed_accuracy": _speed_accuracy, "params_accuracy": _params_accuracy,
         "learning_curves": _learning_curves, "drift": _drift, "speed_by_size": _speed_by_size}


def draw(res: Results, name: str) -> plt.Figure | None:
    r"""The figure ``name`` (a key of :data:`FIGURES`) of ``res``, not saved; ``None`` when nothing to plot.
    Close it with ``plt.close(fig)``.

    Raises:
        ValueError: ``name`` is not a figure's name.
    """
    if name not in _DRAW:
        raise ValueError(f"expected a figure name ({', '.join(_DRAW)}), got {name!r}")
    return _DRAW[name](res)


def speed_accuracy(res: Results, out: Path) -> Paths | None:
    r"""Test metric against forward+backward ms per sequence, a panel per task, Pareto fronts of the points
    better than the baseline, bars from the fastest to the slowest timing repeat."""
    return save(draw(res, "speed_accuracy"), Path(out), "speed_accuracy")


def params_accuracy(res: Results, out: Path) -> Paths | None:
    r"""Test metric against total stored parameters, a panel per task."""
    return save(draw(res, "params_accuracy"), Path(out), "params_accuracy")


def learning_curves(res: Results, out: Path) -> Paths | None:
    r"""Validation metric against step, a panel per task and arm; band: ± one std over seeds; y-limits from
    the evaluations after the first (Note [The first evaluation] of :mod:`urnn_zoo.report.axes`)."""
    return save(draw(res, "learning_curves"), Path(out), "learning_curves")


def drift(res: Results, out: Path) -> Paths | None:
    r"""‖W^H W − I‖_F against step for cells with an exact or soft constraint, a panel per task and arm."""
    return save(draw(res, "drift"), Path(out), "drift")


def speed_by_size(res: Results, out: Path) -> Paths | None:
    r"""Forward+backward ms per sequence against N for every cell (log-log), bars from the fastest to the
    slowest repeat; a line style per workload (compare's timings solid, asv's dashed)."""
    return save(draw(res, "speed_by_size"), Path(out), "speed_by_size")


FIGURES = {"speed_accuracy": speed_accuracy, "params_accuracy": params_accuracy,
           "learning_curves": learning_curves, "drift": drift, "speed_by_size": speed_by_size}


def write_all(res: Results, out: Path) -> dict[str, Paths | None]:
    r"""Every figure of :data:`FIGURES` into ``out``; ``{name: (png, svg) or None}``."""
    return {name: fn(res, Path(out)) for name, fn in FIGURES.items()}
