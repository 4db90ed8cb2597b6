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


def test_performance_module_starts_without_torch_and_shrinks_in_the_quick_grid():
    # bench_performance: its setup_cache-read cases must start cheaply, and the quick grid keeps one small N.
    code = ("import sys; import benchmarks.bench_performance as b; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "assert b.KRU_SIZES == (64,) and b.EURNN_SIZES == (64,) and b.CELL_SIZE == 64, b.KRU_SIZES")
    env = {**os.environ, "URNN_ZOO_BENCH_QUICK": "1"}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True, timeout=60)


def test_performance_kru_factors_multiply_to_n():
    perf = bench_module("bench_performance")
    sizes = {128: [8, 16], 512: [16, 32], 1024: [32, 32], 2048: [32, 64]}
    assert set(perf.KRU_GOALS) == set(sizes)
    for n, factors in (sizes | {64: [8, 8]}).items():
        if n in perf.KRU_FACTORS:
            assert perf.kru_factors(n, "issue") == factors
        assert perf.kru_factors(n, "2x2") == [2] * (n.bit_length() - 1)
    with pytest.raises(ValueError):
        perf.kru_factors(96, "2x2")


def test_performance_best_times_keeps_one_time_per_run():
    perf = bench_module("bench_performance")
    calls = []
    times = perf.best_times([lambda: calls.append("a"), lambda: calls.append("b")], budget=0.0, rounds=(3, 5))
    assert len(times) == 2 and all(t >= 0 for t in times)
    assert calls == ["a", "b"] + ["a", "b", "b", "a", "a", "b"]  # sizing calls, then 3 rounds, alternating order


def test_performance_counts_matrix_evaluations():
    perf = bench_module("bench_performance")
    for name in ("exprnn", "fcurnn", "scornn"):  # a geotorch, a torch and no parametrization
        cell = uz.make_cell(name, 3, 8, dtype=torch.float64)
        for t in (1, 6):
            assert perf.matrix_evaluations(cell, torch.randn(t, 2, 3, dtype=torch.float64)) == 1, (name, t)
        assert "prepare" not in vars(cell)  # the spies are removed

    class PerStep(type(uz.make_cell("scornn", 3, 8))):  # no `name`: not registered
        def recur(self, u, h, ctx):
            return super().recur(u, h, self.prepare())

    cell = PerStep(3, 8, dtype=torch.float64)
    cell.fused = False
    assert perf.matrix_evaluations(cell, torch.randn(5, 2, 3, dtype=torch.float64)) == 6  # once + once per step
