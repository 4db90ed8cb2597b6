r"""The LRU's parallel scan against its own step loop and against ``torch.nn.RNN``, on the CPU.

The Linear Recurrent Unit (Orvieto, Smith, Gu, Fernando, Gulcehre, Pascanu, De, "Resurrecting Recurrent Neural
Networks for Long Sequences", ICML 2023, arXiv:2303.06349) is linear, so ``make_cell("lru", ...)`` runs a whole
sequence as a parallel scan (``strategy="scan"``, the default: about 2·log₂T vectorised operations,
``urnn_zoo.engine.scan``) where ``strategy="loop"`` takes T dependent steps.

- ``LRUScanVersusLoop.track_loop_over_scan``: time(``strategy="loop"``) / time(``strategy="scan"``) of the
  same cell. Above 1 where the scan pays off; it should grow with T (T steps against ~2·log₂T levels).
- ``LRUVersusRNN.track_lru_over_rnn``: time(LRU, scan) / time(``torch.nn.RNN``, tanh) of the same N.
- ``LRUTime.time_forward_backward``: the absolute times of both LRU strategies, for asv's history.

Workload (:mod:`.common`): B = 32 sequences of T = 100 and T = 1000 steps (:data:`LRU_LENGTHS`), 10 real
inputs, float32, the loss ``out.pow(2).mean()`` and its backward; default LRU options (N complex eigenvalues,
2N real outputs). The ratios time both sides inside one case, interleaved (Note [Best of interleaved runs] in
:mod:`.common`). The quick grid (``URNN_ZOO_BENCH_QUICK=1``) keeps N = 64 and both lengths.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import common
from .common import QUICK

if TYPE_CHECKING:
    import urnn_zoo

LRU_SIZES: tuple[int, ...] = (64,) if QUICK else (128, 512)
LRU_LENGTHS: tuple[int, ...] = (100, 1000)
STRATEGIES = ("scan", "loop")


def lru_cell(n: int, strategy: str) -> urnn_zoo.RecurrentCell:
    r"""``make_cell("lru", 10, n, strategy=strategy)``, float32, seeded: both strategies hold the same numbers."""
    return common.workload.build_cell("lru", n, options={"strategy": strategy})


class LRUScanVersusLoop(common.RatioCase):
    r"""The scan against the step loop of the same LRU: time(loop) / time(scan), forward+backward."""

    params = [LRU_SIZES, LRU_LENGTHS]
    param_names = ["N", "T"]

    def setup(self, n: int, t: int) -> None:
        x = common.sequence("cpu", t)
        self.loop = common.training_step(lru_cell(n, "loop"), x)
        self.scan = common.training_step(lru_cell(n, "scan"), x)
        common.warmed(("lru_scan_vs_loop", n, t), [self.loop, self.scan])

    def track_loop_over_scan(self, n: int, t: int) -> float:
        return common.ratio(self.loop, self.scan)

    track_loop_over_scan.unit = "ratio"


class LRUVersusRNN(common.RatioCase):
    r"""The LRU (scan) against ``torch.nn.RNN`` (tanh, torch's fused kernel) of the same N: time(LRU) /
    time(nn.RNN), forward+backward. The LRU's state is complex (2N real outputs), nn.RNN's real (N)."""

    params = [LRU_SIZES, LRU_LENGTHS]
    param_names = ["N", "T"]

    def setup(self, n: int, t: int) -> None:
        x = common.sequence("cpu", t)
        self.lru = common.training_step(lru_cell(n, "scan"), x)
        self.rnn = common.training_step(common.torch_rnn(n), x)
        common.warmed(("lru_vs_rnn", n, t), [self.lru, self.rnn])

    def track_lru_over_rnn(self, n: int, t: int) -> float:
        return common.ratio(self.lru, self.rnn)

    track_lru_over_rnn.unit = "ratio"


class LRUTime(common.TimeCase):
    r"""Absolute time of one LRU strategy (forward+backward of one batch of sequences)."""

    params = [LRU_SIZES, LRU_LENGTHS, STRATEGIES]
    param_names = ["N", "T", "strategy"]

    def setup(self, n: int, t: int, strategy: str) -> None:
        self.run = common.training_step(lru_cell(n, strategy), common.sequence("cpu", t))
        common.warmed(("lru", n, t, strategy), [self.run])

    def time_forward_backward(self, n: int, t: int, strategy: str) -> None:
        self.run()
