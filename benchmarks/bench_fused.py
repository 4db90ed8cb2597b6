r"""The fused recurrences (hand-written BPTT: ``urnn_zoo.engine.recurrence``, and for ``kru_lstm``
``urnn_zoo.engine.lstm_recurrence``) against the per-step autograd loop.

``FusedSpeedup.track_reference_over_fused`` (best), ``track_reference_over_fused_median`` and
``track_reference_over_fused_spread``: time(``cell.fused = False``) / time(``cell.fused = True``),
forward+backward of the workload (:mod:`.common`: B = 32 sequences of T = 100 steps, 10 real inputs, float32,
the loss ``out.pow(2).mean()``), per cell with the workload's options at N = :data:`CELL_SIZE`, both sides timed
in one process, interleaved (Note [Best of interleaved runs] in :mod:`.common`), every cell once in
``setup_cache`` (:func:`reference_over_fused`). Above 1 where the fused loop pays off
(docs/performance.md#the-fused-recurrence); goal: ``kru_lstm`` ≥ 2 at N = 512 by the median
(:data:`FUSED_GOALS`). CPU only; the quick grid (``URNN_ZOO_BENCH_QUICK=1``) keeps N = 64.
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
# Goals, by the median: loop / fused at least this, per cell, at N = FUSED_GOAL_N.
FUSED_GOALS: dict[str, float] = {"kru_lstm": 2.0}
FUSED_GOAL_N = 512


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


def reference_over_fused(cell: str, n: int, *, budget: float = common.BUDGET_S,
                         rounds: tuple[int, int] = common.ROUNDS) -> common.Ratio:
    r"""time(``cell.fused = False``) / time(``cell.fused = True``) of the workload's ``cell`` at N = ``n``,
    forward+backward, interleaved in this process at torch's thread count.

    Returns:
        The best, median and spread of the ratio (:class:`common.Ratio`); goals :data:`FUSED_GOALS` by the median.

    Raises:
        NotImplementedError: ``cell.fused`` selects nothing for this cell at this N, or the family rejects N
            (asv: n/a), before anything is timed.
    """
    model = common.build_cell(cell, n, "cpu")
    if not (has_fused_path(model) or has_fused_lstm(model)):
        raise NotImplementedError(f"{cell}: cell.fused selects nothing (no fused map at N={n})")
    run = common.training_step(model, common.sequence("cpu"))
    runs = [switched(model, run, False), switched(model, run, True)]
    common.warmed(("fused_speedup", cell, n), runs)
    return common.measure_ratio(*runs, budget=budget, rounds=rounds)


class FusedSpeedup(common.RatioGoalCase):
    r"""The speed-up of the hand-written BPTT over the per-step autograd loop, per cell.

    Tracks time(``cell.fused = False``) / time(``cell.fused = True``), forward+backward of the workload
    (:func:`reference_over_fused`), for every cell with the workload's options at N = :data:`CELL_SIZE`,
    ``kru_lstm`` through its fused LSTM recurrence (:func:`has_fused_lstm`), measured once per cell in
    ``setup_cache``: its best (the track of the asv history), median and spread. n/a for cells on which ``fused``
    selects nothing: those backed by a torch kernel (``lstm``, ``rnn``), those whose activation the fused loop
    does not have (``ornn``'s leaky ReLU) and any whose default strategy at this N has no fused map.
    """

    params = [CELLS, [CELL_SIZE]]
    param_names = ["cell", "N"]

    def setup_cache(self) -> dict:
        return common.per_params(reference_over_fused, self.params)

    def setup(self, results: dict, cell: str, n: int) -> None:
        self.ratio = common.cell_result(results, (cell, n))

    def track_reference_over_fused(self, results: dict, cell: str, n: int) -> float:
        return self.ratio.best

    track_reference_over_fused.unit = "ratio"

    def track_reference_over_fused_median(self, results: dict, cell: str, n: int) -> float:
        return self.ratio.median

    track_reference_over_fused_median.unit = "ratio"

    def track_reference_over_fused_spread(self, results: dict, cell: str, n: int) -> float:
        return self.ratio.spread

    track_reference_over_fused_spread.unit = "ratio"
