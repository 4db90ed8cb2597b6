"""Restricted-capacity uRNN (rcurnn): the 7N-parameter factorisation W = D₃ R₂ F⁻¹ D₂ Π R₁ F D₁."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.cells.rcurnn import AUTO_DENSE_MAX_N
from hypothesis_profiles import examples

seeds = st.integers(0, 2**31 - 1)
sizes = st.integers(1, 40)  # any N: the FFT needs no power of two
N_IN = 3
EPS64 = torch.finfo(torch.float64).eps
EPS32 = torch.finfo(torch.float32).eps


def build(n, seed=0, dtype=torch.float64, **options):
    torch.manual_seed(seed)
    return uz.make_cell("rcurnn", N_IN, n, dtype=dtype, **options)


def explicit_w(cell):
    r"""D₃ R₂ F⁻¹ D₂ Π R₁ F D₁ from dense factors, the DFT written from its definition (not torch.fft),
    each reflection as Arjovsky et al.'s code applies it to the state, I − 2 v̄ vᵀ/‖v‖² (its row form is
    the paper's I − 2 v v*/‖v‖²)."""
    n = cell.hidden_size
    theta = cell.phases.detach().to(torch.float64)
    d = [torch.diag(torch.exp(1j * theta[j])) for j in range(3)]
    idx = torch.arange(n, dtype=torch.float64)
    f = torch.exp(-2j * math.pi * torch.outer(idx, idx) / n) / math.sqrt(n)
    eye = torch.eye(n, dtype=torch.complex128)

    def reflection(v):
        v = v.detach().to(torch.complex128).unsqueeze(-1)
        return eye - 2 * (v.conj() @ v.mT) / (v.mH @ v)

    pi = eye[cell.perm]  # (Π h)_i = h_{perm[i]}
    r1, r2 = (reflection(v) for v in cell.reflections)
    return d[2] @ r2 @ f.mH @ d[1] @ pi @ r1 @ f @ d[0]


def adam_steps(cell, steps, seed, lr=5e-2):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 4, N_IN, generator=g, dtype=cell.real_dtype)
    model = uz.SequenceModel(cell, 2)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), x[0, :, :2]).backward()
        opt.step()


@settings(max_examples=examples(10))
@given(n=sizes)
def test_seven_n_recurrent_parameters(n):
    cell = build(n)
    c = cell.parameter_count()
    assert c.recurrent_stored == c.recurrent_dof == 7 * n
    assert cell.phases.shape == (3, n) and not cell.phases.is_complex()
    assert cell.reflections.shape == (2, n) and cell.reflections.is_complex()
    assert c.stored == 7 * n + 2 * n * N_IN + n
    assert build(n, learn_initial_state=True).parameter_count().stored == c.stored + 2 * n


@pytest.mark.parametrize("strategy", ["fft", "dense"])
@settings(max_examples=examples(8))
@given(seed=seeds, n=sizes)
def test_recurrent_matrix_is_the_product_of_its_factors(strategy, seed, n):
    cell = build(n, seed, strategy=strategy)
    torch.testing.assert_close(cell.recurrent_matrix().detach(), explicit_w(cell), rtol=0, atol=1e-12)


@settings(max_examples=examples(8))
@given(seed=seeds, n=sizes)
def test_unitary_at_init_in_float64(seed, n):
    assert build(n, seed).unitarity_error().item() <= 10 * n * EPS64


@pytest.mark.parametrize("strategy", ["fft", "dense"])
@settings(max_examples=examples(4))
@given(seed=seeds, n=st.integers(2, 24), k=st.integers(1, 8))
def test_unitary_in_float64_after_k_adam_steps(strategy, seed, n, k):
    cell = build(n, seed, strategy=strategy)
    before = cell.recurrent_matrix().detach().clone()
    adam_steps(cell, k, seed)
    assert not torch.allclose(cell.recurrent_matrix().detach(), before), "training must move W"
    assert cell.unitarity_error().item() <= 10 * n * EPS64
    torch.testing.assert_close(cell.recurrent_matrix().detach(), explicit_w(cell), rtol=0, atol=1e-12)


@pytest.mark.parametrize("strategy", ["fft", "dense"])
@settings(max_examples=examples(2))
@given(seed=seeds)
def test_float32_error_after_k_adam_steps_stays_under_the_stated_bound(strategy, seed):
    # Stated bound (N=32, 30 steps; the float32 W evaluated in double): 10·N·eps32 ≈ 3.8e-5. W is unitary for
    # any parameter values, so the error is one evaluation's rounding (measured ≈ 1e-6) and does not grow.
    n = 32
    cell = build(n, seed, torch.float32, strategy=strategy)
    adam_steps(cell, 30, seed)
    assert cell.unitarity_error().item() <= 10 * n * EPS32


@settings(max_examples=examples(4))
@given(seed=seeds, n=sizes)
def test_fft_and_dense_strategies_agree_in_outputs_and_gradients(seed, n):
    fft, dense = build(n, seed, strategy="fft"), build(n, seed, strategy="dense")
    x = torch.randn(5, 2, N_IN, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    outs = []
    for cell in (fft, dense):
        out, _ = cell(x)
        out.pow(2).sum().backward()
        outs.append(out)
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-10, atol=1e-12)
    for a, b in zip(fft.parameters(), dense.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-9, atol=1e-11)


def test_auto_strategy_is_dense_up_to_the_measured_crossover():
    assert build(AUTO_DENSE_MAX_N).uses_dense and not build(2 * AUTO_DENSE_MAX_N).uses_dense
    assert isinstance(build(2 * AUTO_DENSE_MAX_N).prepare(), tuple)  # the O(N log N) path forms no N x N matrix


@settings(max_examples=examples(5))
@given(n=sizes, seed=st.integers(0, 2**31 - 1))
def test_permutation_is_fixed_by_its_seed(n, seed):
    # Default 1234 reproduces Arjovsky's code: np.random.seed(1234); np.random.permutation(N).
    expected = np.random.RandomState(1234).permutation(n)
    assert build(n, seed).perm.tolist() == expected.tolist()
    assert build(n, permutation_seed=seed).perm.tolist() == np.random.RandomState(seed).permutation(n).tolist()
    drawn = build(n, seed, permutation_seed=None).perm
    assert sorted(drawn.tolist()) == list(range(n))
    assert torch.equal(drawn, build(n, seed, permutation_seed=None).perm)  # torch.manual_seed fixes it


def test_permutation_is_a_buffer_saved_with_the_state():
    cell = build(16, permutation_seed=None)
    assert "perm" in dict(cell.named_buffers()) and "perm" in cell.state_dict()
    assert cell.perm.dtype == torch.long and not cell.perm.requires_grad
    other = build(16, seed=1, permutation_seed=None)
    other.load_state_dict(cell.state_dict())
    assert torch.equal(other.perm, cell.perm)


@settings(max_examples=examples(5))
@given(seed=seeds, n=st.integers(8, 64))
def test_init_follows_the_paper(seed, n):
    cell = build(n, seed)
    assert cell.phases.abs().max().item() <= math.pi
    assert torch.view_as_real(cell.reflections).abs().max().item() <= 1.0
    assert cell.act.bias.abs().max().item() == 0.0  # the paper: b = 0 (Note [modReLU at a zero state])


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match=r"strategy must be one of \('auto', 'fft', 'dense'\), got 'blocked'"):
        build(8, strategy="blocked")
    for seed in (1.5, -1, 2**32, True):  # numpy's RandomState takes integer seeds in [0, 2**32)
        with pytest.raises(ValueError, match=rf"permutation_seed: expected None or an integer in \[0, 2\*\*32\), got {seed!r}"):
            build(8, permutation_seed=seed)
