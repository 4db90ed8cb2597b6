r"""The example cell: the zoo's contract (urnn_zoo.testing), and its own maths against an independent reference."""
import math

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.testing import contract_tests

# The cell contract of urnn_zoo, parametrized over this package's cell: pytest collects the class.
TestGivensContract = contract_tests("givens")


def givens_reference(n, theta_a, theta_b):
    r"""W = B·A built one rotation at a time in numpy, from the definition (Note [Two layers of Givens rotations])."""
    def rotation(i, t):
        g = np.eye(n)
        g[i, i] = g[i + 1, i + 1] = math.cos(t)
        g[i, i + 1], g[i + 1, i] = -math.sin(t), math.sin(t)
        return g

    a = np.eye(n)
    for k, t in enumerate(theta_a):
        a = rotation(2 * k, t) @ a
    b = np.eye(n)
    for k, t in enumerate(theta_b):
        b = rotation(2 * k + 1, t) @ b
    return b @ a


def test_the_entry_point_registers_the_cell():
    assert "givens" in uz.cell_names()
    assert uz.cells.base.cell_class("givens").__module__ == "urnn_zoo_example_cell.givens"


@settings(deadline=None)
@given(half=st.integers(1, 8), seed=st.integers(0, 2**31 - 1))
def test_recurrent_matrix_is_the_product_of_the_rotations(half, seed):
    torch.manual_seed(seed)
    n = 2 * half
    cell = uz.make_cell("givens", 2, n, dtype=torch.float64)
    expected = givens_reference(n, cell.theta_a.tolist(), cell.theta_b.tolist())
    np.testing.assert_allclose(cell.recurrent_matrix().detach().numpy(), expected, rtol=0, atol=1e-14)
    assert cell.parameter_count().recurrent_dof == n - 1


def test_odd_sizes_are_refused_before_building():
    with np.testing.assert_raises_regex(uz.InadmissibleSizeError, "even int >= 2.*got 7"):
        uz.make_cell("givens", 2, 7)
