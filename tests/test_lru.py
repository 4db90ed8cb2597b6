r"""The Linear Recurrent Unit (Orvieto et al., ICML 2023, arXiv 2303.06349) against the paper, and its scan.

The references are written here from the paper (Lemma 2, §3.3–3.4, Eq. 7, Appendix A's code, §D.1's block) in
numpy complex128, not from urnn_zoo: the forward of the recurrence and of the block, the ring initialisation,
the readout Re(C h). The parallel scan (``urnn_zoo.engine.scan``) is checked against a plain numpy loop and by
gradcheck, over drawn lengths (1, powers of two and not) and eigenvalues near 0 and near the unit circle.
"""
from __future__ import annotations

import math
from unittest import mock

import numpy as np
import pytest
import scipy.special
import scipy.stats
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.cells.lru import LRU, ring_init
from urnn_zoo.engine.scan import diagonal_loop, diagonal_scan

f64, c128 = torch.float64, torch.complex128
seeds = st.integers(0, 2**31 - 1)


def lru(n_in=3, n=6, seed=0, dtype=f64, **options):
    torch.manual_seed(seed)
    return uz.make_cell("lru", n_in, n, dtype=dtype, **options)


def perturbed(cell, seed, scale=0.1):
    r"""``cell`` with every parameter moved off its init, so that each of them shows in the outputs."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in cell.parameters():
            noise = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if p.is_complex():
                noise = torch.complex(noise, torch.randn(p.shape, generator=g, dtype=torch.float64))
            p.add_(scale * noise.to(p.dtype))
    return cell


def params(cell):
    r"""The cell's parameters as numpy arrays (complex128 for complex ones)."""
    return {k: v.detach().numpy().astype(np.complex128 if v.is_complex() else np.float64)
            for k, v in cell.named_parameters()}


# ------------------------------------------------------------------------------------------ paper references
def paper_lru(p, u, h0=None):
    r"""Appendix A's forward_LRU without C and D: the states x_k = Λ x_{k−1} + exp(γ^log) ⊙ (B u_k), x_{−1} = h0.

    u: (T, B, H) real; returns (T, B, N) complex. B = B_re + i B_im is stored as the zoo's complex ``input.weight``.
    """
    lam = np.exp(-np.exp(p["nu_log"]) + 1j * np.exp(p["theta_log"]))
    b_norm = p["input.weight"] * np.exp(p["gamma_log"])[:, None]
    x = np.zeros((u.shape[1], lam.shape[0]), complex) if h0 is None else h0
    states = []
    for u_k in u:
        x = lam * x + u_k @ b_norm.T
        states.append(x)
    return np.stack(states)


def paper_block(p, x):
    r"""§D.1 / Fig. 1's layer with the encoder, pre-norm (LayerNorm, eps 1e-5), the LRU, y = Re(C h) + D ⊙ z,
    GELU (the erf form), a GLU with two linear maps and the residual; x: (T, B, n_in) real."""
    e = x @ p["encoder.weight"].T + p["encoder.bias"]
    z = (e - e.mean(-1, keepdims=True)) / np.sqrt(e.var(-1, keepdims=True) + 1e-5) * p["norm.weight"] + p["norm.bias"]
    h = paper_lru(p, z)
    y = (h @ p["C"].T).real + p["D"] * z
    a = 0.5 * y * (1 + scipy.special.erf(y / math.sqrt(2)))
    out = a @ p["glu_out.weight"].T + p["glu_out.bias"]
    gate = 1 / (1 + np.exp(-(a @ p["glu_gate.weight"].T + p["glu_gate.bias"])))
    return e + out * gate


def numpy_loop(lam, u, h0):
    r"""h_t = λ h_{t−1} + u_t, step by step in numpy."""
    h, out = h0, []
    for u_t in u:
        h = lam * h + u_t
        out.append(h)
    return np.stack(out)


# ------------------------------------------------------------------------------------------ fidelity
@pytest.mark.parametrize("strategy", ["scan", "loop"])
@settings()
@given(seed=seeds, t=st.integers(1, 40), batch=st.integers(1, 3))
def test_forward_is_the_papers_recurrence_in_float64(strategy, seed, t, batch):
    cell = perturbed(lru(seed=seed, strategy=strategy), seed)
    x = torch.randn(t, batch, 3, generator=torch.Generator().manual_seed(seed), dtype=f64)
    h0 = torch.randn(batch, 6, generator=torch.Generator().manual_seed(seed + 1), dtype=c128)
    out, final = cell(x, h0)
    expected = paper_lru(params(cell), x.numpy(), h0.numpy())
    np.testing.assert_allclose(out.detach().numpy(), np.concatenate([expected.real, expected.imag], -1),
                               rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(final.detach().numpy(), expected[-1], rtol=1e-12, atol=1e-12)


def test_the_zoo_head_on_re_and_im_is_the_papers_readout_c():
    # Note [LRU readout]: a head with weight [C_re, −C_im] on [Re h; Im h] gives Re(C h) (+ its bias).
    cell = perturbed(lru(n=5), 1)
    model = uz.SequenceModel(cell, 4, readout="all").double()
    g = np.random.default_rng(0)
    c = g.normal(size=(4, 5)) + 1j * g.normal(size=(4, 5))
    with torch.no_grad():
        model.head.weight.copy_(torch.from_numpy(np.concatenate([c.real, -c.imag], 1)))
        model.head.bias.zero_()
    x = torch.randn(7, 2, 3, dtype=f64)
    expected = (paper_lru(params(cell), x.numpy()) @ c.T).real
    np.testing.assert_allclose(model(x).detach().numpy(), expected, rtol=1e-12, atol=1e-12)


@settings()
@given(seed=seeds, t=st.integers(1, 12), width=st.integers(1, 5))
def test_block_is_the_papers_layer_in_float64(seed, t, width):
    cell = perturbed(lru(n=4, seed=seed, block="glu", block_size=width), seed)
    assert cell.norm.eps == 1e-5 and cell.output_size == width
    x = torch.randn(t, 2, 3, generator=torch.Generator().manual_seed(seed), dtype=f64)
    out, _ = cell(x)
    np.testing.assert_allclose(out.detach().numpy(), paper_block(params(cell), x.numpy()), rtol=1e-11, atol=1e-12)


@settings()
@given(seed=seeds, t=st.integers(1, 6), batch=st.integers(1, 3))
def test_block_step_equals_forward_and_rows_stay_independent(seed, t, batch):
    cell = perturbed(lru(n=4, seed=seed, block="glu"), seed)
    x = torch.randn(t, batch, 3, generator=torch.Generator().manual_seed(seed), dtype=f64)
    out, final = cell(x)
    state, ys = None, []
    for x_t in x:
        y, state = cell.step(x_t, state)
        ys.append(y)
    torch.testing.assert_close(torch.stack(ys), out, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state, final, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(cell(x[:, -1:])[0][:, 0], out[:, -1], rtol=1e-12, atol=1e-12)


def test_block_converts_precision_with_its_complex_readout():
    cell = perturbed(lru(n=4, block="glu", dtype=torch.float32), 0)
    x = torch.randn(5, 2, 3)
    expected = cell(x)[0].detach().double()
    cell.double()
    assert cell.C.dtype == c128 and cell.D.dtype == f64 and cell.input.weight.dtype == c128
    torch.testing.assert_close(cell(x.double())[0], expected, rtol=0, atol=1e-5 * expected.abs().max().item())


# ------------------------------------------------------------------------------------------ initialisation
def test_ring_init_is_lemma_2():
    # |λ|² uniform on [r_min², r_max²] and the phase uniform on [0, max_phase] (Kolmogorov–Smirnov, a fixed
    # seed), γ = √(1 − |λ|²) (Eq. 7's init).
    r_min, r_max, phase, n = 0.4, 0.95, math.pi / 10, 20000
    nu_log, theta_log, gamma_log = ring_init(n, r_min, r_max, phase, torch.Generator().manual_seed(0))
    modulus = np.exp(-np.exp(nu_log.numpy()))
    assert modulus.min() >= r_min and modulus.max() <= r_max
    assert scipy.stats.kstest(modulus**2, scipy.stats.uniform(r_min**2, r_max**2 - r_min**2).cdf).pvalue > 1e-3
    assert scipy.stats.kstest(np.exp(theta_log.numpy()), scipy.stats.uniform(0, phase).cdf).pvalue > 1e-3
    np.testing.assert_allclose(np.exp(gamma_log.numpy()), np.sqrt(1 - modulus**2), rtol=1e-12)


@settings()
@given(r=st.lists(st.floats(0, 1), min_size=2, max_size=2).map(sorted).filter(lambda r: r[0] < 1),
       phase=st.floats(0, 2 * math.pi, exclude_min=True), seed=seeds)
def test_ring_init_is_finite_and_on_its_ring_for_every_ring(r, phase, seed):
    r_min, r_max = r
    nu_log, theta_log, gamma_log = ring_init(64, r_min, r_max, phase, torch.Generator().manual_seed(seed))
    assert all(torch.isfinite(t).all() for t in (nu_log, theta_log, gamma_log))
    nu, modulus = torch.exp(nu_log), torch.exp(-torch.exp(nu_log))
    floor = math.sqrt(torch.finfo(f64).tiny)  # a radius below it starts at it (|λ| = 0 is ν^log = +∞)
    # r_min ≤ |λ| = e^−ν ≤ r_max, compared as −log r_max ≤ ν ≤ −log r_min, to rounding
    assert (nu >= -math.log(max(r_max, floor)) - 1e-14 * (1 + nu)).all() and (nu > 0).all() and (modulus <= 1).all()
    if r_min > 0:
        assert (nu <= -math.log(r_min) + 1e-14 * (1 + nu)).all()
    np.testing.assert_allclose(torch.exp(2 * gamma_log).numpy(), -torch.expm1(-2 * torch.exp(nu_log)).numpy(),
                               rtol=1e-12)  # γ² = 1 − |λ|², to rounding however near |λ| is to 0 or 1
    assert (theta_log <= math.log(max(phase, torch.finfo(f64).tiny)) + 1e-14).all()  # 0 < θ ≤ max_phase
    # the float32 cell built from them is finite too: γ^log stays finite where 1 − |λ|² rounds to 0 in float32
    cell = lru(seed=seed, dtype=torch.float32, r_min=r_min, r_max=r_max, max_phase=phase)
    assert all(torch.isfinite(p).all() for p in cell.parameters() if not p.is_complex())


@pytest.mark.parametrize("r_min, r_max", [(0.99999, 1.0), (0.9999999, 1.0), (0.0, 1.0), (0.0, 1e-30), (0.0, 0.0)])
def test_float32_cell_starts_finite_with_exact_normalisation_on_every_ring(r_min, r_max):
    # Appendix A's float32 formulas give ν^log = −∞ or γ^log = −∞ on the first two rings (|λ|² rounds to 1) and
    # ν^log = +∞ on the last two (r_max² underflows); γ^log must be log √(1 − |λ|²) of the stored ν^log.
    cell = lru(n=100_000, dtype=torch.float32, r_min=r_min, r_max=r_max)
    nu_log, gamma_log = (p.detach().double() for p in (cell.nu_log, cell.gamma_log))
    assert all(torch.isfinite(p).all() for p in (cell.nu_log, cell.theta_log, cell.gamma_log))
    expected = 0.5 * torch.log(-torch.expm1(-2 * torch.exp(nu_log)))  # ½ log(1 − |λ|²), without cancellation
    torch.testing.assert_close(gamma_log, expected, rtol=0, atol=1e-5)


def test_input_matrix_is_glorot_with_halved_variance():
    cell = lru(n_in=8, n=4096)
    parts = torch.view_as_real(cell.input.weight.detach())
    assert abs(parts.std().item() * math.sqrt(2 * 8) - 1) < 0.02 and abs(parts.mean().item()) < 0.01
    block = lru(n_in=3, n=2048, block="glu", block_size=64)
    assert abs(torch.view_as_real(block.C.detach()).std().item() * math.sqrt(2048) - 1) < 0.02
    assert abs(torch.view_as_real(block.input.weight.detach()).std().item() * math.sqrt(2 * 64) - 1) < 0.02


def test_default_ring_and_phase_are_the_papers_lru():
    assert uz.cell_options("lru") == {"r_min": 0.9, "r_max": 0.999, "max_phase": 2 * math.pi, "strategy": "scan",
                                      "block": "none", "block_size": None}


# ------------------------------------------------------------------------------------------ the eigenvalues
@settings()
@given(nu_log=st.floats(-30, 1e4), theta_log=st.floats(-20, 5), dtype=st.sampled_from([torch.float32, f64]))
def test_eigenvalues_are_inside_the_unit_disk_with_finite_gradients(nu_log, theta_log, dtype):
    cell = lru(n=1, dtype=dtype)
    with torch.no_grad():
        cell.nu_log.fill_(nu_log)
        cell.theta_log.fill_(theta_log)
    lam = cell.eigenvalues()
    eps = torch.finfo(dtype).eps
    assert lam.abs().item() <= 1 + 2 * eps
    if nu_log > math.log(8 * eps):  # exp(−x) < 1 is representable: x well above the spacing of floats below 1
        assert lam.abs().item() < 1
    # the exact modulus exp(−exp(ν^log)) of the stored ν^log, in float64 (0 once below float64's range); the
    # rounding of exp(ν^log) = x is relative, so |λ| = e^−x carries a relative error of about x·eps
    stored = cell.nu_log.item()
    x = math.exp(min(stored, 700.0))
    exact = math.exp(-x)
    tiny = torch.finfo(dtype).tiny
    # below tiny, |λ| is clamped at tiny (Note [LRU parametrisation])
    assert abs(lam.abs().item() - exact) <= (4 + 2 * x) * eps * exact + 2 * tiny
    (lam.real + lam.imag).backward()
    assert torch.isfinite(cell.nu_log.grad).all() and torch.isfinite(cell.theta_log.grad).all()


def test_recurrent_matrix_is_the_diagonal_the_step_applies():
    cell = perturbed(lru(n=5), 3)
    h = torch.randn(2, 5, dtype=c128)
    with torch.no_grad():
        stepped = cell.recur(torch.zeros_like(h), h, cell.prepare())
        w = cell.recurrent_matrix()
    torch.testing.assert_close(stepped, h @ w.mT, rtol=1e-15, atol=1e-15)
    assert torch.equal(w, torch.diag(torch.diagonal(w)))
    lam = np.exp(-np.exp(params(cell)["nu_log"]) + 1j * np.exp(params(cell)["theta_log"]))
    np.testing.assert_allclose(np.diag(w.detach().numpy()), lam, rtol=1e-14)


@settings()
@given(seed=seeds, scale=st.sampled_from([1.0, 10.0]))
def test_unitarity_error_is_the_distance_of_diag_lambda_from_unitary(seed, scale):
    cell = perturbed(lru(n=7, seed=seed), seed, scale)
    w = cell.recurrent_matrix().detach().numpy()
    expected = np.linalg.norm(w.conj().T @ w - np.eye(7))
    assert abs(cell.unitarity_error().item() - expected) <= 1e-12 * max(expected, 1.0)


def test_unitarity_error_is_exact_near_the_unit_circle():
    # |λ| = exp(−x), x = e^−30 ≈ 9.4e-14: 1 − |λ|² = 2x − 2x² + …, which forming |λ|² in float64 gets wrong
    # in the third digit; the cell's closed form keeps it to rounding.
    cell = lru(n=4)
    with torch.no_grad():
        cell.nu_log.fill_(-30.0)
    x = math.exp(-30.0)
    assert abs(cell.unitarity_error().item() - 2 * (2 * x - 2 * x * x)) <= 1e-14 * 4 * x
    assert uz.cells.base.cell_class("lru").constraint == "none"


# ------------------------------------------------------------------------------------------ the scan
def drawn_eigenvalues(kind, n, g):
    r"""N eigenvalues whose moduli are near 0, near 1, exactly 0 or 1, or spread over (0, 1)."""
    phase = g.uniform(-math.pi, math.pi, n)
    modulus = {"near0": 10.0 ** -g.uniform(3, 30, n), "near1": 1 - 10.0 ** -g.uniform(1, 15, n),
               "spread": g.uniform(0, 1, n), "zero": np.zeros(n), "one": np.ones(n)}[kind]
    return modulus * np.exp(1j * phase)


KINDS = ["near0", "near1", "spread", "zero", "one"]


@settings()
@given(t=st.integers(1, 300) | st.sampled_from([1, 2, 64, 128, 255, 256, 257]), batch=st.integers(1, 3),
       n=st.integers(1, 5), kind=st.sampled_from(KINDS), seed=seeds)
def test_scan_equals_the_step_loop_in_float64(t, batch, n, kind, seed):
    g = np.random.default_rng(seed)
    lam = drawn_eigenvalues(kind, n, g)
    u = g.normal(size=(t, batch, n)) + 1j * g.normal(size=(t, batch, n))
    h0 = g.normal(size=(batch, n)) + 1j * g.normal(size=(batch, n))
    expected = numpy_loop(lam, u, h0)
    got = diagonal_scan(*(torch.from_numpy(a) for a in (lam, u, h0))).numpy()
    # a state is a sum of up to T + 1 terms of modulus ≤ |u|: rounding relative to the largest state
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-13 * max(1.0, np.abs(expected).max()))


@settings()
@given(t=st.integers(1, 64), n=st.integers(1, 4), kind=st.sampled_from(KINDS), seed=seeds)
def test_scan_gradients_equal_the_loops(t, n, kind, seed):
    g = np.random.default_rng(seed)
    lam = torch.from_numpy(drawn_eigenvalues(kind, n, g)).requires_grad_()
    u = torch.from_numpy(g.normal(size=(t, 2, n)) + 1j * g.normal(size=(t, 2, n))).requires_grad_()
    h0 = torch.from_numpy(g.normal(size=(2, n)) + 1j * g.normal(size=(2, n))).requires_grad_()
    w = torch.from_numpy(g.normal(size=(t, 2, n)) + 1j * g.normal(size=(t, 2, n)))
    grads = [torch.autograd.grad((f(lam, u, h0) * w).real.sum(), (lam, u, h0)) for f in (diagonal_scan, diagonal_loop)]
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12 * max(1.0, b.abs().max().item()))


@pytest.mark.parametrize("t", [1, 2, 5, 8])
@pytest.mark.parametrize("complex_", [True, False], ids=["complex", "real"])
def test_scan_gradcheck(t, complex_):
    g = torch.Generator().manual_seed(t)
    dtype = c128 if complex_ else f64
    lam = (0.9 * torch.rand(3, generator=g, dtype=f64)).to(dtype)
    if complex_:
        lam = lam * torch.exp(1j * torch.rand(3, generator=g, dtype=f64))
    u = torch.randn(t, 2, 3, generator=g, dtype=dtype)
    h0 = torch.randn(2, 3, generator=g, dtype=dtype)
    assert torch.autograd.gradcheck(diagonal_scan, tuple(a.requires_grad_() for a in (lam, u, h0)))


def test_cell_gradcheck_through_the_scan():
    cell = perturbed(lru(n=3, n_in=2), 5)
    x = torch.randn(6, 2, 2, dtype=f64)
    names = [k for k, _ in cell.named_parameters()]

    def outputs(*values):
        return torch.func.functional_call(cell, dict(zip(names, values)), (x,))[0]

    assert torch.autograd.gradcheck(outputs, tuple(p.detach().clone().requires_grad_() for p in cell.parameters()))


@settings()
@given(seed=seeds, t=st.integers(1, 30))
def test_scan_and_loop_strategies_give_the_same_outputs_and_gradients(seed, t):
    a, b = (perturbed(lru(seed=seed, strategy=s), seed) for s in ("scan", "loop"))
    x = torch.randn(t, 2, 3, generator=torch.Generator().manual_seed(seed), dtype=f64)
    runs = []
    for cell in (a, b):
        out, _ = cell(x)
        out.pow(2).sum().backward()
        runs.append((out.detach(), [p.grad for p in cell.parameters()]))
    torch.testing.assert_close(runs[0][0], runs[1][0], rtol=1e-12, atol=1e-12)
    for ga, gb in zip(runs[0][1], runs[1][1]):
        torch.testing.assert_close(ga, gb, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("modulus", [0.5, 1e-20, 0.0])
def test_long_float32_scan_underflows_to_zero_not_to_nan(modulus):
    # |λ|^t is below float32's range after a few hundred steps (0.5) or at once (1e-20: λ² is subnormal): the scan
    # stays finite and equal to the float64 loop to float32 rounding.
    t, n = 2000, 3
    lam = torch.full((n,), modulus, dtype=f64) * torch.exp(1j * torch.tensor([0.3, -2.0, 3.1], dtype=f64))
    u = torch.randn(t, 2, n, dtype=c128)
    expected = numpy_loop(lam.numpy(), u.numpy(), np.zeros((2, n)))
    got = diagonal_scan(lam.to(torch.complex64), u.to(torch.complex64), torch.zeros(2, n, dtype=torch.complex64))
    assert torch.isfinite(torch.view_as_real(got)).all()
    np.testing.assert_allclose(got.numpy(), expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_scan_refuses_mismatched_arguments_before_any_work():
    u = torch.zeros(4, 2, 3, dtype=c128)
    with pytest.raises(TypeError, match=r"^expected lam, u and h0 of one dtype, got torch.complex64, "):
        diagonal_scan(torch.zeros(3, dtype=torch.complex64), u, torch.zeros(2, 3, dtype=c128))
    with pytest.raises(ValueError, match=r"^expected lam \(4,\) and h0 \(2, 3\) to broadcast to one step of u, "
                                         r"\(2, 3\)$"):
        diagonal_scan(torch.zeros(4, dtype=c128), u, torch.zeros(2, 3, dtype=c128))
    with pytest.raises(ValueError, match=r"at least one step \(T >= 1\), got shape \(0, 2, 3\)"):
        diagonal_scan(torch.zeros(3, dtype=c128), u[:0], torch.zeros(2, 3, dtype=c128))


# ------------------------------------------------------------------------------------------ counts and options
@pytest.mark.parametrize("n, n_in", [(8, 1), (16, 10), (33, 7)])
def test_parameter_counts_follow_the_paper(n, n_in):
    c = lru(n_in=n_in, n=n, dtype=torch.float32).parameter_count()
    assert (c.stored, c.dof, c.recurrent_stored, c.recurrent_dof) == (3 * n + 2 * n * n_in,) * 2 + (2 * n,) * 2
    # The paper's layer, H_in = H_out = H: 3N + 2NH (B) + 2HN (C) + H (D); the zoo's head is C plus a bias.
    h = n_in
    assert uz.SequenceModel(lru(n_in=h, n=n, dtype=torch.float32), h).parameter_count().stored == 3 * n + 4 * n * h + h
    width = 5
    block = lru(n_in=n_in, n=n, dtype=torch.float32, block="glu", block_size=width).parameter_count()
    assert block.stored == (width * n_in + width) + 2 * width + 2 * n * width + 3 * n + 2 * width * n + width \
        + 2 * (width * width + width)
    assert (block.recurrent_stored, block.recurrent_dof) == (2 * n, 2 * n)


BAD = {
    "r_min": st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.0), st.sampled_from([math.nan, math.inf]),
                       st.text(), st.none()),
    "r_max": st.one_of(st.floats(max_value=0.9, exclude_max=True), st.floats(min_value=1.0, exclude_min=True),
                       st.sampled_from([math.nan, -math.inf]), st.text(), st.none()),
    "max_phase": st.one_of(st.floats(max_value=0.0), st.floats(min_value=2 * math.pi, exclude_min=True),
                           st.sampled_from([math.nan, math.inf]), st.text(), st.none()),
    "strategy": st.one_of(st.text().filter(lambda s: s not in ("scan", "loop")), st.none(), st.integers()),
    "block": st.one_of(st.text().filter(lambda s: s not in ("none", "glu")), st.none(), st.integers()),
    "block_size": st.one_of(st.integers(), st.text()),  # any value without a block
}


@pytest.mark.parametrize("option", sorted(BAD))
@settings()
@given(data=st.data())
def test_a_bad_option_is_refused_in_one_line_before_anything_is_built(option, data):
    value = data.draw(BAD[option], label=option)
    original = torch.nn.Module.__init__
    with mock.patch.object(torch.nn.Module, "__init__", autospec=True,
                           side_effect=lambda self, *a, **k: original(self, *a, **k)) as built:
        with pytest.raises(ValueError) as info:
            uz.make_cell("lru", 3, 8, **{option: value})
    assert built.call_count == 0
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{option}: expected ") and f"got {value!r}" in message


def test_block_size_is_checked_with_a_block():
    with pytest.raises(ValueError, match=r"^block_size: expected an integer > 0, got 0$"):
        uz.make_cell("lru", 3, 8, block="glu", block_size=0)
    assert uz.make_cell("lru", 3, 8, block="glu").output_size == 8


def test_the_registry_builds_it_as_a_complex_cell():
    cell = uz.make_cell("lru", 3, 8)
    assert isinstance(cell, LRU) and cell.is_complex and cell.output_size == 16
    assert cell.recurrent_parameters() == [cell.nu_log, cell.theta_log]


# ------------------------------------------------------------------------------------------ the benchmark
def test_benchmark_module_starts_without_torch_and_keeps_both_lengths():
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = ("import sys; import benchmarks.bench_lru as b; assert 'torch' not in sys.modules, 'torch imported'; "
            "assert b.LRU_SIZES == (64,) and b.LRU_LENGTHS == (100, 1000)")
    subprocess.run([sys.executable, "-c", code], cwd=root, env={**os.environ, "URNN_ZOO_BENCH_QUICK": "1"},
                   check=True, timeout=60)


def test_benchmark_cases_run_on_a_small_size():
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[1])
    if root not in sys.path:
        sys.path.insert(0, root)
    from benchmarks import bench_lru

    for case, track in ((bench_lru.LRUScanVersusLoop, "track_loop_over_scan"),
                        (bench_lru.LRUVersusRNN, "track_lru_over_rnn")):
        bench = case()
        bench.setup(8, 5)
        assert getattr(bench, track)(8, 5) > 0
    timed = bench_lru.LRUTime()
    timed.setup(8, 5, "scan")
    timed.time_forward_backward(8, 5, "scan")
    scan, loop = bench_lru.lru_cell(8, "scan"), bench_lru.lru_cell(8, "loop")
    assert all(torch.equal(a, b) for a, b in zip(scan.parameters(), loop.parameters()))
