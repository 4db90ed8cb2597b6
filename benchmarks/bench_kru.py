r"""KRU against ``torch.nn.RNN``, and KRU's compute strategy (docs/performance.md), on the CPU.

Workload (:mod:`.common`): B = 32 sequences of T = 100 steps, 10 real inputs, float32, the loss
``out.pow(2).mean()`` and its backward per sequence. The ``track_`` ratios time both sides in one process,
interleaved (Note [Best of interleaved runs] in :mod:`.common`), about 8 s in all per case (16 s for
``KRUStrategy``).

- ``KRUVersusRNN.track_kru_over_rnn`` (best), ``track_kru_over_rnn_median`` and ``track_kru_over_rnn_spread``:
  KRU / ``torch.nn.RNN`` (tanh) of the same N, at one thread and at torch's default thread count, every case
  measured once in ``setup_cache`` (:func:`kru_over_rnn`). Goal (``"balanced"`` factors, by the median, at both
  thread counts): ≤ 1.0 at N = 128, 0.8 at 512, 0.35 at 1024, 0.2 at 2048 (:data:`KRU_GOALS`).
- ``KRUStrategy.track_auto_over_best``: KRU ``strategy="auto"`` / the best of ``"factored"`` and ``"dense"``.
  Goal ≤ 1.10 (:data:`AUTO_GOAL`).
- ``KRUTime.time_forward_backward`` and ``TorchRNNTime.time_forward_backward``: the absolute times of the two
  sides of ``KRUVersusRNN``, for asv's history.

KRU's factors (``factors`` parameter): ``"balanced"`` two factors as balanced as N allows, the sizes the goals
were set for (:data:`KRU_FACTORS`, the workload's table ``urnn_zoo.workload.KRU_FACTORS``: [8, 16] at N = 128,
[16, 32] at 512, [32, 32] at 1024, [32, 64] at 2048), ``"2x2"`` the paper's log2(N) factors of size 2 (Jose,
Cissé and Fleuret, "Kronecker Recurrent Units", ICML 2018, arXiv:1705.10142); both with the default
``strategy="auto"``, which multiplies adjacent factors into two groups once per forward (or forms W where that
is faster), so the two kinds cost about the same per step.

CPU only, torch's default thread count except where a ``threads`` parameter says (Note [Threads and timers] in
:mod:`.common`). The quick grid (``URNN_ZOO_BENCH_QUICK=1``) keeps one size, N = 64 with factors [8, 8].
"""
from __future__ import annotations

from . import common
from .common import QUICK

# The ``"balanced"`` factor sizes per N: the workload's table (two factors as balanced as N allows) and the quick
# grid's one N = 64, which is not in it; KRU_FACTORS holds this grid's sizes; the goals for KRU / nn.RNN at the
# table's sizes.
BALANCED_FACTORS: dict[int, list[int]] = {64: [8, 8]} | {
    n: list(factors) for n, factors in common.workload.KRU_FACTORS.items()}
KRU_FACTORS: dict[int, list[int]] = (
    {64: BALANCED_FACTORS[64]} if QUICK else {n: BALANCED_FACTORS[n] for n in common.workload.KRU_FACTORS}
)
KRU_GOALS: dict[int, float] = {128: 1.0, 512: 0.8, 1024: 0.35, 2048: 0.2}
KRU_SIZES: tuple[int, ...] = tuple(KRU_FACTORS)
FACTOR_KINDS = ("balanced", "2x2")
# KRU strategy="dense" forms the N x N W and applies one N² complex GEMM per step: beyond this N a sequence
# takes seconds (docs/performance.md) and is nowhere near the best (factored costs N·(P_A + P_B) per row and
# step), so it is not timed there.
DENSE_MAX_N = 1024
AUTO_GOAL = 1.10


def kru_factors(n: int, kind: str) -> list[int]:
    r"""KRU factor sizes at N = ``n``: two balanced factors (``"balanced"``) or log2(N) factors of 2 (``"2x2"``).

    Raises:
        ValueError: ``"2x2"`` with an N that is not a power of two, ``"balanced"`` with an N that has no entry
            in :data:`BALANCED_FACTORS`, or an unknown kind.

    Example:
        >>> kru_factors(512, "2x2") == [2] * 9
        True
    """
    if kind == "2x2":
        if n < 2 or n & (n - 1):
            raise ValueError(f"2x2 factors need N a power of two, got {n}")
        return [2] * (n.bit_length() - 1)
    if kind == "balanced":
        if n not in BALANCED_FACTORS:
            raise ValueError(f"balanced factors are set for N in {tuple(BALANCED_FACTORS)}, got {n}")
        return list(BALANCED_FACTORS[n])
    raise ValueError(f"factor kind must be one of {FACTOR_KINDS}, got {kind!r}")


def kru(n: int, kind: str, strategy: str = "auto"):
    r"""The seeded, cached KRU cell at N = ``n`` with the factors of ``kind`` (:func:`common.kru_cell`)."""
    return common.kru_cell(n, tuple(kru_factors(n, kind)), strategy)


def kru_over_rnn(n: int, factors: str, threads: str, *, budget: float = common.BUDGET_S,
                 rounds: tuple[int, int] = common.ROUNDS) -> common.Ratio:
    r"""KRU / ``torch.nn.RNN`` of the same N, forward+backward of the workload, interleaved in this process.

    Args:
        n: hidden size N. factors: ``"balanced"`` or ``"2x2"`` (:func:`kru_factors`).
        threads: ``"1"`` or ``"default"`` (:func:`common.threads`): torch's thread count while warming up and
            timing.
        budget, rounds: of :func:`common.round_times`.

    Returns:
        The best, median and spread of time(KRU) / time(nn.RNN) (:class:`common.Ratio`); goals by the median
        (:data:`KRU_GOALS`).

    Raises:
        ValueError: a factor kind, N or thread setting this module does not have, before anything is built.
    """
    kru_factors(n, factors)
    with common.threads(threads):
        x = common.sequence("cpu")
        runs = [common.training_step(kru(n, factors), x), common.training_step(common.torch_rnn(n), x)]
        common.warmed(("kru_vs_rnn", n, factors, threads), runs)
        return common.measure_ratio(*runs, budget=budget, rounds=rounds)


class KRUVersusRNN(common.RatioGoalCase):
    r"""KRU against ``torch.nn.RNN`` (tanh) of the same N, forward+backward of the workload (:func:`kru_over_rnn`).

    KRU: ``make_cell("kru", 10, N, factors=F)`` with two balanced factors F (``"balanced"``) or the paper's 2x2
    factors (``"2x2"``), default float32 and ``strategy="auto"``: complex state, modReLU, 2N real outputs.
    nn.RNN: real, N outputs, its own fused kernel. At one thread and at torch's default thread count. Each
    case is measured once, in ``setup_cache``; the tracks read its best (the track of the asv history), median
    and spread. Goals (``"balanced"`` factors, by the median): :data:`KRU_GOALS`.
    """

    params = [KRU_SIZES, FACTOR_KINDS, common.THREADS]
    param_names = ["N", "factors", "threads"]

    def setup_cache(self) -> dict:
        return common.per_params(kru_over_rnn, self.params)

    def setup(self, results: dict, n: int, factors: str, threads: str) -> None:
        self.ratio = common.cell_result(results, (n, factors, threads))

    def track_kru_over_rnn(self, results: dict, n: int, factors: str, threads: str) -> float:
        return self.ratio.best

    track_kru_over_rnn.unit = "ratio"

    def track_kru_over_rnn_median(self, results: dict, n: int, factors: str, threads: str) -> float:
        return self.ratio.median

    track_kru_over_rnn_median.unit = "ratio"

    def track_kru_over_rnn_spread(self, results: dict, n: int, factors: str, threads: str) -> float:
        return self.ratio.spread

    track_kru_over_rnn_spread.unit = "ratio"


class KRUTime(common.TimeCase):
    r"""Absolute time of the KRU side of :class:`KRUVersusRNN` (forward+backward of one sequence)."""

    params = [KRU_SIZES, FACTOR_KINDS]
    param_names = ["N", "factors"]

    def setup(self, n: int, factors: str) -> None:
        self.run = common.training_step(kru(n, factors), common.sequence("cpu"))
        common.warmed(("kru", n, factors), [self.run])

    def time_forward_backward(self, n: int, factors: str) -> None:
        self.run()


class TorchRNNTime(common.TimeCase):
    r"""Absolute time of the ``torch.nn.RNN`` side of :class:`KRUVersusRNN`."""

    params = [KRU_SIZES]
    param_names = ["N"]

    def setup(self, n: int) -> None:
        self.run = common.training_step(common.torch_rnn(n), common.sequence("cpu"))
        common.warmed(("torch_rnn", n), [self.run])

    def time_forward_backward(self, n: int) -> None:
        self.run()


class KRUStrategy(common.RatioCase):
    r"""KRU's ``strategy="auto"`` against the best fixed strategy, forward+backward, ``"balanced"`` factors.

    Returns time(auto) / min(time(factored), time(dense)); goal ≤ 1.10 (:data:`AUTO_GOAL`). ``"dense"`` is
    timed up to N = :data:`DENSE_MAX_N` only: at N = 2048 one dense sequence takes seconds (an N² complex GEMM
    per step, forward and backward) and is far from the best, so there the ratio is auto / factored. The three
    cells share their seeded factors. Where auto picks the strategy that is best, the ratio is 1 up to noise:
    best-of-k times of one computation timed twice differ by up to ±5–10 % at N ≥ 1024 on a 2-core CPU (few
    rounds fit the budget), so this case gets twice the budget of the others. Where the two fixed strategies
    tie (N = 128: dense and factored within a few %), the minimum of two noisy times is biased low and the
    ratio sits a few % above 1 even when auto picks one of them.
    """

    params = [KRU_SIZES]
    param_names = ["N"]

    def setup(self, n: int) -> None:
        x = common.sequence("cpu")
        strategies = ["auto", "factored"] + (["dense"] if n <= DENSE_MAX_N else [])
        self.runs = [common.training_step(kru(n, "balanced", s), x) for s in strategies]
        common.warmed(("kru_strategy", n), self.runs)

    def track_auto_over_best(self, n: int) -> float:
        return common.ratio(*self.runs, budget=2 * common.BUDGET_S)  # a goal 10 % from 1: more rounds

    track_auto_over_best.unit = "ratio"
