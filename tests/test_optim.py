"""The Stiefel Cayley-step optimizer (urnn_zoo.optim; Wisdom, Powers, Hershey, Le Roux, Atlas, NIPS 2016,
arXiv 1611.00035, eqs. (8)–(9); gradient convention of docs/conventions.md#complex-gradients)."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from urnn_zoo.cells.base import frobenius_unitarity_error
from urnn_zoo.optim import StiefelCayley, cayley_step, project_unitary
from hypothesis_profiles import examples

seeds = st.integers(0, 2**31 - 1)
EPS64 = torch.finfo(torch.float64).eps
EPS32 = torch.finfo(torch.float32).eps


def error64(w):
    r"""‖W^H W − I‖_F of the stored matrix, evaluated in double (no float32 evaluation floor)."""
    return frobenius_unitarity_error(w.detach().to(torch.complex128)).item()


def procrustes(n, seed, dtype=torch.complex128):
    r"""A unitary start W0 and data (X, Y = T X) with T unitary: L(W) = ‖W X − Y‖_F² / n, minimised at T."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2 * n, dtype=torch.complex128, generator=g)
    t = project_unitary(torch.randn(n, n, dtype=torch.complex128, generator=g))
    w0 = project_unitary(torch.randn(n, n, dtype=torch.complex128, generator=g))
    return w0.to(dtype), x.to(dtype), (t @ x).to(dtype)


def loss_fn(w, x, y):
    return (w @ x - y).abs().pow(2).sum() / w.shape[-1]


def train(w0, x, y, steps, lr, reproject_every=0):
    w = torch.nn.Parameter(w0.clone())
    opt = StiefelCayley([w], lr=lr, reproject_every=reproject_every)
    errors, losses = [], []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_fn(w, x, y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        errors.append(error64(w))
    return w, errors, losses


@settings(max_examples=examples(10))
@given(seed=seeds, n=st.integers(1, 6))
def test_complex_grad_is_G_of_the_real_pair(seed, n):
    # torch's .grad of a complex leaf is ∂L/∂Re W + i·∂L/∂Im W, the G of the step
    # (docs/conventions.md#complex-gradients).
    w0, x, y = procrustes(n, seed)
    w = w0.clone().requires_grad_()
    loss_fn(w, x, y).backward()
    pair = torch.view_as_real(w0).clone().requires_grad_()
    loss_fn(torch.view_as_complex(pair), x, y).backward()
    torch.testing.assert_close(w.grad, torch.complex(pair.grad[..., 0], pair.grad[..., 1]), rtol=1e-12, atol=1e-12)


@settings(max_examples=examples(10))
@given(seed=seeds, n=st.integers(2, 8))
def test_step_descends_at_the_predicted_rate(seed, n):
    # Note [The Cayley step and its sign]: dL/dλ at λ = 0 is −(‖M‖² − Re tr M²), M = G^H W, which is ≤ 0.
    w0, x, y = procrustes(n, seed)
    w = w0.clone().requires_grad_()
    loss0 = loss_fn(w, x, y)
    loss0.backward()
    m = w.grad.mH @ w0
    rate = -(m.norm() ** 2 - torch.trace(m @ m).real).item()
    assert rate <= 1e-12
    lam = 1e-7
    with torch.no_grad():
        loss1 = loss_fn(cayley_step(w0, w.grad, lam), x, y)
    assert loss1.item() < loss0.item()
    assert (loss1 - loss0).item() / lam == pytest.approx(rate, rel=1e-4, abs=1e-9)


@settings(max_examples=examples(5))
@given(seed=seeds, n=st.integers(2, 8))
def test_optimizer_decreases_the_loss_and_finds_the_target(seed, n):
    w0, x, y = procrustes(n, seed)
    w, _, losses = train(w0, x, y, steps=60, lr=0.05)
    assert all(b <= a + 1e-12 for a, b in zip(losses, losses[1:])), "the Cayley step must descend"
    assert losses[-1] < 0.5 * losses[0]


@settings(max_examples=examples(15))
@given(seed=seeds, n=st.integers(1, 12), k=st.integers(1, 20), lr=st.floats(1e-4, 1.0))
def test_unitary_in_float64_after_k_steps(seed, n, k, lr):
    w0, x, y = procrustes(n, seed)
    _, errors, _ = train(w0, x, y, steps=k, lr=lr)
    assert max(errors) <= 10 * n * EPS64 * math.sqrt(k + 1)


@settings(max_examples=examples(3))
@given(seed=seeds)
def test_float32_drift_is_bounded_and_reprojection_bounds_it(seed):
    # Stated bounds (complex64, N=16, 200 steps, error of the stored W evaluated in double):
    # - no re-projection: the rounding of each step adds up like a random walk, ‖W^H W − I‖ ≤ 2·√(k·N)·eps
    #   (measured ≈ 2e-6 = 0.3 of the bound);
    # - re-projection every K=10 steps: never above the bound for K steps, 2·√(K·N)·eps (measured ≈ 5e-7),
    #   back at rounding right after each re-projection, ≤ 2·√N·eps (measured ≈ 1.4e-7), and the final error
    #   at least 4x below the unprojected run's (measured ≈ 15x).
    n, k, every = 16, 200, 10
    w0, x, y = procrustes(n, seed, torch.complex64)
    _, free, _ = train(w0, x, y, steps=k, lr=1e-2)
    _, held, _ = train(w0, x, y, steps=k, lr=1e-2, reproject_every=every)
    assert free[-1] <= 2 * math.sqrt(k * n) * EPS32
    assert max(held) <= 2 * math.sqrt(every * n) * EPS32
    assert max(held[every - 1 :: every]) <= 2 * math.sqrt(n) * EPS32
    assert held[-1] * 4 <= free[-1]


def test_reprojection_happens_every_k_steps_of_a_parameter():
    # With λ = 0 the Cayley step is the identity, so only the re-projection can move W.
    g = torch.Generator().manual_seed(0)
    w0 = project_unitary(torch.randn(5, 5, dtype=torch.complex128, generator=g))
    w = torch.nn.Parameter(w0 + 1e-2 * torch.randn(5, 5, dtype=torch.complex128, generator=g))
    start = w.detach().clone()
    opt = StiefelCayley([w], lr=0.0, reproject_every=3)
    for step in (1, 2):
        w.grad = torch.ones_like(w)
        opt.step()
        torch.testing.assert_close(w.detach(), start, rtol=0, atol=0)
    opt.step()
    assert error64(w) < 1e-13
    assert opt.state[w]["step"] == 3


def test_parameters_without_grad_are_left_alone():
    a = torch.nn.Parameter(torch.eye(3, dtype=torch.complex64))
    b = torch.nn.Parameter(torch.eye(3, dtype=torch.complex64))
    opt = StiefelCayley([a, b], lr=0.1)
    a.grad = torch.randn(3, 3, dtype=torch.complex64)
    opt.step()
    assert not torch.equal(a.detach(), torch.eye(3, dtype=torch.complex64))
    assert torch.equal(b.detach(), torch.eye(3, dtype=torch.complex64))


@settings(max_examples=examples(5))
@given(seed=seeds, n=st.integers(2, 6))
def test_real_parameters_stay_orthogonal(seed, n):
    g = torch.Generator().manual_seed(seed)
    w = torch.nn.Parameter(project_unitary(torch.randn(n, n, dtype=torch.float64, generator=g)))
    opt = StiefelCayley([w], lr=0.1)
    for _ in range(5):
        w.grad = torch.randn(n, n, dtype=torch.float64, generator=g)
        opt.step()
    assert not w.is_complex()
    assert frobenius_unitarity_error(w.detach()).item() <= 10 * n * EPS64 * math.sqrt(6)


@settings(max_examples=examples(10))
@given(seed=seeds, n=st.integers(1, 8))
def test_project_unitary_is_the_polar_factor(seed, n):
    # Q = U V^H is the closest unitary matrix to W exactly when W = Q P with P = Q^H W Hermitian PSD.
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, n, dtype=torch.complex128, generator=g)
    q = project_unitary(w)
    assert error64(q) <= 10 * n * EPS64
    p = q.mH @ w
    torch.testing.assert_close(p, p.mH, rtol=0, atol=1e-12)
    assert torch.linalg.eigvalsh(p).min().item() >= -1e-12
    torch.testing.assert_close(project_unitary(q), q, rtol=0, atol=1e-12)
    assert project_unitary(w.to(torch.complex64)).dtype == torch.complex64


def test_bad_arguments_are_rejected():
    square = [torch.nn.Parameter(torch.eye(2))]
    with pytest.raises(ValueError, match=r"square \(…, n, n\) matrices, got shape \(2, 3\)"):
        StiefelCayley([torch.nn.Parameter(torch.zeros(2, 3))])
    with pytest.raises(ValueError, match=r"got shape \(4,\)"):
        StiefelCayley([torch.nn.Parameter(torch.zeros(4))])
    with pytest.raises(ValueError, match="lr must be a number >= 0, got -0.1"):
        StiefelCayley(square, lr=-0.1)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="reproject_every must be an int >= 0"):
            StiefelCayley(square, reproject_every=bad)


def test_optimizer_state_round_trips():
    w = torch.nn.Parameter(torch.eye(3, dtype=torch.complex128))
    opt = StiefelCayley([w], lr=0.1, reproject_every=4)
    w.grad = torch.ones_like(w)
    opt.step()
    other = StiefelCayley([w], lr=0.5)
    other.load_state_dict(opt.state_dict())
    assert other.state[w]["step"] == 1
    assert other.param_groups[0]["lr"] == 0.1 and other.param_groups[0]["reproject_every"] == 4
