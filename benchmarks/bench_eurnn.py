r"""The zoo's EURNN against ``torch_eunn`` (docs/performance.md), on the CPU.

``EURNNVersusTorchEUNN.track_torch_eunn_over_zoo``: ``torch_eunn.EURNN`` / the zoo's ``eurnn``, both
capacity 2 (the tunable-style EURNN of Jing, Shen, Dubček, Peurifoy, Skirlo, LeCun, Tegmark and Soljačić,
"Tunable Efficient Unitary Neural Networks (EUNN) and their application to RNNs", ICML 2017,
arXiv:1612.05231). Goal ≥ 10 at N = 512. Workload (:mod:`.common`): B = 32 sequences of T = 100 steps, 10
real inputs, float32, the loss ``out.pow(2).mean()`` and its backward; both sides timed inside one case,
interleaved (Note [Best of interleaved runs] in :mod:`.common`). n/a where the optional test extra
``torch-eunn`` is not installed. The quick grid (``URNN_ZOO_BENCH_QUICK=1``) keeps N = 64.
"""
from __future__ import annotations

from . import common
from .common import QUICK

EURNN_SIZES: tuple[int, ...] = (64,) if QUICK else (128, 512)
EURNN_CAPACITY = 2


class EURNNVersusTorchEUNN(common.RatioCase):
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
        self.reference = common.training_step(common.torch_eunn_rnn(n, EURNN_CAPACITY), x)
        self.zoo = common.training_step(common.zoo_eurnn(n, EURNN_CAPACITY), x)
        common.warmed(("eurnn_vs_torch_eunn", n), [self.reference, self.zoo])

    def track_torch_eunn_over_zoo(self, n: int) -> float:
        return common.ratio(self.reference, self.zoo)

    track_torch_eunn_over_zoo.unit = "ratio"
