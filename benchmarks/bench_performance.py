r"""The CPU performance goals of the fused recurrence and the compute strategies (docs/performance.md), each a
ratio of two timings taken in one process on the CPU.

Workload (:mod:`.common`): B = 32 sequences of T = 100 steps, 10 real inputs, float32, the loss
``out.pow(2).mean()`` and its backward per sequence (forward only where a class says so). Every ``track_``
below times both sides inside one case: after a warm-up, the sides run alternately (so a drift of the machine
hits both) and each keeps its best wall time (``time.perf_counter``) over 3 to 25 runs or about 8 s in all
(16 s for ``KRUStrategy``; Note [Best of interleaved runs]); the case returns the ratio. A ratio from one
process is comparable across machines and commits in a way that two absolute times from two processes are not.

- ``KRUVersusRNN.track_kru_over_rnn``: KRU / ``torch.nn.RNN`` (tanh) of the same N. Goal (``"issue"``
  factors): ≤ 1.0 at N = 128, 0.8 at 512, 0.35 at 1024, 0.2 at 2048.
- ``KRUStrategy.track_auto_over_best``: KRU ``strategy="auto"`` / the best of ``"factored"`` and ``"dense"``.
  Goal ≤ 1.10.
- ``EURNNVersusTorchEUNN.track_torch_eunn_over_zoo``: ``torch_eunn.EURNN`` / the zoo's ``eurnn``, capacity 2.
  Goal ≥ 10 at N = 512.
- ``FusedSpeedup.track_reference_over_fused``: ``cell.fused = False`` (per-step autograd loop) /
  ``cell.fused = True`` (hand-written BPTT), per cell. Above 1.
- ``MatrixOncePerForward.track_matrix_evaluations``: evaluations of an exact cell's matrix in one
  forward+backward, T = 1, 10, 100. Goal: 1 for every T.
- ``MatrixOnceTime.track_t100_over_t10`` and ``track_step_over_matrix``: the same claim in time (see there).

KRU's factors (``factors`` parameter): ``"issue"`` two factors as balanced as N allows, the sizes the goals were
set for (:data:`KRU_FACTORS`, the workload's table ``urnn_zoo.workload.KRU_FACTORS``: [8, 16] at N = 128,
[16, 32] at 512, [32, 32] at 1024, [32, 64] at 2048; the value keeps its name so that asv histories stay
comparable), ``"2x2"`` the paper's log2(N) factors of size 2; both with
the default ``strategy="auto"``, which multiplies adjacent factors into two groups once per forward (or forms W
where that is faster), so the two kinds cost about the same per step. ``KRUTime.time_forward_backward`` and
``TorchRNNTime.time_forward_backward`` give asv's history the absolute times of the same two workloads.

CPU only, torch's default thread count (Note [Threads and timers] in :mod:`.common`): the goals are CPU
goals. The quick grid (``URNN_ZOO_BENCH_QUICK=1``) keeps one size, N = 64 with factors [8, 8], for every
class. torch and urnn_zoo are imported inside the helpers only, so the cases of ``MatrixOncePerForward``
(read from one ``setup_cache``) start without them (Note [Cost of a case]).
"""
from __future__ import annotations

import collections
import functools
import math
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from . import common
from .common import CELLS, INPUT, QUICK, SEED, SEQ_LEN

if TYPE_CHECKING:
    import torch

    import urnn_zoo

# The ``"issue"`` factor sizes per N: the workload's table (two factors as balanced as N allows; the quick grid's
# one N = 64 is not in it), and the goals for KRU / nn.RNN at those sizes.
KRU_FACTORS: dict[int, list[int]] = (
    {64: [8, 8]} if QUICK else {n: list(factors) for n, factors in common.workload.KRU_FACTORS.items()}
)
KRU_GOALS: dict[int, float] = {128: 1.0, 512: 0.8, 1024: 0.35, 2048: 0.2}
KRU_SIZES: tuple[int, ...] = tuple(KRU_FACTORS)
FACTOR_KINDS = ("issue", "2x2")
# KRU strategy="dense" forms the N x N W and applies one N² complex GEMM per step: beyond this N a sequence
# takes seconds (N = 2048: 2.8 s forward+backward on the 2-core CPU class, against 0.36 s factored) and is
# nowhere near the best (factored costs N·(P_A + P_B) per row and step), so it is not timed there.
DENSE_MAX_N = 1024
AUTO_GOAL = 1.10
EURNN_SIZES: tuple[int, ...] = (64,) if QUICK else (128, 512)
EURNN_CAPACITY = 2
# N of the per-cell comparisons (fused against reference loop, matrix once per forward).
CELL_SIZE = 64 if QUICK else 512
SEQ_LENS = (1, 10, 100)

# Note [Best of interleaved runs]
# The sides of a ratio run alternately, one call each per round and in reversed order every other round, so a
# slow phase of the machine (another process, frequency scaling) slows both and no side always runs first
# (after the other's allocations). The best time of each side estimates its cost without interference
# (noise only ever adds time). One untimed call per side first (after the warm-up in ``setup``) sizes the
# rounds: as many as fit in BUDGET_S, clamped to ROUNDS.
ROUNDS = (3, 25)
BUDGET_S = 1.0 if QUICK else 8.0


def best_times(runs: Sequence[Callable[[], object]], budget: float = BUDGET_S,
               rounds: tuple[int, int] = ROUNDS) -> list[float]:
    r"""The best wall time (s) of each callable over interleaved rounds (Note [Best of interleaved runs]).

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
    first = []
    for run in runs:
        start = time.perf_counter()
        run()
        first.append(time.perf_counter() - start)
    lo, hi = rounds
    count = min(hi, max(lo, int(budget / max(sum(first), 1e-9))))
    best = [math.inf] * len(runs)
    order = list(range(len(runs)))
    for _ in range(count):
        for i in order:
            run = runs[i]
            start = time.perf_counter()
            run()
            best[i] = min(best[i], time.perf_counter() - start)
        order.reverse()
    return best


def kru_factors(n: int, kind: str) -> list[int]:
    r"""KRU factor sizes at N = ``n``: two balanced factors (``"issue"``) or log2(N) factors of 2 (``"2x2"``).

    Example:
        >>> kru_factors(512, "2x2") == [2] * 9
        True
    """
    if kind == "2x2":
        if n < 2 or n & (n - 1):
            raise ValueError(f"2x2 factors need N a power of two, got {n}")
        return [2] * (n.bit_length() - 1)
    if kind == "issue":
        return list(KRU_FACTORS[n])
    raise ValueError(f"factor kind must be one of {FACTOR_KINDS}, got {kind!r}")


@functools.lru_cache(maxsize=None)
def kru(n: int, kind: str, strategy: str = "auto") -> urnn_zoo.RecurrentCell:
    r"""``make_cell("kru", 10, n, factors=kru_factors(n, kind), strategy=strategy)``, default dtype, seeded."""
    import torch

    import urnn_zoo

    torch.manual_seed(SEED)
    return urnn_zoo.make_cell("kru", INPUT, n, factors=kru_factors(n, kind), strategy=strategy)


@functools.lru_cache(maxsize=None)
def torch_rnn(n: int) -> torch.nn.RNN:
    r"""``torch.nn.RNN(10, n)`` (tanh, one layer, time-major), default dtype, seeded."""
    import torch

    torch.manual_seed(SEED)
    return torch.nn.RNN(INPUT, n, nonlinearity="tanh")


@functools.lru_cache(maxsize=None)
def torch_eunn_rnn(n: int) -> torch.nn.Module:
    r"""``torch_eunn.EURNN(10, n, capacity=2)`` (real outputs, time-major); ``NotImplementedError`` (asv: n/a)
    where the optional test extra ``torch-eunn`` is not installed."""
    import torch

    try:
        import torch_eunn
    except ImportError as err:
        raise NotImplementedError(f"torch_eunn is not installed (the test extra torch-eunn==0.2.1): {err}") from err
    torch.manual_seed(SEED)
    return torch_eunn.EURNN(INPUT, n, capacity=EURNN_CAPACITY, output_type="real", batch_first=False)


@functools.lru_cache(maxsize=None)
def zoo_eurnn(n: int) -> urnn_zoo.RecurrentCell:
    r"""``make_cell("eurnn", 10, n, capacity=2)``, default dtype and strategy, seeded."""
    import torch

    import urnn_zoo

    torch.manual_seed(SEED)
    return urnn_zoo.make_cell("eurnn", INPUT, n, capacity=EURNN_CAPACITY)


# The workload's timed call (urnn_zoo.workload.forward_backward): grads cleared, module(x)[0].pow(2).mean() and its
# backward, for a zoo cell, nn.RNN or torch_eunn.EURNN.
training_step = common.workload.forward_backward


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
        common.warm_up((*key, i), run, torch.device("cpu"))


def ratio(numerator: Callable[[], None], denominator: Callable[[], None]) -> float:
    r"""best time of ``numerator`` / best time of ``denominator``, interleaved in this process."""
    top, bottom = best_times([numerator, denominator])
    return top / bottom


class RatioCase:
    r"""Attributes of the ratio tracks: one call of the track per case (it times both sides itself)."""

    rounds = 1
    timeout = 600.0


# ----------------------------------------------------------------------------------------------- goal 1
class KRUVersusRNN(RatioCase):
    r"""KRU against ``torch.nn.RNN`` (tanh) of the same N, forward+backward of the workload.

    KRU: ``make_cell("kru", 10, N, factors=F)`` with two balanced factors F (``"issue"``) or the paper's 2x2
    factors (``"2x2"``), default float32 and ``strategy="auto"``: complex state, modReLU, 2N real outputs.
    nn.RNN: real, N outputs, its own fused kernel. Goals (``"issue"`` factors): :data:`KRU_GOALS`.
    """

    params = [KRU_SIZES, FACTOR_KINDS]
    param_names = ["N", "factors"]

    def setup(self, n: int, factors: str) -> None:
        x = common.sequence("cpu")
        self.kru, self.rnn = training_step(kru(n, factors), x), training_step(torch_rnn(n), x)
        warmed(("kru_vs_rnn", n, factors), [self.kru, self.rnn])

    def track_kru_over_rnn(self, n: int, factors: str) -> float:
        return ratio(self.kru, self.rnn)

    track_kru_over_rnn.unit = "ratio"


class KRUTime(common.TimeCase):
    r"""Absolute time of the KRU side of :class:`KRUVersusRNN` (forward+backward of one sequence)."""

    params = [KRU_SIZES, FACTOR_KINDS]
    param_names = ["N", "factors"]

    def setup(self, n: int, factors: str) -> None:
        self.run = training_step(kru(n, factors), common.sequence("cpu"))
        warmed(("kru", n, factors), [self.run])

    def time_forward_backward(self, n: int, factors: str) -> None:
        self.run()


class TorchRNNTime(common.TimeCase):
    r"""Absolute time of the ``torch.nn.RNN`` side of :class:`KRUVersusRNN`."""

    params = [KRU_SIZES]
    param_names = ["N"]

    def setup(self, n: int) -> None:
        self.run = training_step(torch_rnn(n), common.sequence("cpu"))
        warmed(("torch_rnn", n), [self.run])

    def time_forward_backward(self, n: int) -> None:
        self.run()


# ----------------------------------------------------------------------------------------------- goal 2
class KRUStrategy(RatioCase):
    r"""KRU's ``strategy="auto"`` against the best fixed strategy, forward+backward, ``"issue"`` factors.

    Returns time(auto) / min(time(factored), time(dense)); goal ≤ 1.10 (:data:`AUTO_GOAL`). ``"dense"`` is
    timed up to N = :data:`DENSE_MAX_N` only: at N = 2048 one dense sequence takes seconds (an N² complex GEMM
    per step, forward and backward) and is far from the best, so there the ratio is auto / factored. The three
    cells share their seeded factors. Where auto picks the strategy that is best, the ratio is 1 up to noise:
    on the 2-core CPU class, best-of-k times of one computation timed twice differ by up to ±5–10 % at
    N ≥ 1024 (few rounds fit the budget), so this case gets twice the budget of the others. Where the two
    fixed strategies tie (N = 128: dense and factored within a few %), the minimum of two noisy times is biased
    low and the ratio sits a few % above 1 even when auto picks one of them.
    """

    params = [KRU_SIZES]
    param_names = ["N"]

    def setup(self, n: int) -> None:
        x = common.sequence("cpu")
        strategies = ["auto", "factored"] + (["dense"] if n <= DENSE_MAX_N else [])
        self.runs = [training_step(kru(n, "issue", s), x) for s in strategies]
        warmed(("kru_strategy", n), self.runs)

    def track_auto_over_best(self, n: int) -> float:
        auto, *fixed = best_times(self.runs, budget=2 * BUDGET_S)  # a goal 10 % from 1: more rounds
        return auto / min(fixed)

    track_auto_over_best.unit = "ratio"


# ----------------------------------------------------------------------------------------------- goal 3
class EURNNVersusTorchEUNN(RatioCase):
    r"""``torch_eunn.EURNN`` (0.2.1, the optional test extra) against the zoo's ``eurnn``, both capacity 2.

    Returns time(torch_eunn) / time(zoo), forward+backward of the workload; goal ≥ 10 at N = 512. The maps
    differ in detail (torch_eunn wraps its second layer around and reads out Re h, N outputs; the zoo's layers
    do not wrap and it reads out [Re h; Im h], 2N outputs): the same kind and amount of work, not the same
    numbers. n/a where torch_eunn is not installed.
    """

    params = [EURNN_SIZES]
    param_names = ["N"]

    def setup(self, n: int) -> None:
        x = common.sequence("cpu")
        self.reference = training_step(torch_eunn_rnn(n), x)
        self.zoo = training_step(zoo_eurnn(n), x)
        warmed(("eurnn_vs_torch_eunn", n), [self.reference, self.zoo])

    def track_torch_eunn_over_zoo(self, n: int) -> float:
        return ratio(self.reference, self.zoo)

    track_torch_eunn_over_zoo.unit = "ratio"


# ----------------------------------------------------------------------------------------------- goal 4
def has_fused_path(cell: urnn_zoo.RecurrentCell) -> bool:
    r"""Whether ``cell.fused`` selects anything: the base ``run`` and a map for the fused loop."""
    import torch

    from urnn_zoo.cells.base import RecurrentCell

    if type(cell).run is not RecurrentCell.run:
        return False
    with torch.no_grad():
        return cell.fused_map(cell.prepare()) is not None


class FusedSpeedup(RatioCase):
    r"""The speed-up of the hand-written BPTT (``urnn_zoo.recurrence``) over the per-step autograd loop.

    Returns time(``cell.fused = False``) / time(``cell.fused = True``), forward+backward of the workload, for
    every cell with its default options at N = :data:`CELL_SIZE`. n/a for cells on which ``fused`` selects
    nothing: those backed by a torch kernel (``lstm``, ``rnn``), gated ones (``kru_lstm``) and any whose
    default strategy at this N has no fused map.
    """

    params = [CELLS, [CELL_SIZE]]
    param_names = ["cell", "N"]

    def setup(self, cell: str, n: int) -> None:
        self.cell = common.build_cell(cell, n, "cpu")
        if not has_fused_path(self.cell):
            raise NotImplementedError(f"{cell}: cell.fused selects nothing (no fused map at N={n})")
        run = training_step(self.cell, common.sequence("cpu"))
        self.reference, self.fused = self._with(run, False), self._with(run, True)
        warmed(("fused_speedup", cell, n), [self.reference, self.fused])

    def _with(self, run: Callable[[], None], fused: bool) -> Callable[[], None]:
        def switched() -> None:
            self.cell.fused = fused
            try:
                run()
            finally:
                self.cell.fused = True

        return switched

    def track_reference_over_fused(self, cell: str, n: int) -> float:
        return ratio(self.reference, self.fused)

    track_reference_over_fused.unit = "ratio"


# ----------------------------------------------------------------------------------------------- goal 5
def exact_cell(name: str, n: int) -> urnn_zoo.RecurrentCell:
    r"""The benchmark cell ``name`` (:func:`common.build_cell`); ``NotImplementedError`` (asv: n/a) unless its
    constraint is ``"exact"``."""
    from urnn_zoo.cells.base import cell_class

    constraint = cell_class(name).constraint
    if constraint != "exact":
        raise NotImplementedError(f"{name} is not an exact cell (constraint {constraint!r})")
    return common.build_cell(name, n, "cpu")


def matrix_evaluations(cell: urnn_zoo.RecurrentCell, x: torch.Tensor) -> int:
    r"""How often one forward+backward of ``cell`` over ``x`` evaluates its parametrised matrix.

    Counts the calls of ``cell.prepare()``, of ``cell.recurrent_matrix()`` and of every torch parametrization
    registered on the cell (forward pre-hooks on its ``ParametrizationList`` modules) and returns the largest
    count: 1 when everything is materialised once per forward.
    """
    from torch.nn.utils import parametrize

    counts: collections.Counter[str] = collections.Counter()

    def counting(key: str, fn: Callable) -> Callable:
        def spy(*args, **kwargs):
            counts[key] += 1
            return fn(*args, **kwargs)

        return spy

    spied = ("prepare", "recurrent_matrix")
    for attr in spied:
        setattr(cell, attr, counting(attr, getattr(cell, attr)))
    handles = []
    for module_name, module in cell.named_modules():
        if parametrize.is_parametrized(module):
            for tensor_name, plist in module.parametrizations.items():
                key = f"{module_name}.{tensor_name}"
                handles.append(plist.register_forward_pre_hook(lambda *_, key=key: counts.update([key])))
    try:
        training_step(cell, x)()
    finally:
        for attr in spied:
            delattr(cell, attr)
        for handle in handles:
            handle.remove()
    return max(counts.values(), default=0)


def evaluations_per_length(name: str) -> dict[int, int]:
    r"""``{T: matrix_evaluations}`` for the exact cell ``name`` at N = :data:`CELL_SIZE`, T in :data:`SEQ_LENS`."""
    cell = exact_cell(name, CELL_SIZE)
    return {t: matrix_evaluations(cell, common.sequence("cpu", t)) for t in SEQ_LENS}


class MatrixOncePerForward:
    r"""Every exact cell computes its parametrised matrix once per forward, whatever T (docs/performance.md).

    For each cell with ``constraint == "exact"`` (the others: n/a), the number of evaluations of its matrix
    during one forward+backward of a T-step sequence (:func:`matrix_evaluations`): the calls of ``prepare()``,
    of ``recurrent_matrix()`` and of each torch parametrization (``parametrize.cached()`` in
    ``RecurrentCell.run`` must make every read of a parametrised weight reuse one evaluation). Goal: 1 for
    every T; a count that grows with T is a matrix exponential, Cayley solve or Householder product per step.
    Counted once for all cases in ``setup_cache``.
    """

    params = [CELLS, SEQ_LENS]
    param_names = ["cell", "T"]
    timeout = 600.0

    def setup_cache(self) -> dict:
        return common.per_cell(evaluations_per_length)

    def setup(self, results: dict, cell: str, t: int) -> None:
        self.count = common.cell_result(results, cell)[t]

    def track_matrix_evaluations(self, results: dict, cell: str, t: int) -> int:
        return self.count

    track_matrix_evaluations.unit = "evaluations"


class MatrixOnceTime(RatioCase):
    r"""The time side of :class:`MatrixOncePerForward`: inference time against sequence length, exact cells.

    With the matrix computed once per forward, a forward over T steps costs t(T) ≈ c + s·T, where the fixed
    cost c holds the matrix evaluation p (plus the input projection) and s is the marginal cost of a step.
    An evaluation per step would instead put p into s: s ≥ p and c ≈ 0.

    - ``track_t100_over_t10``: t(100) / t(10). At most 10; exactly 10 when nothing is paid once per forward
      (which a per-step evaluation would give for every cell), well below 10 where the matrix costs more than
      a few steps and is paid once at both lengths (expRNN's matrix exponential, the Cayley solves of fcurnn
      and scoRNN, oRNN's Householder product). It does not grow beyond 10 in either case, so it shows the
      once-per-forward cost, not a per-step one.
    - ``track_step_over_matrix``: s / p with s = (t(100) − t(10)) / 90 and p the time of one ``prepare()``
      (the matrix, without the steps). Below 1 shows that no evaluation rides on each step (a per-step one
      makes it ≥ 1); conclusive for the cells whose matrix costs more than a step. Where the matrix is cheaper
      than a step (EURNN's angles, RC-uRNN's phases: ``prepare`` only builds coefficient vectors) it is above 1
      either way, and the count of :class:`MatrixOncePerForward` is the evidence.

    Forward without autograd, N = :data:`CELL_SIZE`, B = 32, default options.
    """

    params = [CELLS, [CELL_SIZE]]
    param_names = ["cell", "N"]

    def setup(self, cell: str, n: int) -> None:
        import torch

        self.cell = exact_cell(cell, n)
        self.short = inference(self.cell, common.sequence("cpu", 10))
        self.long = inference(self.cell, common.sequence("cpu", SEQ_LEN))

        def matrix() -> None:
            with torch.no_grad():
                self.cell.prepare()

        self.matrix = matrix
        warmed(("matrix_once_time", cell, n), [self.short, self.long, self.matrix])

    def track_t100_over_t10(self, cell: str, n: int) -> float:
        return ratio(self.long, self.short)

    def track_step_over_matrix(self, cell: str, n: int) -> float:
        long, short, matrix = best_times([self.long, self.short, self.matrix])
        return max(long - short, 0.0) / (SEQ_LEN - 10) / matrix

    track_t100_over_t10.unit = "ratio"
    track_step_over_matrix.unit = "ratio"

