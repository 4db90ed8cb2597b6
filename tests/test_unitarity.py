"""Exactly-constrained cells stay unitary/orthogonal: at init, after optimizer steps, in float64 and float32.

Every registered cell whose ``constraint`` is ``"exact"`` is covered by registration alone.
"""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.testing import adam_steps
from admissible import admits
from hypothesis_profiles import examples

N_IN = 3
EXACT = [n for n in uz.cell_names() if uz.cells.base.cell_class(n).constraint == "exact"]
# the N in [4, 16] that every family admits with its default options (its declared check_size)
sizes = st.sampled_from([n for n in range(4, 17) if all(admits(name, n) for name in uz.cell_names())])
seeds = st.integers(0, 2**31 - 1)


def eps(dtype):
    return torch.finfo(dtype).eps


def test_the_zoo_has_exact_cells():
    assert EXACT, "no cell declares constraint='exact'"


@pytest.mark.parametrize("name", EXACT)
@settings(max_examples=examples(6))
@given(n=sizes, seed=seeds)
def test_unitary_at_init_in_float64(name, n, seed):
    torch.manual_seed(seed)
    cell = uz.make_cell(name, N_IN, n, dtype=torch.float64)
    w = cell.recurrent_matrix()
    assert cell.unitarity_error().item() <= 10 * n * eps(torch.float64)
    eye = torch.eye(n, dtype=w.dtype)
    torch.testing.assert_close(w.mH @ w, eye, rtol=0, atol=10 * n * eps(torch.float64))


@pytest.mark.parametrize("name", EXACT)
@settings(max_examples=examples(4))
@given(n=sizes, seed=seeds)
def test_unitary_after_adam_steps_in_float64(name, n, seed):
    torch.manual_seed(seed)
    cell = uz.make_cell(name, N_IN, n, dtype=torch.float64)
    w0 = cell.recurrent_matrix().detach().clone()
    adam_steps(cell, 5, seed)
    w = cell.recurrent_matrix().detach()
    assert not torch.allclose(w, w0), "the optimizer did not move W; the test would check nothing"
    assert cell.unitarity_error().item() <= 10 * n * eps(torch.float64)
    torch.testing.assert_close(w.mH @ w, torch.eye(n, dtype=w.dtype), rtol=0, atol=10 * n * eps(torch.float64))


# Float32: the map is recomputed from its parameters every forward, so the error does not accumulate over
# steps; it stays within rounding of one evaluation of the map. Stated bound: 100·n·eps32 (2e-4 at n = 16).
FLOAT32_BOUND = 100


@pytest.mark.parametrize("name", EXACT)
@settings(max_examples=examples(3))
@given(n=sizes, seed=seeds)
def test_float32_drift_after_steps_is_bounded(name, n, seed):
    torch.manual_seed(seed)
    cell = uz.make_cell(name, N_IN, n, dtype=torch.float32)
    adam_steps(cell, 20, seed, lr=0.01)
    assert cell.unitarity_error().item() <= FLOAT32_BOUND * n * eps(torch.float32)


@pytest.mark.parametrize("name", EXACT)
@settings(max_examples=examples(4))
@given(n=sizes, seed=seeds)
def test_linear_part_preserves_the_norm_of_the_state(name, n, seed):
    torch.manual_seed(seed)
    cell = uz.make_cell(name, N_IN, n, dtype=torch.float64)
    g = torch.Generator().manual_seed(seed)
    h = torch.randn(5, n, generator=g, dtype=cell.state_dtype)
    with torch.no_grad():
        wh = h @ cell.recurrent_matrix().mT
    torch.testing.assert_close(
        torch.linalg.vector_norm(wh, dim=-1), torch.linalg.vector_norm(h, dim=-1), rtol=10 * n * eps(torch.float64), atol=0
    )
