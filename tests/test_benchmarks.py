r"""The asv suite imports, covers every registered cell, and its reduced grid stays small (no asv run here)."""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import inspect
import itertools
import json
import math
import os
import pkgutil
import re
import statistics
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import urnn_zoo as uz

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # asv imports the suite as the package `benchmarks` from the repository root
    sys.path.insert(0, str(ROOT))

MODULES = sorted(m.name for m in pkgutil.iter_modules([str(ROOT / "benchmarks")]))
KINDS = ("time_", "peakmem_", "track_")


def bench_module(name: str):
    return importlib.import_module(f"benchmarks.{name}")


def benchmark_methods():
    r"""``(module, class, method name)`` of every asv benchmark in the suite."""
    for name in MODULES:
        module = bench_module(name)
        for cls_name, cls in vars(module).items():
            if inspect.isclass(cls) and cls.__module__ == module.__name__:
                for attr in dir(cls):
                    if attr.startswith(KINDS) and callable(getattr(cls, attr)):
                        yield module, cls, attr


@pytest.mark.parametrize("name", MODULES)
def test_every_module_imports(name):
    assert bench_module(name).__doc__


def test_suite_has_every_kind():
    kinds = {attr.split("_", 1)[0] + "_" for _, _, attr in benchmark_methods()}
    assert kinds == set(KINDS)
    names = {f"{cls.__name__}.{attr}" for _, cls, attr in benchmark_methods()}
    for expected in ("CellForward.time_forward", "CellForwardBackward.time_forward_backward", "CellStep.time_step",
                     "KronApply.time_factored", "KronApply.time_dense", "PeakMemory.peakmem_forward_backward",
                     "CudaMemory.track_max_memory_allocated", "CopyTraining.track_accuracy",
                     "CopyTraining.track_loss", "AddingTraining.track_mse",
                     "UnitarityDrift.track_unitarity_error", "ParameterCount.track_parameters"):
        assert expected in names


def test_quick_grid_keeps_one_small_size_and_the_cpu():
    common = bench_module("common")
    assert common.quick_from_env({common.QUICK_ENV: "1"})
    assert not common.quick_from_env({common.QUICK_ENV: "0"}) and not common.quick_from_env({})
    quick = common.grid(True)
    assert len(quick.sizes) == 1 and quick.sizes[0] <= 128
    assert quick.devices == ("cpu",)
    assert quick.train_size <= 128 and max(quick.train_steps) <= 50 and len(quick.drift_steps) == 1


def test_cell_list_read_without_import_matches_the_registry():
    assert bench_module("common").registered_cell_names() == uz.cell_names()


def test_track_modules_start_without_torch():
    # Their per-cell cases only read a setup_cache result, so each asv process for them must stay cheap.
    code = ("import sys; import benchmarks.bench_training, benchmarks.bench_unitarity, "
            "benchmarks.bench_parameters; assert 'torch' not in sys.modules, 'torch imported'")
    env = {k: v for k, v in os.environ.items() if k != "URNN_ZOO_BENCH_QUICK"}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=60)


def test_full_grid():
    full = bench_module("common").grid(False)
    assert {128, 512, 1024} <= set(full.sizes)
    assert full.devices == ("cpu", "cuda")


def test_every_registered_cell_is_benchmarked():
    cells = set(uz.cell_names())
    for module, cls, attr in benchmark_methods():
        if "cell" in getattr(cls, "param_names", ()):
            assert set(cls.params[cls.param_names.index("cell")]) == cells, f"{cls.__name__}.{attr}"
    timing = bench_module("bench_cells")
    for cls in (timing.CellForward, timing.CellForwardBackward, timing.CellStep):
        assert set(cls.params[0]) == cells and cls.param_names == ["cell", "N", "device"]


def test_signatures_match_params():
    # What `asv check` verifies: setup and benchmark take the declared parameters (after the setup_cache
    # result, where there is one).
    for module, cls, attr in benchmark_methods():
        n = len(cls.params) + (1 if hasattr(cls, "setup_cache") else 0)
        for fn in (getattr(cls, attr), getattr(cls, "setup", None)):
            if fn is not None:
                assert len(inspect.signature(fn).parameters) == n + 1, f"{cls.__name__}.{fn.__name__}"


def test_rejected_size_and_absent_device_are_not_implemented():
    common = bench_module("common")
    with pytest.raises(NotImplementedError):
        common.build_cell("lstm", 0, "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(NotImplementedError):
            common.device("cuda")


def test_cached_data_is_deterministic():
    common = bench_module("common")
    x = common.sequence("cpu", 5, 3, 2)
    gen = torch.Generator().manual_seed(common.SEED)
    assert torch.equal(x, torch.randn(5, 3, 2, generator=gen))
    assert common.build_cell("rnn", 8, "cpu") is common.build_cell("rnn", 8, "cpu")


def test_ratio_modules_start_without_torch_and_shrink_in_the_quick_grid():
    # The ratio benchmarks by feature: their setup_cache-read cases must start cheaply, and the quick grid keeps
    # one small N.
    code = ("import sys; import benchmarks.bench_kru as k, benchmarks.bench_eurnn as e, "
            "benchmarks.bench_fused as f, benchmarks.bench_matrix_once as m; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "assert k.KRU_SIZES == (64,) and e.EURNN_SIZES == (64,) and f.CELL_SIZE == m.CELL_SIZE == 64")
    env = {**os.environ, "URNN_ZOO_BENCH_QUICK": "1"}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=60)


def test_kru_factors_multiply_to_n():
    kru = bench_module("bench_kru")
    sizes = {128: [8, 16], 512: [16, 32], 1024: [32, 32], 2048: [32, 64]}
    assert set(kru.KRU_GOALS) == set(sizes)
    for n, factors in (sizes | {64: [8, 8]}).items():
        if n in kru.KRU_FACTORS:
            assert kru.kru_factors(n, "balanced") == factors
        assert kru.kru_factors(n, "2x2") == [2] * (n.bit_length() - 1)
    with pytest.raises(ValueError):
        kru.kru_factors(96, "2x2")


@pytest.mark.parametrize("name, n", [(c, 64) for c in uz.cell_names()] + [("kru", 1024)])
def test_the_benchmarks_build_the_workloads_cell(name, n):
    # One workload (urnn_zoo/workload.py): asv's cells are compare's and the limits', options included (KRU at
    # N = 1024 takes the table's [32, 32], not its default [16, 64]), same seeded init.
    from benchmarks import common
    from urnn_zoo import workload

    ours, theirs = common.make_cell(name, workload.INPUT_SIZE, n), workload.build_cell(name, n)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    for key, value in ours.state_dict().items():
        assert torch.equal(value, theirs.state_dict()[key]), key


def test_best_times_keeps_one_time_per_run():
    common = bench_module("common")
    calls = []
    times = common.best_times([lambda: calls.append("a"), lambda: calls.append("b")], budget=0.0, rounds=(3, 5))
    assert len(times) == 2 and all(t >= 0 for t in times)
    assert calls == ["a", "b"] + ["a", "b", "b", "a", "a", "b"]  # sizing calls, then 3 rounds, alternating order


def test_ratio_divides_by_the_best_denominator():
    common = bench_module("common")
    fake = iter([[4.0, 2.0], [6.0, 3.0, 1.5]])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(common, "best_times", lambda runs, budget: next(fake))
        assert common.ratio(None, None) == 2.0
        assert common.ratio(None, None, None) == 4.0


def test_step_over_matrix():
    # s / p with s = (t(100) - t(10)) / 90: 0.9 s more over 90 steps is 10 ms a step, against a 20 ms matrix.
    assert bench_module("bench_matrix_once").step_over_matrix(1.0, 0.1, 0.02) == pytest.approx(0.5)


def test_counts_matrix_evaluations():
    once = bench_module("bench_matrix_once")
    for name in ("exprnn", "fcurnn", "scornn"):  # a geotorch, a torch and no parametrization
        cell = uz.make_cell(name, 3, 8, dtype=torch.float64)
        for t in (1, 6):
            assert once.matrix_evaluations(cell, torch.randn(t, 2, 3, dtype=torch.float64)) == 1, (name, t)
        assert "prepare" not in vars(cell)  # the spies are removed

    class PerStep(type(uz.make_cell("scornn", 3, 8))):  # no `name`: not registered
        def recur(self, u, h, ctx):
            return super().recur(u, h, self.prepare())

    cell = PerStep(3, 8, dtype=torch.float64)
    cell.fused = False
    assert once.matrix_evaluations(cell, torch.randn(5, 2, 3, dtype=torch.float64)) == 6  # once + once per step


STATS = ("", "_median", "_spread")  # a ratio goal's tracks: the best (its asv history's name), median, spread


def test_every_ratio_of_the_split_suite_is_kept():
    # The ratio and time cases of the feature modules: every measurement, with its parameters.
    expected = {
        "bench_kru": {**{f"KRUVersusRNN.track_kru_over_rnn{s}": ["N", "factors", "threads"] for s in STATS},
                      "KRUTime.time_forward_backward": ["N", "factors"], "TorchRNNTime.time_forward_backward": ["N"],
                      "KRUStrategy.track_auto_over_best": ["N"]},
        "bench_eurnn": {f"EURNNVersusTorchEUNN.track_torch_eunn_over_zoo{s}": ["N"] for s in STATS},
        "bench_fused": {f"FusedSpeedup.track_reference_over_fused{s}": ["cell", "N"] for s in STATS},
        "bench_matrix_once": {"MatrixOncePerForward.track_matrix_evaluations": ["cell", "T"],
                              "MatrixOnceTime.track_t100_over_t10": ["cell", "N"],
                              "MatrixOnceTime.track_step_over_matrix": ["cell", "N"]},
    }
    found = {}
    for module, cls, attr in benchmark_methods():
        found.setdefault(module.__name__.split(".")[-1], {})[f"{cls.__name__}.{attr}"] = cls.param_names
    for name, methods in expected.items():
        assert found[name] == methods, name


# ------------------------------------------------------------------ ratio goals: every round, best, median, spread
class FakeClock:
    r"""A ``perf_counter`` that moves only when a fake workload runs: ``work(i)()`` advances it by callable i's
    next scripted duration and logs i. Durations are whole numbers of seconds, so every difference is exact."""

    def __init__(self, durations):
        self.now, self.durations, self.calls = 0.0, [list(d) for d in durations], []

    def perf_counter(self):
        return self.now

    def work(self, i):
        def run():
            self.calls.append(i)
            self.now += self.durations[i].pop(0)

        return run


@contextlib.contextmanager
def on_fake_clock(common, clock):
    r"""Replace the ``time`` module that ``benchmarks.common`` reads ``perf_counter`` from (not the global one)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(common, "time", SimpleNamespace(perf_counter=clock.perf_counter))
        yield


@st.composite
def scripted_rounds(draw, least=1, most=12):
    r"""(sizing durations, per-round durations) of 2-4 callables over k rounds, k in [least, most]."""
    k = draw(st.integers(least, most), label="rounds")
    sides = draw(st.integers(2, 4), label="callables")
    seconds = st.integers(1, 2**20).map(float)
    first = draw(st.lists(seconds, min_size=sides, max_size=sides), label="sizing")
    rounds = [draw(st.lists(seconds, min_size=k, max_size=k), label=f"rounds of {i}") for i in range(sides)]
    return first, rounds


def interleaved_order(sides, k):
    order = list(range(sides))
    return order + [i for r in range(k) for i in (order if r % 2 == 0 else order[::-1])]


@given(script=scripted_rounds())
def test_round_times_returns_every_rounds_time_in_interleaved_order(script):
    common = bench_module("common")
    first, rounds = script
    sides, k = len(first), len(rounds[0])
    clock = FakeClock([[f, *r] for f, r in zip(first, rounds)])
    with on_fake_clock(common, clock):
        # as many rounds as fit the budget (k x the sizing calls' time), clamped to (1, 25)
        times = common.round_times([clock.work(i) for i in range(sides)], budget=k * sum(first), rounds=(1, 25))
    assert times == rounds
    assert clock.calls == interleaved_order(sides, k)  # one sizing call each, then the order reversed every round


def test_round_times_sizes_the_rounds_from_the_budget_within_the_bounds():
    common = bench_module("common")
    for budget, expected in ((0.0, 3), (8.0, 4), (1e9, 5)):  # sizing calls take 2 s: 8 s fit 4 rounds
        clock = FakeClock([[1.0] * 6, [1.0] * 6])
        with on_fake_clock(common, clock):
            times = common.round_times([clock.work(0), clock.work(1)], budget=budget, rounds=(3, 5))
        assert [len(t) for t in times] == [expected, expected], budget


@given(script=scripted_rounds(least=bench_module("common").ROUNDS[0], most=bench_module("common").ROUNDS[0] + 6))
def test_a_ratio_is_the_best_median_and_spread_of_its_rounds(script):
    # Expected values from the scripted per-round times, by statistics (not numpy, which Ratio uses): best = best
    # numerator / least best denominator; median and quartiles of numerator / least denominator, round by round.
    common = bench_module("common")
    first, rounds = script
    sides, k = len(first), len(rounds[0])
    per_round = [rounds[0][r] / min(d[r] for d in rounds[1:]) for r in range(k)]
    best = min(rounds[0]) / min(min(d) for d in rounds[1:])
    median = statistics.median(per_round)
    q1, _, q3 = statistics.quantiles(per_round, n=4, method="inclusive")  # numpy's default "linear" quartiles
    clock = FakeClock([[f, *r] for f, r in zip(first, rounds)])
    with on_fake_clock(common, clock):
        got = common.measure_ratio(*[clock.work(i) for i in range(sides)], budget=k * sum(first))
    assert got.rounds == k and got.best == best
    # float64; the two quartile formulas order their operations differently
    assert got.median == pytest.approx(median, rel=1e-12, abs=0)
    assert got.spread == pytest.approx((q3 - q1) / median, rel=1e-9, abs=1e-12)
    # `ratio` (the tracks' best before medians were kept, and bench_lru's and bench_matrix_once's) keeps
    # returning the best, from the same rounds
    clock = FakeClock([[f, *r] for f, r in zip(first, rounds)])
    with on_fake_clock(common, clock):
        assert common.ratio(*[clock.work(i) for i in range(sides)], budget=k * sum(first)) == best


def test_timing_rejects_bad_input_before_calling_anything():
    common = bench_module("common")
    calls = []
    run = [lambda: calls.append(1)]
    for kwargs, expected in (({"runs": []}, "at least one callable"), ({"budget": -1.0}, "got -1.0"),
                             ({"rounds": (0, 3)}, "got (0, 3)"), ({"rounds": (5, 3)}, "got (5, 3)")):
        with pytest.raises(ValueError, match="expected") as err:
            common.round_times(**({"runs": run} | kwargs))
        assert expected in str(err.value) and "\n" not in str(err.value)
    assert calls == []
    for times, expected in (([[1.0]], "got 1 list"), ([[1.0, 2.0], [1.0]], "got [1, 2]"),
                            ([[1.0], [0.0]], "positive finite"), ([[math.nan], [1.0]], "positive finite"),
                            ([[], []], "got [0]")):
        with pytest.raises(ValueError, match=re.escape(expected)):
            common.Ratio.of(times)


def test_ratios_take_at_least_seven_rounds_in_the_full_grid_and_three_in_the_quick_one():
    common = bench_module("common")
    full, quick = common.grid(False), common.grid(True)
    assert full.ratio_rounds[0] >= 7 and 3 <= quick.ratio_rounds[0] <= full.ratio_rounds[0]
    assert all(lo <= hi for lo, hi in (full.ratio_rounds, quick.ratio_rounds))
    assert common.ROUNDS == common.GRID.ratio_rounds and common.BUDGET_S == common.GRID.ratio_budget_s


def test_threads_sets_one_thread_and_restores_the_count():
    common = bench_module("common")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with common.threads("1"):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with common.threads("default"):
            assert torch.get_num_threads() == 2
        with pytest.raises(ValueError, match=r"threads must be one of \('1', 'default'\), got '2'"):
            with common.threads("2"):
                pass
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


GOAL_CLASSES = [("bench_kru", "KRUVersusRNN", "kru_over_rnn", "track_kru_over_rnn"),
                ("bench_eurnn", "EURNNVersusTorchEUNN", "torch_eunn_over_zoo", "track_torch_eunn_over_zoo"),
                ("bench_fused", "FusedSpeedup", "reference_over_fused", "track_reference_over_fused")]


@pytest.mark.parametrize("module_name, class_name, measure_name, track", GOAL_CLASSES)
def test_a_goal_class_measures_each_case_once_and_tracks_best_median_and_spread(module_name, class_name,
                                                                                measure_name, track):
    module = bench_module(module_name)
    cls = getattr(module, class_name)
    cases = list(itertools.product(*cls.params))
    common = bench_module("common")
    measured = []

    def fake_measure(*case):
        measured.append(case)
        if len(measured) == 1:
            raise NotImplementedError("not here")
        return common.Ratio(len(measured) + 0.25, len(measured) + 0.5, len(measured) + 0.75, 7)

    # asv keys a setup_cache by its module and line: each class needs its own, or they would share results
    assert "setup_cache" in vars(cls)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, measure_name, fake_measure)
        results = cls().setup_cache()
        assert measured == cases  # every combination once
        with pytest.raises(NotImplementedError, match="not here"):
            cls().setup(results, *cases[0])
        for i, case in enumerate(cases[1:], start=2):
            bench = cls()
            bench.setup(results, *case)
            values = [getattr(bench, f"{track}{s}")(results, *case) for s in STATS]
            assert values == [i + 0.25, i + 0.5, i + 0.75], case
        assert len(measured) == len(cases)  # the tracks read; they do not measure
    assert [getattr(cls, f"{track}{s}").unit for s in STATS] == ["ratio"] * 3


def test_the_limit_tracks_read_the_best_median_and_spread_of_the_rounds():
    # _row: the limit from cell_limit, the times from round_times (both faked here); the distances are the rounds'
    # times over the limit.
    limits_bench, common = bench_module("bench_limits"), bench_module("common")
    times, limit = [5.0, 3.0, 4.0, 9.0, 6.0, 3.5, 4.5], 2.0
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("urnn_zoo.limits.cell_limit", lambda *a, **k: {"limit_s": limit, "measured_s": 99.0,
                                                                      "distance": 99.0, "ops_per_step": 1.0})
        patch.setattr(common, "round_times", lambda runs, budget, rounds: [list(times)])
        row = limits_bench._row("rnn", 8, 1e9, 1e10, 1e-6, 0.0, (7, 7))
    q1, _, q3 = statistics.quantiles(times, n=4, method="inclusive")
    assert row["measured_s"] == 3.0 and row["distance"] == 1.5 and row["rounds"] == 7
    assert row["distance_median"] == statistics.median(times) / limit
    assert row["distance_spread"] == pytest.approx((q3 - q1) / statistics.median(times), rel=1e-12)
    bench = limits_bench.CellLimit()
    results = {"rnn": {8: row}}
    bench.setup(results, "rnn", 8)
    assert [bench.track_distance(results, "rnn", 8), bench.track_distance_median(results, "rnn", 8),
            bench.track_distance_spread(results, "rnn", 8)] == [1.5, row["distance_median"], row["distance_spread"]]


def test_a_goal_measurement_rejects_a_bad_case_before_building():
    kru = bench_module("bench_kru")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bench_module("common"), "training_step", lambda *a: pytest.fail("built"))
        with pytest.raises(ValueError, match=r"balanced factors are set for N in \(64, 128, .*\), got 96"):
            kru.kru_over_rnn(96, "balanced", "1")
        with pytest.raises(ValueError, match="threads must be one of"):
            kru.kru_over_rnn(128, "balanced", "2")
        with pytest.raises(ValueError, match="factor kind must be one of"):
            kru.kru_over_rnn(128, "4x4", "1")


def test_the_goals_are_the_performance_pages():
    # The goals as docs/performance.md states them (written out here, not read from the benchmark modules).
    goals = bench_module("goals")
    kru = {128: 1.0, 512: 0.8, 1024: 0.35, 2048: 0.2}
    expected = ([("kru", "", n, t, kru[n], True) for n in kru for t in ("1", "default")]
                + [("eurnn", "", 512, "default", 10.0, False), ("fused", "kru_lstm", 512, "default", 2.0, False)]
                + [("limit", c, n, "default", 2.0, True) for n in (512, 1024) for c in uz.cell_names()])
    assert [tuple(g) for g in goals.goals()] == expected
    quick = goals.goals(quick=True)
    assert {g.n for g in quick} == {64} and all(g.target is None for g in quick)
    assert [(g.kind, g.subject, g.threads) for g in quick] == list(dict.fromkeys(e[:2] + e[3:4] for e in expected))


def test_a_goal_is_met_by_its_median_from_seven_rounds():
    goals, common = bench_module("goals"), bench_module("common")
    at_most, at_least = goals.Goal("kru", "", 512, "1", 0.8, True), goals.Goal("eurnn", "", 512, "default", 10.0,
                                                                               False)
    assert goals.judged(at_most, common.Ratio(0.5, 0.81, 0.1, 7)) == "no"  # the best alone would meet it
    assert goals.judged(at_most, common.Ratio(0.9, 0.8, 0.1, 7)) == "yes"
    assert goals.judged(at_least, common.Ratio(12.0, 9.9, 0.1, 9)) == "no"
    assert goals.judged(at_least, common.Ratio(9.0, 10.0, 0.1, 9)) == "yes"
    assert goals.judged(at_most, common.Ratio(0.5, 0.5, 0.1, 6)) == "n/a"  # too few rounds to judge
    assert goals.judged(at_most._replace(target=None), common.Ratio(0.5, 0.5, 0.1, 7)) == "n/a"
    assert goals.judged(at_most, None) == "n/a"
    text = goals.table([goals.row(at_most, common.Ratio(0.9, 0.8, 0.1, 7)), goals.row(at_least, None, "n/a: x")])
    header, first, second = text.splitlines()
    assert header.split()[:7] == ["goal", "N", "threads", "best", "median", "spread", "rounds"]
    assert "≤ 0.8" in first and first.split()[-1] == "yes" and "≥ 10" in second and "n/a: x" in second


def test_goals_rejects_bad_arguments_before_measuring(tmp_path, capsys):
    goals = bench_module("goals")
    existing = tmp_path / "goals.json"
    existing.write_text("kept")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(goals, "measure", lambda *a, **k: pytest.fail("measured"))
        for argv, expected in ((["--quick", "--rounds", "2"], "--rounds must be at least 3 with --quick"),
                               (["--rounds", "6"], "--rounds must be at least 7"),
                               (["--json", str(tmp_path / "no" / "g.json")], "no folder"),
                               (["--json", str(existing)], "already exists; pass --force")):
            with pytest.raises(SystemExit) as exit_:
                goals.main(argv)
            last = capsys.readouterr().err.strip().splitlines()[-1]  # after the usage, the one-line error
            assert exit_.value.code == 2 and last.startswith("python -m benchmarks.goals: error: "), (argv, last)
            assert expected in last, (argv, last)
    assert existing.read_text() == "kept" and not (tmp_path / "no").exists()


def test_goals_starts_without_torch_or_pandas():
    # asv imports every module of the suite, in environments without pandas
    code = ("import sys; import benchmarks.goals; "
            "assert not {'torch', 'pandas'} & set(sys.modules), 'torch or pandas imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_goals_quick_prints_every_goal_end_to_end(tmp_path):
    goals = bench_module("goals")
    out = tmp_path / "goals.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks.goals", "--quick", "--rounds", "3", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = json.loads(out.read_text())
    expected = goals.goals(quick=True)
    assert [(r["goal"], r["N"], r["threads"]) for r in rows] == [(g.label, 64, g.threads) for g in expected]
    assert {g.kind for g in expected} == {"kru", "eurnn", "fused", "limit"}
    printed = done.stdout.splitlines()
    for r in rows:
        if r["note"]:  # only torch_eunn's row may be n/a, and only without torch_eunn
            assert r["goal"] == "torch_eunn / eurnn" and importlib.util.find_spec("torch_eunn") is None, r
            continue
        assert r["rounds"] == 3 and r["best"] > 0 and r["median"] > 0 and r["spread"] >= 0, r
        assert r["met"] == "n/a" and r["target"] is None  # no goal is set at N = 64
        assert any(line.split()[:len(r["goal"].split()) + 2] == [*r["goal"].split(), "64", r["threads"]]
                   for line in printed), r
