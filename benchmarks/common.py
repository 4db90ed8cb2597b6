r"""Shared pieces of the asv suite: the parameter grid, deterministic cached data, devices and timing.

Every cell benchmark runs the same workload, :mod:`urnn_zoo.workload` (the conventions of the KRU paper's timing
runs): a batch of B = 32 sequences of T = 100 steps with 10 real inputs, float32, loss ``out.pow(2).mean()`` for
the backward. Its constants are re-exported here under the suite's names (``SEQ_LEN`` is its ``LENGTH``,
``INPUT`` its ``INPUT_SIZE``).

Note [Grid]
    The full grid is every registered cell x N in (128, 512, 1024) x device in (``cpu``, ``cuda``). Setting
    ``URNN_ZOO_BENCH_QUICK=1`` keeps every cell and every benchmark kind but one small size (N = 64), the CPU
    only (one case of each GPU-only benchmark, to show it skips cleanly), one Kronecker factor count, the
    shortest training and drift schedules and the fewest ratio rounds (3 rather than 7, a 1 s rather than an
    8 s budget: Note [Best of interleaved runs]): the smoke run of ``.ci/run``. asv records parameter values with
    each result, so quick and full results never mix in the history. A size a family rejects (its
    ``check_size``, asked before building) and a device that is absent raise ``NotImplementedError`` in
    ``setup``, which asv shows as n/a.

Note [Cost of a case]
    ``launch_method: "spawn"`` (CUDA breaks under fork) runs every (benchmark, parameter combination) in a
    fresh interpreter that imports the benchmark's module: 3-4 s when that imports torch, before anything is
    measured, n/a cases included. Hence:

    - time benchmarks use one round (``rounds = 1``);
    - this module imports torch only inside the helpers that need it, and the ``track_`` modules whose
      numbers come from one ``setup_cache`` (training, drift, parameter counts) import it only there, so their
      per-cell cases start in a fraction of a second;
    - for that, :data:`CELLS` is read without importing ``urnn_zoo`` (:func:`registered_cell_names`, checked
      against ``urnn_zoo.cell_names()`` by ``tests/test_benchmarks.py``), and the workload module is loaded
      from its file without the package (:func:`workload_module`);
    - asv_runner re-runs ``setup`` before every sample, so ``setup`` reads cells and data from the
      module-level caches below: only the first ``setup`` of a process builds the cell and warms it up (first
      matmul, matrix exponential, CUDA context).

Note [Threads and timers]
    torch keeps its default intra-op thread count (one per core, so results from machines with different core
    counts differ: ``asv machine`` records the machine), except where a case has a ``threads`` parameter
    (:data:`THREADS`): ``"1"`` runs its timed calls under ``torch.set_num_threads(1)`` (:func:`threads`, which
    restores the count afterwards), ``"default"`` leaves the count as it is. One thread is the steadier of the
    two on a loaded machine; the default is what a user gets without asking. The timer is asv's default wall
    clock (``timeit.default_timer``); CPU time would add up every thread's time. Timed bodies end with
    :func:`synchronize`, so queued CUDA kernels are inside the measured interval.
"""
from __future__ import annotations

import ast
import contextlib
import functools
import importlib.util
import itertools
import os
import sys
import time
import traceback
import types
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    import torch

    import urnn_zoo

__all__ = [
    "BATCH", "CELLS", "DEVICES", "GRID", "INPUT", "QUICK", "QUICK_ENV", "SEED", "SEQ_LEN", "SIZES", "Grid",
    "TimeCase", "build_cell", "cell_loss", "device", "grid", "quick_from_env", "registered_cell_names",
    "cell_result", "per_cell", "sequence", "synchronize", "warm_up", "workload", "workload_module",
    "BUDGET_S", "ROUNDS", "THREADS", "Ratio", "RatioCase", "RatioGoalCase", "best_ratio", "best_times",
    "inference", "kru_cell", "measure_ratio", "per_case", "per_params", "ratio", "round_times", "threads",
    "torch_eunn_rnn", "torch_rnn", "training_step", "warmed", "zoo_eurnn",
]

QUICK_ENV = "URNN_ZOO_BENCH_QUICK"


class Grid(NamedTuple):
    r"""The parameter values of the suite (Note [Grid]).

    Attributes:
        sizes: hidden sizes N of the cell benchmarks.
        devices: device names (``"cpu"``, ``"cuda"``).
        gpu_cells: how many cells (from the first) the GPU-only benchmarks run; None: all.
        kron_factors: maximum numbers of Kronecker factors F (the Cervnet rule of ``kron.factor_sizes``).
        train_steps: optimizer steps of the short copy/adding trainings.
        drift_steps: Adam steps after which the unitarity error is read.
        train_size: N of the short trainings and of the drift benchmarks.
        ratio_rounds: least and most interleaved rounds of a ratio (Note [Best of interleaved runs]).
        ratio_budget_s: seconds the rounds of one ratio may take together (approximately).
    """

    sizes: tuple[int, ...]
    devices: tuple[str, ...]
    gpu_cells: int | None
    kron_factors: tuple[int, ...]
    train_steps: tuple[int, ...]
    drift_steps: tuple[int, ...]
    train_size: int
    ratio_rounds: tuple[int, int]
    ratio_budget_s: float


FULL_GRID = Grid((128, 512, 1024), ("cpu", "cuda"), None, (2, 3, 10), (300,), (0, 10, 100), 128, (7, 25), 8.0)
QUICK_GRID = Grid((64,), ("cpu",), 1, (2,), (20,), (10,), 64, (3, 25), 1.0)


def quick_from_env(environ: Mapping[str, str] = os.environ) -> bool:
    r"""Whether ``URNN_ZOO_BENCH_QUICK`` asks for the reduced grid (set and not ``0``/``false``/``no``).

    Example:
        >>> quick_from_env({"URNN_ZOO_BENCH_QUICK": "1"}), quick_from_env({})
        (True, False)
    """
    return environ.get(QUICK_ENV, "").strip().lower() not in ("", "0", "false", "no")


def grid(quick: bool) -> Grid:
    r"""The reduced grid when ``quick``, else the full one (Note [Grid])."""
    return QUICK_GRID if quick else FULL_GRID


def _class_names(path: Path) -> set[str]:
    # String values of `name = "..."` (or `name: ClassVar[str] = "..."`) in class bodies: what registers a cell.
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in node.body:
            if isinstance(stmt, ast.Assign):
                targets = stmt.targets
            elif isinstance(stmt, ast.AnnAssign):
                targets = [stmt.target]
            else:
                continue
            named = any(isinstance(t, ast.Name) and t.id == "name" for t in targets)
            if named and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
                found.add(stmt.value.value)
    return found


def _package_root() -> Path | None:
    # The installed urnn_zoo's folder, found without importing it (find_spec of a top-level name imports nothing).
    spec = importlib.util.find_spec("urnn_zoo")
    roots = list(spec.submodule_search_locations or []) if spec else []
    return Path(roots[0]) if roots else None


def workload_module() -> types.ModuleType:
    r"""``urnn_zoo.workload`` (the timing workload's constants and calls) without importing torch.

    Importing ``urnn_zoo.workload`` runs the package's ``__init__``, which imports torch; the module itself
    imports nothing heavy at import time, so it is executed here from the installed package's file under a
    private name (Note [Cost of a case]). Falls back to the normal import when that file is not there, and
    returns the imported module when urnn_zoo is already loaded.
    """
    if "urnn_zoo.workload" in sys.modules:
        return sys.modules["urnn_zoo.workload"]
    root = _package_root()
    path = root / "workload.py" if root else None
    if path is None or not path.is_file():
        import urnn_zoo.workload

        return urnn_zoo.workload
    spec = importlib.util.spec_from_file_location("_urnn_zoo_workload", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


workload = workload_module()
BATCH, SEQ_LEN, INPUT, SEED = workload.BATCH, workload.LENGTH, workload.INPUT_SIZE, workload.SEED


def registered_cell_names() -> tuple[str, ...]:
    r"""``urnn_zoo.cell_names()`` without importing urnn_zoo or torch (Note [Cost of a case]).

    A cell registers by a string class attribute ``name`` in a module of ``urnn_zoo/cells/``
    (docs/cell-contract.md#the-registry-and-adding-a-family); this reads those attributes from the installed
    package's source. The cells of other installed packages are the names of their entry points (group
    ``urnn_zoo.cells``, named as the cell: docs/own-cell.md), read from their metadata without importing them.
    Falls back to ``urnn_zoo.cell_names()`` when the source is not there.
    """
    from importlib.metadata import entry_points

    root = _package_root()
    modules = sorted((root / "cells").glob("*.py")) if root else []
    names = set().union(*(_class_names(p) for p in modules if p.stem not in ("__init__", "base")))
    if not names:
        import urnn_zoo

        return urnn_zoo.cell_names()
    return tuple(sorted(names | {ep.name for ep in entry_points(group="urnn_zoo.cells")}))


QUICK = quick_from_env()
GRID = grid(QUICK)
SIZES, DEVICES = GRID.sizes, GRID.devices
CELLS: tuple[str, ...] = registered_cell_names()
GPU_CELLS: tuple[str, ...] = CELLS[: GRID.gpu_cells]


class TimeCase:
    r"""Timing attributes shared by the time benchmarks (Note [Cost of a case]).

    One call per sample (asv re-runs ``setup`` between samples anyway), at least 3 and at most 25 samples or
    about 10 s of samples, no asv warm-up (``setup`` warms up), one round, and a timeout that covers the
    slowest case (expm-based cells at N = 1024 take seconds per sequence).
    """

    number = 1
    repeat = (3, 25, 10.0)
    warmup_time = 0.0
    rounds = 1
    timeout = 600.0


def device(name: str) -> torch.device:
    r"""The torch device called ``name``; ``NotImplementedError`` (asv: n/a) when it is absent.

    Nothing touches CUDA before a benchmark's ``setup`` asks for it (no CUDA at import time).
    """
    import torch

    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda":
        if not torch.cuda.is_available():
            raise NotImplementedError("no CUDA device on this machine")
        return torch.device("cuda")
    raise ValueError(f"device must be 'cpu' or 'cuda', got {name!r}")


# Wait for the device's queued work (a no-op on the CPU); every timed body ends with it.
synchronize = workload.synchronize


@functools.lru_cache(maxsize=None)
def sequence(device_name: str, seq_len: int = SEQ_LEN, batch: int = BATCH, n_in: int = INPUT) -> torch.Tensor:
    r"""The workload's fixed float32 input (T, B, n_in) (``urnn_zoo.workload.sequence``), cached per process."""
    return workload.sequence(seq_len, batch, n_in, device=device(device_name))


def make_cell(name: str, input_size: int, hidden: int, dev: torch.device | None = None) -> urnn_zoo.RecurrentCell:
    r"""The workload's cell (``urnn_zoo.workload.build_cell``: float32, the options of
    ``urnn_zoo.workload.workload_options``, so KRU takes the workload's factor table, init drawn after
    ``torch.manual_seed(SEED)``), leaving torch's global RNG where the init left it;
    ``NotImplementedError`` (asv: n/a) for a size the family rejects with those options (its ``check_size``,
    before building)."""
    import torch

    import urnn_zoo
    from urnn_zoo.cells.base import cell_class

    options = workload.workload_options(name, hidden)
    try:
        cell_class(name).check_size(hidden, **options)
    except urnn_zoo.InadmissibleSizeError as err:
        raise NotImplementedError(f"{name} does not accept N={hidden} with the workload's options {options}: "
                                  f"{err}") from err
    # The same cell as workload.build_cell(name, hidden, input_size=input_size, device=dev), built here without
    # its fork_rng: the training and drift benchmarks draw their heads from the global RNG this seeds.
    torch.manual_seed(SEED)
    return urnn_zoo.make_cell(name, input_size, hidden, dtype=torch.float32, device=dev, **options)


@functools.lru_cache(maxsize=None)
def _cached_cell(name: str, hidden: int, device_name: str) -> urnn_zoo.RecurrentCell:
    return make_cell(name, INPUT, hidden, device(device_name))


def build_cell(name: str, hidden: int, device_name: str) -> urnn_zoo.RecurrentCell:
    r"""The cell ``name`` of the timing workload (input 10, hidden ``hidden``), cached per process, grads cleared.

    Raises:
        NotImplementedError: the family rejects ``hidden`` or the device is absent (asv: n/a).
    """
    cell = _cached_cell(name, hidden, device_name)
    cell.zero_grad(set_to_none=True)
    return cell


def cell_loss(cell: urnn_zoo.RecurrentCell, x: torch.Tensor) -> torch.Tensor:
    r"""The timing workload's loss: the whole sequence forward, then ``out.pow(2).mean()``."""
    return workload.loss(cell(x)[0])


_WARM: set = set()


def warm_up(key: tuple, fn: Callable[[], object], dev: torch.device) -> None:
    r"""Run ``fn`` once per process for ``key`` (first matmul, expm, CUDA kernels), then synchronise."""
    if key not in _WARM:
        fn()
        synchronize(dev)
        _WARM.add(key)


def per_case(run: Callable[[Hashable], object], keys: Iterable[Hashable]) -> dict[Hashable, object]:
    r"""``{key: run(key)}`` over ``keys``, for a ``setup_cache`` that computes the numbers of every case.

    A case whose run raises does not stop the others: its entry records ``("n/a", message)`` for a
    ``NotImplementedError`` and ``("error", traceback)`` otherwise, and :func:`cell_result` re-raises it in
    that case's ``setup``.
    """
    results: dict[Hashable, object] = {}
    for key in keys:
        try:
            results[key] = run(key)
        except NotImplementedError as err:
            results[key] = _Failed("n/a", str(err))
        except Exception:
            results[key] = _Failed("error", traceback.format_exc())
    return results


def per_cell(run: Callable[[str], object]) -> dict[str, object]:
    r"""``{cell: run(cell)}`` over :data:`CELLS` (:func:`per_case`), for a ``setup_cache`` that computes every
    cell's numbers."""
    return per_case(run, CELLS)


def per_params(measure: Callable[..., object], params: Sequence[Sequence[object]]) -> dict[tuple, object]:
    r"""``{combination: measure(*combination)}`` over every combination of an asv class's ``params``
    (:func:`per_case`), for a ``setup_cache`` that measures each combination once; :func:`cell_result` with the
    combination as a tuple reads one."""
    return per_case(lambda key: measure(*key), itertools.product(*params))


class _Failed(NamedTuple):
    kind: str
    message: str


def cell_result(results: Mapping[Hashable, object], cell: Hashable) -> object:
    r"""``results[cell]`` from :func:`per_cell` (or any key of :func:`per_case`, :func:`per_params`);
    ``NotImplementedError`` (asv: n/a) or ``RuntimeError`` (asv: failed, with the original traceback) where that
    case's run raised."""
    entry = results[cell]
    if isinstance(entry, _Failed):
        if entry.kind == "n/a":
            raise NotImplementedError(entry.message)
        raise RuntimeError(f"{cell}: the setup_cache run raised\n{entry.message}")
    return entry


# ------------------------------------------------------------------------- ratios timed in one process
# Note [Best of interleaved runs]
# A ratio's sides run alternately, one call each per round and in reversed order every other round, so a slow
# phase of the machine (another process, frequency scaling) slows both and no side always runs first (after
# the other's allocations). :func:`round_times` keeps every side's time in every round, and a ratio
# (:class:`Ratio`) is reported three ways, from the same rounds:
#
# - best: the numerator's best time over the least best time of the denominators. Noise only ever adds time,
#   so each side's best estimates its cost without interference: the number to compare across commits (each
#   ratio track's asv history is this one).
# - median: the median over rounds of the round's ratio, the numerator's time in round r over the least
#   denominator time in round r. Both sides of a round met the same machine, so this is what a user running
#   an epoch under ordinary load feels; the speed goals (docs/performance.md) are judged by it.
# - spread: the interquartile range of the rounds' ratios divided by their median (0 when every round gives
#   the same ratio). Under neighbouring processes the rounds' ratios can be bimodal, with the best and the
#   median far apart; the spread says how far to trust the median.
#
# One untimed call per side first (after the warm-up) sizes the rounds: as many as fit in BUDGET_S, clamped to
# ROUNDS, at least 7 in the full grid, so that a median and quartiles are read from enough rounds (3 in the
# quick grid, which checks that the cases run, not the goals). A ratio from one process is comparable across
# machines and commits in a way that two absolute times from two processes are not.
ROUNDS = GRID.ratio_rounds
BUDGET_S = GRID.ratio_budget_s

# The workload's timed call (urnn_zoo.workload.forward_backward): grads cleared, module(x)[0].pow(2).mean() and
# its backward, for a zoo cell, nn.RNN or torch_eunn.EURNN.
training_step = workload.forward_backward


def round_times(runs: Sequence[Callable[[], object]], budget: float = BUDGET_S,
                rounds: tuple[int, int] = ROUNDS) -> list[list[float]]:
    r"""The wall time (s) of each callable in each interleaved round (Note [Best of interleaved runs]).

    Each callable is called once untimed (sizing the rounds), then once per round, the order reversed every
    other round: round 0 runs ``runs[0], runs[1], ...``, round 1 the reverse, and so on.

    Args:
        runs: callables that do the work and return when it is done (device synchronised).
        budget: seconds all the rounds may take together (approximately), ≥ 0.
        rounds: least and most rounds, 1 ≤ least ≤ most.

    Returns:
        ``times[i][r]``: the time of ``runs[i]`` in round r; every list has the same length, the number of rounds.

    Raises:
        ValueError: no callables, a negative budget or bad round bounds, before anything is called.

    Example:
        >>> times = round_times([lambda: None, lambda: sum(range(100))], budget=0.0, rounds=(3, 5))
        >>> [len(t) for t in times], all(s >= 0 for t in times for s in t)
        ([3, 3], True)
    """
    if not runs:
        raise ValueError("expected at least one callable to time, got none")
    if not budget >= 0:
        raise ValueError(f"expected a budget of at least 0 seconds, got {budget!r}")
    if len(rounds) != 2 or not all(isinstance(k, int) for k in rounds) or not 1 <= rounds[0] <= rounds[1]:
        raise ValueError(f"expected rounds (least, most) with 1 <= least <= most, got {rounds!r}")
    first = []
    for run in runs:
        start = time.perf_counter()
        run()
        first.append(time.perf_counter() - start)
    lo, hi = rounds
    count = min(hi, max(lo, int(budget / max(sum(first), 1e-9))))
    times: list[list[float]] = [[] for _ in runs]
    order = list(range(len(runs)))
    for _ in range(count):
        for i in order:
            run = runs[i]
            start = time.perf_counter()
            run()
            times[i].append(time.perf_counter() - start)
        order.reverse()
    return times


def best_times(runs: Sequence[Callable[[], object]], budget: float = BUDGET_S,
               rounds: tuple[int, int] = ROUNDS) -> list[float]:
    r"""The best wall time (s) of each callable over the interleaved rounds of :func:`round_times` (Note [Best
    of interleaved runs]).

    Args:
        runs: callables that do the work and return when it is done (device synchronised).
        budget: seconds all the rounds may take together (approximately).
        rounds: least and most rounds.

    Returns:
        One time per callable, in order.

    Example:
        >>> [t >= 0 for t in best_times([lambda: None, lambda: sum(range(100))], budget=0.01)]
        [True, True]
    """
    return [min(each) for each in round_times(runs, budget, rounds)]


def best_ratio(best: Sequence[float]) -> float:
    r"""``best[0] / min(best[1:])``: the numerator's best time over the least best time of the denominators."""
    return best[0] / min(best[1:])


def ratio(numerator: Callable[[], object], *denominators: Callable[[], object], budget: float = BUDGET_S) -> float:
    r"""Best time of ``numerator`` / the least best time of ``denominators``, all interleaved in this process
    (:func:`best_times`): the ``best`` of :func:`measure_ratio`."""
    return best_ratio(best_times([numerator, *denominators], budget=budget))


class Ratio(NamedTuple):
    r"""A ratio of times measured over interleaved rounds (Note [Best of interleaved runs]).

    Attributes:
        best: the numerator's best time / the least best time of the denominators.
        median: the median over rounds r of (numerator's time in r) / (least denominator time in r).
        spread: the interquartile range of those per-round ratios divided by their median (dimensionless).
        rounds: the number of rounds.
    """

    best: float
    median: float
    spread: float
    rounds: int

    @classmethod
    def of(cls, times: Sequence[Sequence[float]]) -> Ratio:
        r"""The ratio of ``times[0]`` over ``times[1:]``, each a list of per-round times (:func:`round_times`).

        A constant denominator (a computed limit) is a list repeating it once per round. Quartiles are numpy's
        default (linear interpolation between order statistics).

        Raises:
            ValueError: fewer than two lists, lists of different lengths, no rounds, or a time that is not a
                positive finite number.

        Example:
            >>> Ratio.of([[2.0, 3.0, 4.0], [1.0, 1.0, 2.0]])
            Ratio(best=2.0, median=2.0, spread=0.25, rounds=3)
        """
        import numpy as np

        if len(times) < 2:
            raise ValueError(f"expected per-round times of a numerator and at least one denominator, got "
                             f"{len(times)} list(s)")
        lengths = sorted({len(each) for each in times})
        if len(lengths) != 1 or lengths[0] == 0:
            raise ValueError(f"expected the same number (at least 1) of rounds for every side, got {lengths}")
        table = np.asarray(times, dtype=float)
        if not (np.isfinite(table).all() and (table > 0).all()):
            raise ValueError(f"expected positive finite times, got {table.tolist()}")
        per_round = table[0] / table[1:].min(axis=0)
        median = float(np.median(per_round))
        q1, q3 = np.percentile(per_round, [25, 75])
        return cls(best_ratio(table.min(axis=1).tolist()), median, float(q3 - q1) / median, len(per_round))


def measure_ratio(numerator: Callable[[], object], *denominators: Callable[[], object], budget: float = BUDGET_S,
                  rounds: tuple[int, int] = ROUNDS) -> Ratio:
    r"""``numerator`` against the least of ``denominators``, interleaved in this process: best, median and spread
    (:func:`round_times`, :meth:`Ratio.of`)."""
    return Ratio.of(round_times([numerator, *denominators], budget, rounds))


class RatioCase:
    r"""Attributes of the ratio tracks: one call of the track per case (it times both sides itself)."""

    rounds = 1
    timeout = 600.0


class RatioGoalCase:
    r"""Attributes of the classes that measure a ratio once per parameter combination in ``setup_cache``
    (:func:`per_params`) and read its best, median and spread in three tracks: one call per track, and time for
    every combination's rounds in one process (asv's ``setup_cache`` takes the class's ``timeout``)."""

    rounds = 1
    timeout = 1800.0


THREADS = ("1", "default")


@contextlib.contextmanager
def threads(setting: str) -> Iterator[None]:
    r"""torch's intra-op thread count for the ``with`` block (Note [Threads and timers]): ``"1"`` one thread,
    ``"default"`` left as it is; restored afterwards.

    Raises:
        ValueError: a setting not in :data:`THREADS`, before anything changes.
    """
    if setting not in THREADS:
        raise ValueError(f"threads must be one of {THREADS}, got {setting!r}")
    import torch

    before = torch.get_num_threads()
    if setting == "1":
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def inference(module: torch.nn.Module, x: torch.Tensor) -> Callable[[], None]:
    r"""A forward of ``module`` over ``x`` without autograd, as a callable."""
    import torch

    def run() -> None:
        with torch.no_grad():
            module(x)

    return run


def warmed(key: tuple, runs: Sequence[Callable[[], None]]) -> None:
    r"""Run every callable once per process for ``key`` (first GEMM, expm, allocator), CPU."""
    import torch

    for i, run in enumerate(runs):
        warm_up((*key, i), run, torch.device("cpu"))


@functools.lru_cache(maxsize=None)
def kru_cell(n: int, factors: tuple[int, ...], strategy: str = "auto") -> urnn_zoo.RecurrentCell:
    r"""``make_cell("kru", 10, n, factors=list(factors), strategy=strategy)``, default dtype, seeded, cached."""
    import torch

    import urnn_zoo

    torch.manual_seed(SEED)
    return urnn_zoo.make_cell("kru", INPUT, n, factors=list(factors), strategy=strategy)


@functools.lru_cache(maxsize=None)
def torch_rnn(n: int) -> torch.nn.RNN:
    r"""``torch.nn.RNN(10, n)`` (tanh, one layer, time-major), default dtype, seeded, cached."""
    import torch

    torch.manual_seed(SEED)
    return torch.nn.RNN(INPUT, n, nonlinearity="tanh")


@functools.lru_cache(maxsize=None)
def torch_eunn_rnn(n: int, capacity: int) -> torch.nn.Module:
    r"""``torch_eunn.EURNN(10, n, capacity)`` (real outputs, time-major), seeded, cached; ``NotImplementedError``
    (asv: n/a) where the optional test extra ``torch-eunn`` is not installed."""
    import torch

    try:
        import torch_eunn
    except ImportError as err:
        raise NotImplementedError(f"torch_eunn is not installed (the test extra torch-eunn==0.2.1): {err}") from err
    torch.manual_seed(SEED)
    return torch_eunn.EURNN(INPUT, n, capacity=capacity, output_type="real", batch_first=False)


@functools.lru_cache(maxsize=None)
def zoo_eurnn(n: int, capacity: int) -> urnn_zoo.RecurrentCell:
    r"""``make_cell("eurnn", 10, n, capacity=capacity)``, default dtype and strategy, seeded, cached."""
    import torch

    import urnn_zoo

    torch.manual_seed(SEED)
    return urnn_zoo.make_cell("eurnn", INPUT, n, capacity=capacity)
