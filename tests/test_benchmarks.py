r"""The asv suite imports, covers every registered cell, and its reduced grid stays small (no asv run here)."""
from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

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


def test_every_ratio_of_the_split_suite_is_kept():
    # The ratio and time cases of the feature modules: every measurement, with its parameters.
    expected = {
        "bench_kru": {"KRUVersusRNN.track_kru_over_rnn": ["N", "factors"], "KRUTime.time_forward_backward":
                      ["N", "factors"], "TorchRNNTime.time_forward_backward": ["N"],
                      "KRUStrategy.track_auto_over_best": ["N"]},
        "bench_eurnn": {"EURNNVersusTorchEUNN.track_torch_eunn_over_zoo": ["N"]},
        "bench_fused": {"FusedSpeedup.track_reference_over_fused": ["cell", "N"]},
        "bench_matrix_once": {"MatrixOncePerForward.track_matrix_evaluations": ["cell", "T"],
                              "MatrixOnceTime.track_t100_over_t10": ["cell", "N"],
                              "MatrixOnceTime.track_step_over_matrix": ["cell", "N"]},
    }
    found = {}
    for module, cls, attr in benchmark_methods():
        found.setdefault(module.__name__.split(".")[-1], {})[f"{cls.__name__}.{attr}"] = cls.param_names
    for name, methods in expected.items():
        assert found[name] == methods, name
