r"""The fused recurrences (hand-written BPTT: ``urnn_zoo.engine.recurrence``, and for ``kru_lstm``
``urnn_zoo.engine.lstm_recurrence``) against the per-step autograd loop.

``FusedSpeedup.track_reference_over_fused``: time(``cell.fused = False``) / time(``cell.fused = True``),
forward+backward of the workload (:mod:`.common`: B = 32 sequences of T = 100 steps, 10 real inputs, float32,
the loss ``out.pow(2).mean()``), per cell with the workload's options at N = :data:`CELL_SIZE`, both sides timed
inside one case, interleaved (Note [Best of interleaved runs] in :mod:`.common`). Above 1 where the fused loop
pays off (docs/performance.md#the-fused-recurrence). CPU only; the quick grid (``URNN_ZOO_BENCH_QUICK=1``)
keeps N = 64.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from . import common
from .common import CELLS, QUICK

if TYPE_CHECKING:
    import urnn_zoo

# N of the per-cell comparisons.
CELL_SIZE = 64 if QUICK else 512


def has_fused_path(cell: urnn_zoo.RecurrentCell) -> bool:
    r"""Whether ``cell.fused`` selects the fused loop of σ(L h + u) (``urnn_zoo.engine.recurrence``; the gated
    ``kru_lstm`` has its own, :func:`has_fused_lstm`): the base ``run``, a declared activation the fused loop has
    (``fused_activation()``; None for ornn's default leaky ReLU) and a map for the fused loop (``fused_map``),
    the conditions under which ``run`` takes the fused loop."""
    import torch

    from urnn_zoo import RecurrentCell

    if type(cell).run is not RecurrentCell.run or cell.fused_activation() is None:
        return False
    with torch.no_grad():
        return cell.fused_map(cell.prepare()) is not None


def has_fused_lstm(cell: urnn_zoo.RecurrentCell) -> bool:
    r"""Whether ``cell.fused`` selects the fused LSTM recurrence (``urnn_zoo.engine.lstm_recurrence``): a
    ``kru_lstm`` whose ``forward`` is its own, which takes that recurrence unless ``fused`` is False."""
    from urnn_zoo.cells.kru_lstm import KRULSTM

    return isinstance(cell, KRULSTM) and type(cell).forward is KRULSTM.forward


def switched(cell: urnn_zoo.RecurrentCell, run: Callable[[], None], fused: bool) -> Callable[[], None]:
    r"""``run`` with ``cell.fused`` set to ``fused`` for its duration (``True`` again afterwards)."""

    def call() -> None:
        cell.fused = fused
        try:
            run()
        finally:
            cell.fused = True

    return call


class FusedSpeedup(common.RatioCase):
    r"""The speed-up of the hand-written BPTT over the per-step autograd loop, per cell.

    Returns time(``cell.fused = False``) / time(``cell.fused = True``), forward+backward of the workload, for
    every cell with the workload's options at N = :data:`CELL_SIZE`, ``kru_lstm`` through its fused LSTM
    recurrence (:func:`has_fused_lstm`). n/a for cells on which ``fused`` selects nothing: those backed by a torch
    kernel (``lstm``, ``rnn``), those whose activation the fused loop does not have (``ornn``'s leaky ReLU) and
    any whose default strategy at this N has no fused map.
    """

    params = [CELLS, [CELL_SIZE]]
    param_names = ["cell", "N"]

    def setup(self, cell: str, n: int) -> None:
        self.cell = common.build_cell(cell, n, "cpu")
        if not (has_fused_path(self.cell) or has_fused_lstm(self.cell)):
            raise NotImplementedError(f"{cell}: cell.fused selects nothing (no fused map at N={n})")
        run = common.training_step(self.cell, common.sequence("cpu"))
        self.reference, self.fused = switched(self.cell, run, False), switched(self.cell, run, True)
        common.warmed(("fused_speedup", cell, n), [self.reference, self.fused])

    def track_reference_over_fused(self, cell: str, n: int) -> float:
        return common.ratio(self.reference, self.fused)

    track_reference_over_fused.unit = "ratio"
