r"""The zoo's EURNN against ``torch_eunn`` (docs/performance.md), on the CPU.

``EURNNVersusTorchEUNN.track_torch_eunn_over_zoo`` (best), ``track_torch_eunn_over_zoo_median`` and
``track_torch_eunn_over_zoo_spread``: ``torch_eunn.EURNN`` / the zoo's ``eurnn``, both capacity 2 (the
tunable-style EURNN of Jing, Shen, Dubček, Peurifoy, Skirlo, LeCun, Tegmark and Soljačić, "Tunable Efficient
Unitary Neural Networks (EUNN) and their application to RNNs", ICML 2017, arXiv:1612.05231). Goal ≥ 10 at
N = 512 by the median (:data:`EURNN_GOAL`). Workload (:mod:`.common`): B = 32 sequences of T = 100 steps, 10
real inputs, float32, the loss ``out.pow(2).mean()`` and its backward; both sides timed in one process,
interleaved (Note [Best of interleaved runs] in :mod:`.common`), every N once in ``setup_cache``
(:func:`torch_eunn_over_zoo`). n/a where the optional test extra ``torch-eunn`` is not installed. The quick
grid (``URNN_ZOO_BENCH_QUICK=1``) keeps N = 64.
"""
from __future__ import annotations

from . import common
from .common import QUICK

EURNN_SIZES: tuple[int, ...] = (64,) if QUICK else (128, 512)
EURNN_CAPACITY = 2
# torch_eunn / zoo eurnn at least this, by the median, at N = EURNN_GOAL_N.
EURNN_GOAL, EURNN_GOAL_N = 10.0, 512


def torch_eunn_over_zoo(n: int, *, budget: float = common.BUDGET_S,
                        rounds: tuple[int, int] = common.ROUNDS) -> common.Ratio:
    r"""``torch_eunn.EURNN`` / the zoo's ``eurnn`` at N = ``n``, both capacity 2, forward+backward of the workload,
    interleaved in this process at torch's thread count.

    Returns:
        The best, median and spread of the ratio (:class:`common.Ratio`); goal :data:`EURNN_GOAL` by the median.

    Raises:
        NotImplementedError: torch_eunn is not installed (asv: n/a).
    """
    x = common.sequence("cpu")
    runs = [common.training_step(common.torch_eunn_rnn(n, EURNN_CAPACITY), x),
            common.training_step(common.zoo_eurnn(n, EURNN_CAPACITY), x)]
    common.warmed(("eurnn_vs_torch_eunn", n), runs)
    return common.measure_ratio(*runs, budget=budget, rounds=rounds)


class EURNNVersusTorchEUNN(common.RatioGoalCase):
    r"""``torch_eunn.EURNN`` (0.2.1, the optional test extra) against the zoo's ``eurnn``, both capacity 2.

    Tracks time(torch_eunn) / time(zoo), forward+backward of the workload (:func:`torch_eunn_over_zoo`), measured
    once per N in ``setup_cache``: its best (the track of the asv history), median and spread; goal ≥ 10 at
    N = 512 by the median. The maps differ in detail (torch_eunn wraps its second layer around and reads out
    Re h, N outputs; the zoo's layers do not wrap and it reads out [Re h; Im h], 2N outputs): the same kind and
    amount of work, not the same numbers. n/a where torch_eunn is not installed.
    """

    params = [EURNN_SIZES]
    param_names = ["N"]

    def setup_cache(self) -> dict:
        return common.per_params(torch_eunn_over_zoo, self.params)

    def setup(self, results: dict, n: int) -> None:
        self.ratio = common.cell_result(results, (n,))

    def track_torch_eunn_over_zoo(self, results: dict, n: int) -> float:
        return self.ratio.best

    track_torch_eunn_over_zoo.unit = "ratio"

    def track_torch_eunn_over_zoo_median(self, results: dict, n: int) -> float:
        return self.ratio.median

    track_torch_eunn_over_zoo_median.unit = "ratio"

    def track_torch_eunn_over_zoo_spread(self, results: dict, n: int) -> float:
        return self.ratio.spread

    track_torch_eunn_over_zoo_spread.unit = "ratio"
