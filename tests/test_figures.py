r"""The report's figures, read back from the drawn matplotlib objects (axis scales and limits, the Pareto lines'
data, the point labels, error bars, hollow markers) on small synthetic :class:`Results` whose numbers are
written here, and on real runs made by ``train``. The rules: metric axes spanning more than two decades are
logarithmic (accuracy never); fronts pass only through points better than the memoryless baseline; every point
is labelled; learning-curve limits ignore the first evaluation; timings carry min-max bars over repeats; runs
no better than the baseline, or diverged, are hollow."""
from __future__ import annotations

import json
import math
import statistics

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.collections import PathCollection
from matplotlib.container import ErrorbarContainer

from urnn_zoo.report import load_results
from urnn_zoo.report.axes import after_first_evaluation, padded_limits, pareto_front
from urnn_zoo.report.figures import draw, summary_points, write_all
from urnn_zoo.report.load import CONFIG_COLUMNS, Results
from urnn_zoo.runs import (ASV_COLUMNS, CURVE_COLUMNS, FINAL_COLUMNS, RUN_COLUMNS, SKIPPED_COLUMNS, TIMING_COLUMNS,
                           typed_frame)
from urnn_zoo.training import train

HOLLOW = "hollow: no better than the baseline or diverged"
COPY, ADDING, SMNIST = "copy (T=100)", "adding (T=100)", "smnist (digits8x8)"
SPREAD = (0.8, 1.0, 1.2)  # the timing repeats of a point, as multiples of its mean


# ----------------------------------------------------------------------------------------- synthetic results
def _results(points, curves=(), timings=True) -> Results:
    r"""``points``: dicts with cell, task, task_label, value (test headline metric), baseline, ms (mean time),
    and optional arm, hidden, variant, options (the cell options of a variant, in its config and timings),
    status, params, seed. Each point is one run; its timings are three repeats at :data:`SPREAD` times ``ms``.
    ``curves``: (run index, [(step, value), ...]) validation rows."""
    runs, finals, rows, curve_rows, configs = [], [], [], [], []
    metric_of = {"copy": "loss", "adding": "mse", "smnist": "accuracy"}
    for i, p in enumerate(points):
        name, hidden, status = f"run{i}", p.get("hidden", 8), p.get("status", "finished")
        runs.append({"run": name, "cell": p["cell"], "variant": p.get("variant", ""), "task": p["task"],
                     "task_label": p["task_label"], "hidden": hidden, "seed": p.get("seed", 0),
                     "arm": p.get("arm", "N=8"), "status": status, "ok": status == "finished",
                     "params_stored": p.get("params", 100 * (i + 1)), "recurrent_dof": 10, "constraint": "none"})
        metric = metric_of[p["task"]]
        finals.append({"run": name, "split": "test", "metric": metric, "value": p["value"],
                       "baseline": p["baseline"]})
        options = json.dumps(p["options"], sort_keys=True) if "options" in p else None
        if options is not None:
            configs.append({"run": name, "cell": p["cell"], "cell_options": options})
        if timings and p.get("ms") is not None:
            rows += [{"cell": p["cell"], "hidden": hidden, "cell_options": options, "batch": 2, "length": 4,
                      "input_size": 1, "device": "cpu", "repeat": r, "seconds": f * p["ms"] / 1e3 * 2,
                      "seconds_per_sequence": f * p["ms"] / 1e3, "source": "compare", "error": ""}
                     for r, f in enumerate(SPREAD)]
    for i, values in curves:
        p = points[i]
        curve_rows += [{"run": f"run{i}", "cell": p["cell"], "variant": p.get("variant", ""), "task": p["task"],
                        "task_label": p["task_label"], "hidden": p.get("hidden", 8), "seed": p.get("seed", 0),
                        "step": s, "split": "valid", "metric": metric_of[p["task"]], "value": v, "seconds": 0.0}
                       for s, v in values]
    return Results(typed_frame(runs, RUN_COLUMNS), typed_frame(finals, FINAL_COLUMNS),
                   typed_frame(curve_rows, CURVE_COLUMNS), typed_frame(rows, TIMING_COLUMNS),
                   typed_frame([], ASV_COLUMNS), {}, typed_frame([], SKIPPED_COLUMNS),
                   typed_frame(configs, CONFIG_COLUMNS))


def _copy(cell, value, ms, **kw):
    return dict(cell=cell, task="copy", task_label=COPY, value=value, baseline=0.0204, ms=ms, **kw)


def _adding(cell, value, ms, **kw):
    return dict(cell=cell, task="adding", task_label=ADDING, value=value, baseline=0.167, ms=ms, **kw)


def _smnist(cell, value, ms, **kw):
    return dict(cell=cell, task="smnist", task_label=SMNIST, value=value, baseline=0.1, ms=ms, **kw)


@pytest.fixture
def figure():
    r"""``figure(res, name)``: the drawn figure, closed after the test."""
    drawn = []

    def make(res, name):
        fig = draw(res, name)
        drawn.append(fig)
        return fig

    yield make
    for fig in drawn:
        if fig is not None:
            plt.close(fig)


def _panel(fig, title):
    found = [ax for ax in fig.axes if ax.get_visible() and ax.get_title() == title]
    assert len(found) == 1, [ax.get_title() for ax in fig.axes]
    return found[0]


def _points(ax) -> dict[str, tuple[float, float, bool]]:
    r"""label -> (x, y, hollow) of every scatter point, joined to its text label by position."""
    marks = {}
    for col in ax.collections:
        if isinstance(col, PathCollection) and len(col.get_offsets()):
            (x, y), = np.asarray(col.get_offsets(), dtype=float)
            face = col.get_facecolors()
            marks[(x, y)] = len(face) == 0 or bool((face[:, 3] == 0).all())
    texts = {(float(t.xy[0]), float(t.xy[1])): t.get_text() for t in ax.texts}
    assert set(texts) == set(marks), "every point carries a label, and only points do"
    return {texts[xy]: (xy[0], xy[1], hollow) for xy, hollow in marks.items()}


def _legend_texts(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


# ----------------------------------------------------------------------------------------- 1. log metric axes
def test_metric_axis_is_logarithmic_where_values_span_decades(figure):
    r"""copy: solved cells near 1e-8 against a baseline of 0.0204 (a span of 1e6): log. adding: 0.05 to 0.167:
    linear. smnist accuracy 0.004 to 0.9 (a span of 225) is higher-is-better: linear."""
    res = _results([_copy("kru", 1e-8, 1.0), _copy("lstm", 3e-7, 2.0), _copy("exprnn", 0.019, 4.0),
                    _adding("kru", 0.05, 1.0), _adding("lstm", 0.12, 2.0),
                    _smnist("kru", 0.004, 1.0), _smnist("lstm", 0.9, 2.0)])
    for name in ("speed_accuracy", "params_accuracy"):
        fig = figure(res, name)
        copy = _panel(fig, COPY)
        assert copy.get_yscale() == "log", name
        lo, hi = copy.get_ylim()
        assert lo <= 1e-8 and hi >= 0.0204
        assert "log" in copy.get_ylabel()
        assert _panel(fig, ADDING).get_yscale() == "linear", name
        assert _panel(fig, SMNIST).get_yscale() == "linear", name


def test_metric_axis_stays_linear_within_two_decades_or_with_a_value_at_zero(figure):
    r"""A span of exactly 100 is not more than 100: linear; a value of 0 cannot be on a log axis: linear."""
    res = _results([_copy("kru", 0.000204, 1.0), _copy("lstm", 0.01, 2.0),
                    _adding("kru", 0.0, 1.0), _adding("lstm", 1e-6, 2.0)])
    fig = figure(res, "params_accuracy")
    assert _panel(fig, COPY).get_yscale() == "linear"  # 0.0204 / 0.000204 = 100
    assert _panel(fig, ADDING).get_yscale() == "linear"


def test_learning_curve_axis_is_logarithmic_per_panel(figure):
    res = _results([_copy("kru", 1e-8, 1.0), _adding("kru", 0.1, 1.0)],
                   curves=[(0, [(0, 2.2), (10, 1e-3), (20, 1e-8)]), (1, [(0, 0.2), (10, 0.15), (20, 0.1)])])
    fig = figure(res, "learning_curves")
    assert _panel(fig, f"{COPY}, N=8").get_yscale() == "log"
    assert _panel(fig, f"{ADDING}, N=8").get_yscale() == "linear"


# ----------------------------------------------------------------------------------------- 2. Pareto fronts
def _front(ax, arm):
    lines = [ln for ln in ax.lines if ln.get_label() == f"Pareto front ({arm})"]
    assert len(lines) <= 1
    return (list(lines[0].get_xdata()), list(lines[0].get_ydata())) if lines else None


def test_pareto_front_passes_only_through_points_better_than_the_baseline(figure):
    r"""Arm N=8: E at the baseline (fastest), A worse than it, a diverged run's point below it (it diverged by
    its unitarity error); B and C better, D dominated by C. The front is B, C. Arm "budget 400": one point
    better than the baseline, one worse: no front."""
    res = _results([_copy("rnn", 0.0204, 0.5), _copy("lstm", 0.03, 1.0), _copy("kru", 0.01, 2.0),
                    _copy("fcurnn", 0.001, 4.0), _copy("eurnn", 0.005, 8.0),
                    _copy("exprnn", 0.0005, 0.7, status="diverged"),
                    _copy("scornn", 0.002, 3.0, arm="budget 400", hidden=16),
                    _copy("ornn", 0.05, 1.5, arm="budget 400", hidden=16)])
    ax = _panel(figure(res, "speed_accuracy"), COPY)
    assert _front(ax, "N=8") == (pytest.approx([2.0, 4.0]), pytest.approx([0.01, 0.001]))
    assert _front(ax, "budget 400") is None


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), min_size=1, max_size=12),
       st.booleans(), st.one_of(st.none(), st.integers(0, 6)))
def test_pareto_front_is_the_undominated_points_better_than_the_baseline(xy, higher, baseline):
    r"""Against the definition: a point better than the baseline is on the front when no other such point is at
    most as costly and at least as good, and strictly one of them. Fronts run by ascending cost, every
    step strictly better."""
    x, y = np.array([p[0] for p in xy], float), np.array([p[1] for p in xy], float)

    def better(v):
        return baseline is None or (v > baseline if higher else v < baseline)

    def dominates(q, p):
        at_least = q[0] <= p[0] and (q[1] >= p[1] if higher else q[1] <= p[1])
        return at_least and q != p

    candidates = {p for p in xy if better(p[1])}
    expected = {p for p in candidates if not any(dominates(q, p) for q in candidates)}
    idx = pareto_front(x, y, higher, None if baseline is None else float(baseline))
    got = [(int(x[i]), int(y[i])) for i in idx]
    assert set(got) == expected and len(got) == len(expected)
    assert all(a[0] < b[0] and (b[1] > a[1] if higher else b[1] < a[1]) for a, b in zip(got, got[1:]))


# ----------------------------------------------------------------------------------------- 3. labels
def test_every_scatter_point_is_labelled_with_its_cell_and_variant(figure):
    res = _results([_copy("kru", 0.01, 2.0), _copy("eurnn", 0.001, 4.0, variant="capacity=4", options={"capacity": 4}),
                    _copy("fcurnn", 0.03, 1.0)])
    for name, x in (("speed_accuracy", {"kru (KRU)": 2.0, "eurnn (EURNN (tunable)) [capacity=4]": 4.0,
                                        "fcurnn (FC-uRNN)": 1.0}),
                    ("params_accuracy", {"kru (KRU)": 100, "eurnn (EURNN (tunable)) [capacity=4]": 200,
                                         "fcurnn (FC-uRNN)": 300})):
        ax = _panel(figure(res, name), COPY)
        points = _points(ax)
        assert {k: v[0] for k, v in points.items()} == pytest.approx(x)
        assert {k: v[1] for k, v in points.items()} == pytest.approx(
            {"kru (KRU)": 0.01, "eurnn (EURNN (tunable)) [capacity=4]": 0.001, "fcurnn (FC-uRNN)": 0.03})
        assert all(t.get_fontsize() <= 8 and t.xyann != (0, 0) for t in ax.texts)  # small, beside the point


# ----------------------------------------------------------------------------------------- 4. curve limits
def test_learning_curve_limits_clip_a_first_evaluation_spike_not_the_curves(figure):
    r"""expRNN's first validation value is 50 times its later ones (5.0 against 0.1): the y-limits come from
    the evaluations after the first (0.06 to 0.16) and the baseline 0.167, with a margin."""
    res = _results([_adding("exprnn", 0.06, 1.0), _adding("kru", 0.1, 2.0)],
                   curves=[(0, [(0, 5.0), (10, 0.1), (20, 0.08), (30, 0.06)]),
                           (1, [(0, 0.17), (10, 0.16), (20, 0.12), (30, 0.1)])])
    ax = _panel(figure(res, "learning_curves"), f"{ADDING}, N=8")
    lo, hi = ax.get_ylim()
    assert ax.get_yscale() == "linear"
    assert lo < 0.06 and hi > 0.167  # every later value and the baseline inside, with a margin
    assert (hi - lo) < 1.3 * (0.167 - 0.06)  # margins of at most 15% a side: the spike (5.0) is outside
    drawn = [list(ln.get_ydata()) for ln in ax.lines if len(ln.get_ydata()) == 4]
    assert [5.0, 0.1, 0.08, 0.06] in drawn  # the spike is clipped by the limits, not left out of the line


def test_learning_curve_limits_hold_the_seed_bands(figure):
    r"""Two seeds of a cell at 0.1 and 0.3 after their first evaluation: the band mean ± one std
    (statistics.stdev, n - 1) reaches 0.2 ± 0.1414, beyond both values; the limits hold it."""
    res = _results([_adding("kru", 0.1, 1.0, seed=0), _adding("kru", 0.3, 1.0, seed=1)],
                   curves=[(0, [(0, 9.0), (10, 0.1)]), (1, [(0, 9.0), (10, 0.3)])])
    ax = _panel(figure(res, "learning_curves"), f"{ADDING}, N=8")
    half = statistics.stdev([0.1, 0.3])
    lo, hi = ax.get_ylim()
    assert lo < 0.2 - half and 0.2 + half < hi < 1.0


def test_a_log_panels_seed_band_is_the_range_over_the_seeds(figure):
    r"""Two seeds of a solved copy run at 1e-6 and 1e-4 (a log panel): mean − std is below 0, so the band is the
    range over the seeds, [1e-6, 1e-4] at that step, and the limits hold it."""
    res = _results([_copy("kru", 1e-6, 1.0, seed=0), _copy("kru", 1e-4, 1.0, seed=1)],
                   curves=[(0, [(0, 2.0), (10, 1e-6)]), (1, [(0, 2.0), (10, 1e-4)])])
    ax = _panel(figure(res, "learning_curves"), f"{COPY}, N=8")
    assert ax.get_yscale() == "log"
    (band,) = [c for c in ax.collections if not isinstance(c, PathCollection)]
    ys = np.concatenate([path.vertices[:, 1] for path in band.get_paths()])
    xs = np.concatenate([path.vertices[:, 0] for path in band.get_paths()])
    at_10 = ys[np.isclose(xs, 10)]
    assert math.isclose(at_10.min(), 1e-6, rel_tol=1e-9) and math.isclose(at_10.max(), 1e-4, rel_tol=1e-9)
    lo, hi = ax.get_ylim()
    assert lo < 1e-6 and hi > 0.0204


def test_learning_curve_first_evaluation_is_per_run():
    curves = pd.DataFrame({"run": ["a", "a", "a", "b", "b", "c"], "step": [0, 5, 10, 5, 10, 7],
                           "value": [9.0, 1.0, 2.0, 8.0, 3.0, 4.0]})
    kept = after_first_evaluation(curves)
    assert kept.value.tolist() == [1.0, 2.0, 3.0, 4.0]  # c was evaluated once: its one value stays


@given(st.lists(st.floats(1e-12, 1e12), min_size=1, max_size=20), st.sampled_from(["linear", "log"]))
def test_padded_limits_enclose_the_values_with_a_bounded_margin(values, scale):
    lo, hi = padded_limits(values, scale)
    assert lo < min(values) and hi > max(values)
    if scale == "log":
        span = math.log10(max(values)) - math.log10(min(values))
        assert math.log10(hi) - math.log10(lo) <= 1.25 * max(span, 0.5) * (1 + 1e-9)
    elif max(values) > min(values):
        assert hi - lo <= 1.25 * (max(values) - min(values)) * (1 + 1e-9)


# ----------------------------------------------------------------------------------------- 5. timing spread
def _segments(container: ErrorbarContainer):
    return [np.asarray(s, dtype=float) for col in container.lines[2] for s in col.get_segments()]


def test_speed_by_size_shows_min_max_of_the_repeats(figure):
    res = _results([_copy("kru", 0.01, 2.0, hidden=8), _copy("kru", 0.01, 5.0, hidden=32, arm="N=32"),
                    _copy("lstm", 0.01, 3.0, hidden=8)])
    ax = figure(res, "speed_by_size").axes[0]
    bars = {c.get_label(): c for c in ax.containers if isinstance(c, ErrorbarContainer)}
    kru = bars["kru (KRU) | compare, B=2, T=4, cpu"]
    assert list(kru.lines[0].get_xdata()) == [8, 32]
    assert list(kru.lines[0].get_ydata()) == pytest.approx([2.0, 5.0])  # the mean of the repeats
    segments = np.array(sorted((s[0, 0], s[0, 1], s[1, 1]) for s in _segments(kru)))
    np.testing.assert_allclose(segments, [(8, 0.8 * 2.0, 1.2 * 2.0), (32, 0.8 * 5.0, 1.2 * 5.0)], rtol=1e-12)
    assert ax.get_xscale() == ax.get_yscale() == "log"


def test_speed_accuracy_shows_the_spread_of_the_repeats_on_the_speed_axis(figure):
    res = _results([_copy("kru", 0.01, 2.0), _copy("lstm", 0.001, 4.0)])
    ax = _panel(figure(res, "speed_accuracy"), COPY)
    bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    segments = np.array(sorted((s[0, 0], s[1, 0], s[0, 1], s[1, 1]) for c in bars for s in _segments(c)))
    np.testing.assert_allclose(segments, [(1.6, 2.4, 0.01, 0.01), (3.2, 4.8, 0.001, 0.001)], rtol=1e-12)
    assert "(B=2, T=4)" in ax.get_xlabel()  # the workload the times are of


# ----------------------------------------------------------------------------------------- 6. hollow points
def test_points_no_better_than_the_baseline_or_diverged_are_hollow(figure):
    res = _results([_copy("kru", 0.01, 2.0), _copy("lstm", 0.0204, 1.0), _copy("rnn", 0.5, 0.5),
                    _copy("exprnn", 1e5, 3.0, status="diverged"), _copy("scornn", math.nan, 3.5, status="diverged"),
                    _copy("fcurnn", 0.02, 4.0, status="stopped: non-finite loss"),
                    _smnist("kru", 0.95, 2.0), _smnist("lstm", 0.1, 1.0)])
    for name in ("speed_accuracy", "params_accuracy"):
        fig = figure(res, name)
        copy = {k: v[2] for k, v in _points(_panel(fig, COPY)).items()}
        # a diverged run with a NaN metric and a stopped run are not points
        assert copy == {"kru (KRU)": False, "lstm (LSTM)": True, "rnn (RNN)": True, "exprnn (expRNN)": True}
        smnist = {k: v[2] for k, v in _points(_panel(fig, SMNIST)).items()}
        assert smnist == {"kru (KRU)": False, "lstm (LSTM)": True}  # accuracy at the baseline: not better
        assert HOLLOW in _legend_texts(fig)


def test_no_hollow_entry_when_every_point_is_better(figure):
    fig = figure(_results([_copy("kru", 0.01, 2.0), _copy("lstm", 0.001, 1.0)]), "params_accuracy")
    assert HOLLOW not in _legend_texts(fig) and "kru (KRU)" in _legend_texts(fig)


def test_summary_points_keeps_diverged_runs_apart_and_only_when_asked():
    res = _results([_copy("kru", 0.01, 2.0, seed=0), _copy("kru", 0.5, 2.0, seed=1, status="diverged"),
                    _copy("kru", 0.02, 2.0, seed=2), _copy("kru", math.inf, 2.0, seed=3, status="diverged")])
    plain = summary_points(res)
    assert plain.value.tolist() == pytest.approx([0.015]) and not plain.diverged.any()
    both = summary_points(res, diverged=True).set_index("diverged")
    assert both.value.to_dict() == pytest.approx({False: 0.015, True: 0.5})
    assert both.marked.to_dict() == {False: False, True: True}
    assert both.seeds.to_dict() == {False: 2, True: 1}


# ----------------------------------------------------------------------------------------- real runs
def test_real_runs_diverged_point_is_hollow_and_labelled(tmp_path, figure):
    r"""Two real runs: expRNN with lr 1e6 (its copy loss grows a millionfold: diverged) and a short KRU run.
    The expRNN point is drawn hollow at its recorded test loss; KRU's is hollow exactly when its recorded
    test loss is not below the recorded baseline."""
    common = dict(batch_size=4, eval_batches=1, test_batches=1, log_every=1, progress="none",
                  task_options={"T": 3}, seed=0)
    train("exprnn", "copy", out=tmp_path, hidden=8, steps=20, lr=1e6, eval_every=10, **common)
    train("kru", "copy", out=tmp_path, hidden=8, steps=4, eval_every=2, **common)
    summaries = {json.loads(p.read_text())["cell"]: json.loads(p.read_text()) for p in tmp_path.glob("*/summary.json")}
    assert summaries["exprnn"]["status"] == "diverged"
    res = load_results(tmp_path)
    points = _points(_panel(figure(res, "params_accuracy"), "copy (T=3)"))
    exprnn, kru = points["exprnn (expRNN)"], points["kru (KRU)"]
    assert exprnn[1] == pytest.approx(summaries["exprnn"]["final"]["loss"]) and exprnn[2]
    assert kru[1] == pytest.approx(summaries["kru"]["final"]["loss"])
    assert kru[2] == (summaries["kru"]["final"]["loss"] >= summaries["kru"]["baseline"]["loss"])
    written = write_all(res, tmp_path / "figures")
    assert written["speed_accuracy"] is None and written["speed_by_size"] is None  # no timings: said, not drawn
    for name in ("params_accuracy", "learning_curves"):
        assert all(p.stat().st_size > 0 for p in written[name])


def test_draw_names_the_figures_it_knows():
    with pytest.raises(ValueError, match=r"expected a figure name \(speed_accuracy, .*\), got 'speed'"):
        draw(_results([]), "speed")


def test_a_cells_only_variant_keeps_the_cells_colour_and_colours_stay_distinct():
    from urnn_zoo.report.axes import colors_for, palette
    from urnn_zoo.report.bibtex import label

    base = palette()
    kru, fc, rc = label("kru"), label("fcurnn"), label("rcurnn")
    shown = [f"{kru} [factors=[2, 2]]", f"{fc} [parametrization=none]", rc, label("lstm")]
    colors = colors_for(shown)
    assert colors[shown[0]] == base[kru] and colors[shown[1]] == base[fc]
    assert len({colors[name] for name in shown}) == len(shown)  # no two lines share a colour
    both = colors_for([kru, f"{kru} [factors=[2, 2]]", f"{kru} [init='identity']"])  # the cell shown too
    assert len({both[name] for name in both if name.startswith(kru)}) == 3
