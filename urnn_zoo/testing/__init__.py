r"""The cell contract (docs/cell-contract.md) as pytest tests a user runs on a cell of their own
(docs/own-cell.md): :func:`contract_tests` returns a test class that checks every property on the cells it is
given; each property is also a plain function (``check_*`` of :mod:`.checks`) that raises ``AssertionError``, and
:mod:`.workload` holds what they run a cell on.

Example: a test file of the user's package (needs pytest and Hypothesis: ``pip install 'urnn_zoo[test]'``)::

    # tests/test_contract.py
    from urnn_zoo.testing import contract_tests

    TestGivensContract = contract_tests("givens")     # pytest collects the class: pytest tests/

Note [What the contract checks]
    Every expected value is computed here from the contract's definitions, never taken from the cell: the
    output of ``forward`` against a loop of ``step`` (float64, 1e-12); the stored count against the parameters'
    sizes; ``unitarity_error()`` against ``‖WᴴW − I‖_F`` of ``recurrent_matrix()`` (per gate for stacked
    gates), in float64 within 1e-10·max(1, value), at init and after Adam steps; for a cell whose
    ``constraint`` is ``"exact"``, WᴴW = I within 10·N·eps (float64) at init and after those steps; for a cell
    with modReLU, that ``recurrent_matrix()`` is the map its step applies (Note [Probing the linear part]);
    that ``check_size`` refuses exactly the sizes that building refuses, before any module is built; and that
    a run of the cell in :func:`urnn_zoo.train` stopped at a checkpoint and resumed gives the numbers of an
    uninterrupted run (Note [Exact resume] of :mod:`urnn_zoo.training`), so that ``compare`` can resume it.
"""
from __future__ import annotations

try:
    import hypothesis  # noqa: F401
    import pytest
except ImportError as exc:  # pragma: no cover - the helper is for test suites
    raise ImportError(f"urnn_zoo.testing needs pytest and hypothesis ({exc}): pip install 'urnn_zoo[test]'") from exc
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import urnn_zoo as uz

from .checks import (check_bad_input_refused, check_batch_independence, check_forward_equals_steps, check_gradients,
                     check_options_refused, check_parameter_count, check_recurrent_matrix_is_applied, check_runs_on_cuda,
                     check_shapes_and_dtypes, check_size_rule, check_state_dict_round_trip,
                     check_trains_and_resumes_exactly, check_unitarity)
from .workload import INPUT_SIZE, SEEDS, adam_steps, build_cell, contract_size, input_sequence, uses_modrelu

__all__ = ["INPUT_SIZE", "SEEDS", "adam_steps", "build_cell", "check_bad_input_refused", "check_batch_independence",
           "check_forward_equals_steps", "check_gradients", "check_options_refused", "check_parameter_count",
           "check_recurrent_matrix_is_applied", "check_runs_on_cuda", "check_shapes_and_dtypes", "check_size_rule",
           "check_state_dict_round_trip", "check_trains_and_resumes_exactly", "check_unitarity", "contract_size",
           "contract_tests", "input_sequence", "uses_modrelu"]


def contract_tests(*cells: str, hidden: int | None = None) -> type:
    r"""A pytest test class checking the cell contract on ``cells`` (Note [What the contract checks]).

    Args:
        *cells: registered cell names (e.g. the one your package registers).
        hidden: the hidden size N of the checks (default: the smallest N >= 8 every cell admits).

    Returns:
        A class to bind to a ``Test...`` name in a test module; each test is parametrized by cell, the
        Hypothesis ones take their example counts from the loaded Hypothesis profile.

    Raises:
        ValueError: no cell given, a name that is not registered, or no common size.

    Example::

        TestMyCells = contract_tests("givens", "kru")
    """
    if not cells or not all(isinstance(c, str) for c in cells):
        raise ValueError(f"cells: expected registered cell names, got {cells!r}")
    unknown = [c for c in cells if c not in uz.cell_names()]
    if unknown:
        raise ValueError(f"cells: expected registered cell names ({', '.join(uz.cell_names())}), got {unknown}")
    n = hidden or contract_size(cells)
    names = list(cells)
    each = pytest.mark.parametrize("name", names)

    def drawn(over=names, **strategies):
        # A property over the cells `over` whose other arguments Hypothesis draws; deadline=None: a cell's first
        # call compiles or warms up far slower than the rest, and the user's own profile may not say so.
        return lambda test: pytest.mark.parametrize("name", over)(settings(deadline=None)(given(**strategies)(test)))

    class CellContract:
        hidden = n

        @each
        def test_options_refused(self, name):
            check_options_refused(name, n)

        @each
        @pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
        def test_shapes_and_dtypes(self, name, dtype):
            check_shapes_and_dtypes(name, n, dtype)

        @drawn(seed=SEEDS, T=st.integers(1, 6), B=st.integers(1, 4))
        def test_forward_equals_steps(self, name, seed, T, B):
            check_forward_equals_steps(name, n, seed, T, B)

        @drawn(seed=SEEDS)
        def test_gradients_are_finite_and_reach_every_parameter(self, name, seed):
            check_gradients(name, n, seed)

        @each
        def test_state_dict_round_trip(self, name):
            check_state_dict_round_trip(name, n)

        @drawn(seed=SEEDS)
        def test_batch_elements_are_independent(self, name, seed):
            check_batch_independence(name, n, seed)

        @each
        def test_bad_input_refused(self, name):
            check_bad_input_refused(name, n)

        @each
        def test_parameter_count(self, name):
            check_parameter_count(name, n)

        @drawn(seed=SEEDS)
        def test_unitarity(self, name, seed):
            check_unitarity(name, n, seed)

        @drawn(size=st.integers(-2, 40) | st.sampled_from((8.0, True, "8", None)))
        def test_size_rule(self, name, size):
            check_size_rule(name, size)

        @each
        def test_trains_and_resumes_exactly(self, name, tmp_path):
            check_trains_and_resumes_exactly(name, n, tmp_path)

    probed = [c for c in names if uses_modrelu(c, n)]
    if probed:  # a test only for the cells it applies to (none is collected and skipped)
        @drawn(over=probed, seed=SEEDS)
        def test_recurrent_matrix_is_applied(self, name, seed):
            check_recurrent_matrix_is_applied(name, n, seed)

        CellContract.test_recurrent_matrix_is_applied = test_recurrent_matrix_is_applied
    if torch.cuda.is_available():
        @each
        def test_runs_on_cuda(self, name):
            check_runs_on_cuda(name, n)

        CellContract.test_runs_on_cuda = test_runs_on_cuda
    CellContract.__name__ = CellContract.__qualname__ = f"CellContract_{'_'.join(names)}"
    return CellContract
