"""The zoo's matrix exponential (urnn_zoo.linalg.expm) against closed forms and scipy, forward and backward,
and the fcurnn ``matrix_exp`` parametrisation that uses it.

Tolerances are stated per test in units of the dtype's eps times (1 + ‖A‖₂): the rounding of a
scaling-and-squaring exponential grows with the norm. torch's single-matrix ``matrix_exp`` misses them by
orders of magnitude in its faulty band (Note [matrix_exp of a single matrix] in urnn_zoo.linalg): 1.9e-10
at θ = 0.0499 in float64 and 4e-5 at θ = 0.55 in float32 on a 2x2 rotation.
"""
import math

import numpy as np
import pytest
import scipy.linalg
import torch
from hypothesis import given
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.cells import exprnn
from urnn_zoo.linalg import expm

REAL = (torch.float32, torch.float64)
COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}
# the norms of the generators drawn: log-uniform over 1e-4 … 10, the faulty bands included
log_norms = st.floats(-4.0, 1.0)
signs = st.sampled_from([-1.0, 1.0])
seeds = st.integers(0, 2**31 - 1)


def eps(dtype):
    return torch.finfo(dtype).eps


def wide(t):
    return t.to(torch.complex128 if t.is_complex() else torch.float64).numpy()


def random_generator(n, norm, seed, is_complex):
    r"""A skew-symmetric (real) or skew-Hermitian (complex) n x n matrix of spectral norm ``norm``, float64."""
    g = np.random.default_rng(seed)
    x = g.standard_normal((n, n)) + (1j * g.standard_normal((n, n)) if is_complex else 0.0)
    a = x - x.conj().T
    size = np.linalg.norm(a, 2)
    return a * (norm / size) if size > 0 else a


# ----------------------------------------------------------------------------- closed forms
@given(log_theta=log_norms, sign=signs, dtype=st.sampled_from(REAL))
def test_real_2x2_is_the_rotation_by_theta(log_theta, sign, dtype):
    # exp([[0, −θ], [θ, 0]]) = [[cos θ, −sin θ], [sin θ, cos θ]], θ as rounded to the dtype.
    # Stated: 8(1 + |θ|) eps.
    a = torch.tensor([[0.0, -sign * 10**log_theta], [sign * 10**log_theta, 0.0]], dtype=dtype)
    theta = float(a[1, 0])
    exact = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    w = expm(a)
    assert w.dtype == dtype
    np.testing.assert_allclose(wide(w), exact, rtol=0, atol=8 * (1 + abs(theta)) * eps(dtype))


def exp_skew_hermitian_2x2(a):
    r"""exp(A) for a 2x2 skew-Hermitian A = iμI + B with B traceless: B² = −ω²I, so
    exp(A) = e^{iμ}(cos ω · I + (sin ω / ω) · B) (the SU(2) exponential)."""
    mu = np.trace(a) / 2j
    b = a - 1j * mu * np.eye(2)
    omega = math.sqrt(abs(b[0, 0]) ** 2 + abs(b[1, 0]) ** 2)
    sinc = np.sinc(omega / math.pi)  # sin ω / ω, 1 at ω = 0
    return np.exp(1j * mu) * (math.cos(omega) * np.eye(2) + sinc * b)


@given(log_norm=log_norms, seed=seeds, dtype=st.sampled_from(REAL))
def test_complex_2x2_is_the_su2_exponential(log_norm, seed, dtype):
    # Stated: 8(1 + ‖A‖₂) eps of the real precision.
    a = torch.from_numpy(random_generator(2, 10**log_norm, seed, is_complex=True)).to(COMPLEX[dtype])
    exact = exp_skew_hermitian_2x2(wide(a))
    np.testing.assert_allclose(wide(expm(a)), exact, rtol=0, atol=8 * (1 + 10**log_norm) * eps(dtype))


# ----------------------------------------------------------------------------- scipy, forward and backward
# scipy.linalg.expm (Al-Mohy & Higham 2009) is itself off by up to ≈ 50 (1 + ‖A‖₂) eps64 on 2x2 real
# rotations near ‖A‖ = 4 (measured against the closed form, where ours stays under 8), so the float64 bound
# is 128 (1 + ‖A‖₂) eps; in float32, scipy run in float64 on the rounded input is exact to float32 and the
# bound is 16 (1 + ‖A‖₂) eps32 (measured ≤ 5).
@given(n=st.integers(1, 6), log_norm=log_norms, seed=seeds, dtype=st.sampled_from(REAL), is_complex=st.booleans())
def test_agrees_with_scipy_and_is_unitary(n, log_norm, seed, dtype, is_complex):
    a = random_generator(n, 10**log_norm, seed, is_complex)
    a = torch.from_numpy(a).to(COMPLEX[dtype] if is_complex else dtype)
    reference = scipy.linalg.expm(wide(a))  # of the rounded input
    w = expm(a)
    bound = (128 if dtype == torch.float64 else 16) * (1 + 10**log_norm) * eps(dtype)
    np.testing.assert_allclose(wide(w), reference, rtol=0, atol=bound)
    gram = wide(w).conj().T @ wide(w) - np.eye(n)
    assert np.abs(gram).max() <= 10 * n * (1 + 10**log_norm) * eps(dtype)


@given(n=st.integers(1, 5), log_norm=log_norms, seed=seeds, is_complex=st.booleans())
def test_backward_is_the_frechet_derivative(n, log_norm, seed, is_complex):
    # The gradient of Re tr(Gᴴ exp(A)) is the Fréchet derivative L(Aᴴ, G) (torch's complex convention), which
    # scipy.linalg.expm_frechet computes independently. Stated: 16·n·(1 + ‖A‖₂)·max|G| eps64 (measured ≤ 25
    # at n = 6).
    a = torch.from_numpy(random_generator(n, 10**log_norm, seed, is_complex)).requires_grad_()
    draw = np.random.default_rng(seed + 1)
    g = draw.standard_normal((n, n)) + (1j * draw.standard_normal((n, n)) if is_complex else 0.0)
    (expm(a) * torch.from_numpy(g).conj()).real.sum().backward()
    reference = scipy.linalg.expm_frechet(a.detach().numpy().conj().T, g, compute_expm=False)
    bound = 16 * n * (1 + 10**log_norm) * np.abs(g).max() * eps(torch.float64)
    np.testing.assert_allclose(a.grad.numpy(), reference, rtol=0, atol=bound)


@given(n=st.integers(1, 4), log_norm=log_norms, seed=seeds, is_complex=st.booleans())
def test_gradcheck_and_gradgradcheck_in_float64(n, log_norm, seed, is_complex):
    a = torch.from_numpy(random_generator(n, 10**log_norm, seed, is_complex)).requires_grad_()
    assert torch.autograd.gradcheck(expm, (a,))
    assert torch.autograd.gradgradcheck(expm, (a,))


def test_batches_and_shapes():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(3, 2, 4, 4, dtype=torch.float64, generator=g)
    a = a - a.mT
    w = expm(a)
    assert w.shape == a.shape
    for i in range(3):
        for j in range(2):
            np.testing.assert_allclose(wide(w[i, j]), scipy.linalg.expm(wide(a[i, j])), rtol=0, atol=1e-13)
    one = expm(a[:1, :1])  # a batch of one takes the padded path, like a lone matrix
    np.testing.assert_allclose(wide(one[0, 0]), scipy.linalg.expm(wide(a[0, 0])), rtol=0, atol=1e-13)
    assert expm(torch.zeros(0, 3, 3)).shape == (0, 3, 3)


@pytest.mark.parametrize(
    "bad, message",
    [
        (
            torch.zeros(2, 3),
            r"expm expects a floating-point or complex tensor of shape \(\.\.\., n, n\), "
            r"got dtype torch.float32 and shape \(2, 3\)",
        ),
        (torch.zeros(4), r"got dtype torch.float32 and shape \(4,\)"),
        (torch.zeros(2, 2, dtype=torch.long), r"got dtype torch.int64 and shape \(2, 2\)"),
    ],
)
def test_bad_input_is_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        expm(bad)


def test_exprnn_reexports_the_one_expm():
    assert exprnn.expm is expm and exprnn.MAPS["expm"] is expm


# ----------------------------------------------------------------------------- fcurnn's matrix_exp
@given(log_theta=st.floats(math.log10(3e-4), math.log10(0.6)), n=st.sampled_from([2, 5]), dtype=st.sampled_from(REAL))
def test_fcurnn_matrix_exp_is_exact_at_small_angles(log_theta, n, dtype):
    # original X with one entry θ below the diagonal: A = X − Xᴴ is the rotation generator in the (0, 1) plane,
    # W = exp(A) (identity base). θ spans both faulty bands. Stated: 8(1 + θ) eps for W, 10·n·eps for unitarity.
    cell = uz.make_cell("fcurnn", 2, n, dtype=dtype, parametrization="matrix_exp", init="identity")
    theta = 10**log_theta
    with torch.no_grad():
        x = cell.parametrizations.weight.original
        x.zero_()
        x[1, 0] = theta
    theta = float(cell.parametrizations.weight.original.detach()[1, 0].real)
    exact = np.eye(n, dtype=complex)
    exact[:2, :2] = [[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]]
    np.testing.assert_allclose(wide(cell.recurrent_matrix().detach()), exact, rtol=0, atol=8 * (1 + theta) * eps(dtype))
    assert cell.unitarity_error().item() <= 10 * n * eps(dtype)
