r"""A parametrised recurrent matrix is computed once per forward, not once per step: counted and timed.

The invariant is part of the cell contract (docs/cell-contract.md: ``prepare()`` is what is materialised once
per forward) and is tested in ``tests/test_matrix_once.py``; these benchmarks keep its history in asv.

- ``MatrixOncePerForward.track_matrix_evaluations``: evaluations of an exact cell's matrix in one
  forward+backward (:func:`matrix_evaluations`), T = 1, 10, 100. Goal: 1 for every T.
- ``MatrixOnceTime.track_t100_over_t10`` and ``track_step_over_matrix``: the same claim in time (see there),
  timed inside one case, interleaved (Note [Best of interleaved runs] in :mod:`.common`).

Workload (:mod:`.common`): B = 32, 10 real inputs, float32, the workload's options, N = :data:`CELL_SIZE` (64 in the
quick grid), CPU. torch and urnn_zoo are imported inside the helpers only, so the cases of
``MatrixOncePerForward`` (read from one ``setup_cache``) start without them (Note [Cost of a case] in
:mod:`.common`).
"""
from __future__ import annotations

import collections
import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from . import common
from .common import CELLS, QUICK, SEQ_LEN

if TYPE_CHECKING:
    import torch

    import urnn_zoo

# N of the per-cell measurements, and the sequence lengths of the count.
CELL_SIZE = 64 if QUICK else 512
SEQ_LENS = (1, 10, 100)
SPIED = ("prepare", "recurrent_matrix")


def exact_cell(name: str, n: int) -> urnn_zoo.RecurrentCell:
    r"""The benchmark cell ``name`` (:func:`common.build_cell`); ``NotImplementedError`` (asv: n/a) unless its
    constraint is ``"exact"``."""
    from urnn_zoo.cells.base import cell_class

    constraint = cell_class(name).constraint
    if constraint != "exact":
        raise NotImplementedError(f"{name} is not an exact cell (constraint {constraint!r})")
    return common.build_cell(name, n, "cpu")


@contextlib.contextmanager
def counting_evaluations(cell: urnn_zoo.RecurrentCell) -> Iterator[collections.Counter[str]]:
    r"""Count, while the block runs, the evaluations of what ``cell`` materialises for its recurrence.

    Yields a ``Counter`` that the block fills: ``"prepare"`` and ``"recurrent_matrix"`` count the calls of those
    methods (spied on the instance), and ``"<module>.<tensor>"`` the evaluations of each torch parametrization
    registered on the cell or its submodules (forward pre-hooks on their ``ParametrizationList``; a read served
    from ``parametrize.cached()`` does not evaluate, so it is not counted). The spies and hooks are removed on
    exit, also when the block raises.
    """
    from torch.nn.utils import parametrize

    counts: collections.Counter[str] = collections.Counter()

    def counting(key: str, fn: Callable) -> Callable:
        def spy(*args, **kwargs):
            counts[key] += 1
            return fn(*args, **kwargs)

        return spy

    for attr in SPIED:
        setattr(cell, attr, counting(attr, getattr(cell, attr)))
    handles = []
    for module_name, module in cell.named_modules():
        if parametrize.is_parametrized(module):
            for tensor_name, plist in module.parametrizations.items():
                key = f"{module_name}.{tensor_name}"
                handles.append(plist.register_forward_pre_hook(lambda *_, key=key: counts.update([key])))
    try:
        yield counts
    finally:
        for attr in SPIED:
            delattr(cell, attr)
        for handle in handles:
            handle.remove()


def matrix_evaluations(cell: urnn_zoo.RecurrentCell, x: torch.Tensor) -> int:
    r"""How often one forward+backward of ``cell`` over ``x`` (T, B, input_size) evaluates its parametrised
    matrix: the largest count of :func:`counting_evaluations`, 1 when everything is materialised once per
    forward."""
    with counting_evaluations(cell) as counts:
        common.training_step(cell, x)()
    return max(counts.values(), default=0)


def evaluations_per_length(name: str) -> dict[int, int]:
    r"""``{T: matrix_evaluations}`` for the exact cell ``name`` at N = :data:`CELL_SIZE`, T in :data:`SEQ_LENS`."""
    cell = exact_cell(name, CELL_SIZE)
    return {t: matrix_evaluations(cell, common.sequence("cpu", t)) for t in SEQ_LENS}


def step_over_matrix(long: float, short: float, matrix: float) -> float:
    r"""s / p: the marginal time of a step, s = (t(100) − t(10)) / 90 from the best times ``long`` and
    ``short`` (s), over ``matrix``, the time p of one ``prepare()`` (s); see :class:`MatrixOnceTime`."""
    return max(long - short, 0.0) / (SEQ_LEN - 10) / matrix


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


class MatrixOnceTime(common.RatioCase):
    r"""The time side of :class:`MatrixOncePerForward`: inference time against sequence length, exact cells.

    With the matrix computed once per forward, a forward over T steps costs t(T) ≈ c + s·T, where the fixed
    cost c holds the matrix evaluation p (plus the input projection) and s is the marginal cost of a step.
    An evaluation per step would instead put p into s: s ≥ p and c ≈ 0.

    - ``track_t100_over_t10``: t(100) / t(10). At most 10; exactly 10 when nothing is paid once per forward
      (which a per-step evaluation would give for every cell), well below 10 where the matrix costs more than
      a few steps and is paid once at both lengths (expRNN's matrix exponential, the Cayley solves of fcurnn
      and scoRNN, oRNN's Householder product). It does not grow beyond 10 in either case, so it shows the
      once-per-forward cost, not a per-step one.
    - ``track_step_over_matrix``: s / p (:func:`step_over_matrix`). Below 1 shows that no evaluation rides on
      each step (a per-step one makes it ≥ 1); conclusive for the cells whose matrix costs more than a step.
      Where the matrix is cheaper than a step (EURNN's angles, RC-uRNN's phases: ``prepare`` only builds
      coefficient vectors) it is above 1 either way, and the count of :class:`MatrixOncePerForward` is the
      evidence.

    Forward without autograd, N = :data:`CELL_SIZE`, B = 32, the workload's options.
    """

    params = [CELLS, [CELL_SIZE]]
    param_names = ["cell", "N"]

    def setup(self, cell: str, n: int) -> None:
        import torch

        self.cell = exact_cell(cell, n)
        self.short = common.inference(self.cell, common.sequence("cpu", 10))
        self.long = common.inference(self.cell, common.sequence("cpu", SEQ_LEN))

        def matrix() -> None:
            with torch.no_grad():
                self.cell.prepare()

        self.matrix = matrix
        common.warmed(("matrix_once_time", cell, n), [self.short, self.long, self.matrix])

    def track_t100_over_t10(self, cell: str, n: int) -> float:
        return common.ratio(self.long, self.short)

    def track_step_over_matrix(self, cell: str, n: int) -> float:
        return step_over_matrix(*common.best_times([self.long, self.short, self.matrix]))

    track_t100_over_t10.unit = "ratio"
    track_step_over_matrix.unit = "ratio"
