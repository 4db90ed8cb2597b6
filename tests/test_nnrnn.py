r"""nnRNN (Kerg et al., NeurIPS 2019, arXiv 1905.12080): the cell against a reference written here from the paper's
Schur form and its official code (KyleGoyette/nnRNN, ``RNN_Cell.OrthoRNNCell`` and ``utils.select_optimizer``),
the original's training step, and the properties of the parametrisation.

The references below use numpy, scipy and plain torch tensors, never the cell's helpers: P = scipy's expm of the
skew part, Λ filled entry by entry as the code's ``calc_D``/``calc_alpha_block`` loops do, T masked by the strictly
upper triangle, the row-vector recurrence ``modrelu(U x + h @ rec)``.
"""
import math

import numpy as np
import pytest
import scipy.linalg
import scipy.optimize
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.cells.base import cell_class
from urnn_zoo.training import _make_optimizers

F64 = torch.float64
EPS64 = float(np.finfo(np.float64).eps)
N_IN = 3
seeds = st.integers(0, 2**31 - 1)
even_sizes = st.integers(1, 5).map(lambda k: 2 * k)


# ----------------------------------------------------------------------------- the reference, from the code
def original_rec(log_p, thetas, alphas, upp_t):
    r"""The original's ``calc_rec``: rec = P (UppT ⊙ M + alpha_block ⊙ D) Pᵀ, P = expm(triu(log_P, 1) − ·ᵀ)."""
    n = log_p.shape[0]
    a = np.triu(log_p, 1)
    p = scipy.linalg.expm(a - a.T)
    d, alpha_block = np.zeros((n, n)), np.zeros((n, n))
    for i in range(0, n, 2):  # calc_D and calc_alpha_block
        d[i, i], d[i, i + 1] = math.cos(thetas[i // 2]), -math.sin(thetas[i // 2])
        d[i + 1, i], d[i + 1, i + 1] = math.sin(thetas[i // 2]), math.cos(thetas[i // 2])
        alpha_block[i:i + 2, i:i + 2] = alphas[i // 2]
    mask = np.triu(np.ones((n, n)), 1)
    return p @ (upp_t * mask + alpha_block * d) @ p.T


def original_forward(x, u, b, rec):
    r"""The original's loop over steps: h = modrelu(U(x_t) + h @ rec), expRNN's real modReLU, zero h_0."""
    h, outs = np.zeros((x.shape[1], rec.shape[0])), []
    for x_t in x:
        z = x_t @ u.T + h @ rec
        h = np.sign(z) * np.maximum(np.abs(z) + b, 0.0)
        outs.append(h)
    return np.stack(outs)


def draw_parameters(n, seed, upper_scale=0.5):
    r"""Parameters away from the init (γ ≠ 1, T ≠ 0 everywhere, a full log_P) as float64 numpy arrays."""
    g = np.random.default_rng(seed)
    k = n // 2
    return dict(log_p=g.normal(size=(n, n)), thetas=g.uniform(0, 2 * math.pi, k), alphas=g.uniform(0.5, 1.5, k),
                upp_t=upper_scale * g.normal(size=(n, n)), u=g.normal(size=(n, N_IN)), b=g.uniform(-0.5, 0.5, n))


def load(cell, prm):
    r"""``cell`` holding the drawn parameters (the original's names, mapped to the cell's)."""
    with torch.no_grad():
        for name, key in [("raw_basis", "log_p"), ("theta", "thetas"), ("gamma", "alphas"),
                          ("raw_upper", "upp_t"), ("input.weight", "u"), ("act.bias", "b")]:
            cell.get_parameter(name).copy_(torch.from_numpy(prm[key]))
    return cell


def build(n, seed=0, dtype=F64, **options):
    torch.manual_seed(seed)
    return uz.make_cell("nnrnn", N_IN, n, dtype=dtype, **options)


def rounding_bound(prm, steps, eps):
    r"""A bound for the rounding of ``steps`` steps of the recurrence: eps·N·T·(1 + ‖A‖₂)·max(1, ‖W‖₂)^T, times the
    largest state. expm's error grows with ‖A‖, each step's with N, and an error in h_t is amplified by up to
    ‖W‖₂ per later step (modReLU is 1-Lipschitz). Measured: at most 0.62 of it in float64 and 0.46 in float32
    over 600 draws of N in {2, 4, 8, 10}."""
    a = np.triu(prm["log_p"], 1)
    w = original_rec(prm["log_p"], prm["thetas"], prm["alphas"], prm["upp_t"])
    n = w.shape[0]
    return eps * n * steps * (1 + np.linalg.norm(a - a.T, 2)) * max(1.0, np.linalg.norm(w, 2)) ** steps


# ----------------------------------------------------------------------------- fidelity
@settings()
@given(n=even_sizes, seed=seeds, fused=st.booleans())
def test_the_cell_is_the_original_code_in_float64(n, seed, fused):
    prm = draw_parameters(n, seed)
    cell = load(build(n), prm)
    cell.fused = fused
    x = np.random.default_rng(seed + 1).normal(size=(7, 2, N_IN))
    rec = original_rec(prm["log_p"], prm["thetas"], prm["alphas"], prm["upp_t"])
    with torch.no_grad():
        out, h = cell(torch.from_numpy(x))
        w = cell.recurrent_matrix().numpy()
    expected = original_forward(x, prm["u"], prm["b"], rec)
    tol = 4 * rounding_bound(prm, len(x), EPS64) * max(1.0, np.abs(expected).max())
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=tol)
    np.testing.assert_allclose(h.numpy(), expected[-1], rtol=0, atol=tol)
    # The original multiplies row vectors by rec; the column map is its transpose (Note [nnRNN orientation]).
    a = np.triu(prm["log_p"], 1)
    np.testing.assert_allclose(w, rec.T, rtol=0, atol=64 * n * (1 + np.linalg.norm(a - a.T, 2))
                               * (1 + np.linalg.norm(rec, 2)) * EPS64)


@settings()
@given(n=even_sizes, seed=seeds)
def test_the_float32_cell_is_the_float64_reference_to_float32_rounding(n, seed):
    prm = draw_parameters(n, seed)
    cell = load(build(n, dtype=torch.float32), {k: v.astype(np.float32) for k, v in prm.items()})
    x = np.random.default_rng(seed + 1).normal(size=(7, 2, N_IN)).astype(np.float32)
    rounded = {k: v.astype(np.float32).astype(np.float64) for k, v in prm.items()}
    expected = original_forward(x.astype(np.float64), rounded["u"], rounded["b"],
                                original_rec(rounded["log_p"], rounded["thetas"], rounded["alphas"], rounded["upp_t"]))
    with torch.no_grad():
        out = cell(torch.from_numpy(x))[0].numpy()
    # A wrong entry or orientation is O(1); float32 rounding stays within the bound in float32's eps.
    tol = 4 * rounding_bound(rounded, len(x), float(np.finfo(np.float32).eps)) * max(1.0, np.abs(expected).max())
    np.testing.assert_allclose(out, expected, rtol=0, atol=tol)


def original_training_steps(prm, x, steps, lr, lr_orth, alpha, alam, t_decay):
    r"""The original's training loop body on plain float64 torch tensors (copytask.py/sMNIST.py with
    utils.select_optimizer): loss + alpha_loss(δ); backward; ``orthogonal_step`` (expRNN's Fréchet-derivative
    gradient of log_P, scipy's expm_frechet) with RMSprop at lr_orth; the main RMSprop at lr, UppT's group with
    weight decay Tdecay. The loss is Σ h² over the outputs (the cell alone, no readout)."""
    t = {k: torch.tensor(v, dtype=F64, requires_grad=True) for k, v in prm.items()}
    log_p, thetas, alphas, upp_t, u, b = (t[k] for k in ("log_p", "thetas", "alphas", "upp_t", "u", "b"))
    n = log_p.shape[0]

    def skew():
        a = log_p.detach().triu(1)
        return a - a.T

    p = torch.tensor(scipy.linalg.expm(skew().numpy()), requires_grad=True)  # the parameter P, set by reset
    main = torch.optim.RMSprop([{"params": [u, b, thetas, alphas]}, {"params": [upp_t], "weight_decay": t_decay}],
                               lr=lr, alpha=alpha)
    orth = torch.optim.RMSprop([log_p], lr=lr_orth, alpha=alpha)
    mask = torch.ones(n, n, dtype=F64).triu(1)
    for _ in range(steps):
        main.zero_grad(), orth.zero_grad()
        p.grad = None
        d, alpha_block = torch.zeros(n, n, dtype=F64), torch.zeros(n, n, dtype=F64)
        for i in range(0, n, 2):
            d[i, i], d[i, i + 1] = thetas[i // 2].cos(), -thetas[i // 2].sin()
            d[i + 1, i], d[i + 1, i + 1] = thetas[i // 2].sin(), thetas[i // 2].cos()
            alpha_block[i:i + 2, i:i + 2] = alphas[i // 2]
        rec = p @ (upp_t * mask + alpha_block * d) @ p.T
        h, loss = torch.zeros(x.shape[1], n, dtype=F64), 0.0
        for x_t in x:
            z = x_t @ u.T + h @ rec
            h = torch.sign(z) * torch.relu(z.abs() + b)
            loss = loss + h.pow(2).sum()
        loss = loss + sum(alam * (a - 1) ** 2 for a in alphas)  # alpha_loss: lam * MSELoss(alpha_i, 1)
        loss.backward()
        # orthogonal_step
        a_now, b_now, g_now = skew(), p.detach(), p.grad
        btg = b_now.T @ g_now
        frechet = b_now @ torch.from_numpy(
            scipy.linalg.expm_frechet(-a_now.numpy(), (0.5 * (btg - btg.T)).numpy(), compute_expm=False))
        log_p.grad = (frechet - frechet.T).triu(1)
        orth.step()
        with torch.no_grad():
            p.copy_(torch.from_numpy(scipy.linalg.expm(skew().numpy())))
        main.step()
    return {k: v.detach() for k, v in t.items()}


@settings()
@given(n=st.sampled_from([4, 6]), seed=seeds, delta=st.sampled_from([1e-4, 0.1, 1.0]),
       ratio=st.sampled_from([0.0, 0.01, 0.5]), lr_orth=st.sampled_from([1e-3, 1e-5]))
def test_training_steps_are_the_originals_with_its_two_rates(n, seed, delta, ratio, lr_orth):
    # The zoo's trainer: A (constrained_parameters()) at constrained_lr = the original's lr_orth, everything else at
    # lr (recurrent_lr=None), the objective loss + penalty_weight·penalty(). The original must take the same steps.
    lr, alpha, steps = 1e-3, 0.99, 3
    prm = draw_parameters(n, seed)
    x = torch.from_numpy(np.random.default_rng(seed + 1).normal(size=(4, 2, N_IN)))
    expected = original_training_steps(prm, x, steps, lr, lr_orth, alpha, alam=delta, t_decay=delta * ratio)

    cell = load(build(n, t_decay_ratio=ratio), prm)
    model = uz.SequenceModel(cell, 1)
    opt, cayley = _make_optimizers(model, dict(optimizer="rmsprop", lr=lr, constrained_lr=lr_orth,
                                               recurrent_lr=None, alpha=alpha))
    assert cayley is None and sorted(g["lr"] for g in opt.param_groups) == sorted([lr, lr_orth])
    for _ in range(steps):
        opt.zero_grad()
        (cell(x)[0].pow(2).sum() + delta * cell.penalty()).backward()
        opt.step()
    got = {"log_p": cell.raw_basis, "thetas": cell.theta, "alphas": cell.gamma, "upp_t": cell.raw_upper,
           "u": cell.input.weight, "b": cell.act.bias}
    for key, value in expected.items():
        mine = got[key].detach()
        if key in ("log_p", "upp_t"):  # only the strictly upper parts are read by either
            mine, value = mine.triu(1), value.triu(1)
        # Stated: the two gradients differ by rounding, at most ~1e-14 for gradients up to 1e2; RMSprop's step
        # lr·g/(√v + 1e-8) amplifies a gradient difference by at most lr/1e-8 = 1e5 (at g ≈ 0), so 1e-9 over
        # three steps. Measured: at most 1e-11 over 240 draws.
        torch.testing.assert_close(mine, value, rtol=0, atol=1e-9, msg=lambda m: f"{key}: {m}")


def test_the_basis_trains_at_its_own_rate_as_the_originals_lr_orth():
    # Note [nnRNN's penalty and learning rates]: A at constrained_lr (lr_orth), θ, γ, T at recurrent_lr, the rest lr.
    model = uz.SequenceModel(build(4), 1)
    opt, _ = _make_optimizers(model, dict(optimizer="rmsprop", lr=1e-3, constrained_lr=1e-7, recurrent_lr=1e-5,
                                          alpha=0.99))
    by_lr = {g["lr"]: {id(p) for p in g["params"]} for g in opt.param_groups}
    cell = model.cell
    assert by_lr[1e-7] == {id(cell.raw_basis)}
    assert by_lr[1e-5] == {id(p) for p in (cell.theta, cell.gamma, cell.raw_upper)}
    assert by_lr[1e-3] == {id(p) for p in model.parameters()} - by_lr[1e-5] - by_lr[1e-7]


# ----------------------------------------------------------------------------- the Schur form
@settings()
@given(n=even_sizes, seed=seeds, scale=st.floats(0.0, 10.0))
def test_the_basis_is_the_exponential_of_the_skew_part_and_orthogonal(n, seed, scale):
    cell = build(n)
    raw = scale * np.random.default_rng(seed).normal(size=(n, n))
    with torch.no_grad():
        cell.raw_basis.copy_(torch.from_numpy(raw))
        p = cell.basis().numpy()
    a = np.triu(raw, 1)
    reference = scipy.linalg.expm(a - a.T)
    # Stated: both exponentials are within a few ulps times (1 + ‖A‖) of exact (scaling and squaring).
    norm = np.linalg.norm(a - a.T, 2)
    np.testing.assert_allclose(p, reference, rtol=0, atol=64 * n * (1 + norm) * EPS64)
    error = np.linalg.norm(p.T @ p - np.eye(n))
    assert error <= 64 * n * (1 + norm) * EPS64
    assert abs(cell.basis_error().item() - error) <= 4 * n * EPS64
    assert np.linalg.det(p) == pytest.approx(1.0, abs=1e-12)  # expm reaches SO(N) only


@settings()
@given(n=even_sizes, seed=seeds)
def test_the_basis_makes_w_similar_to_the_quasi_triangular_schur_factor(n, seed):
    prm = draw_parameters(n, seed)
    cell = load(build(n), prm)
    a = np.triu(prm["log_p"], 1)
    p = scipy.linalg.expm(a - a.T)
    with torch.no_grad():
        w = cell.recurrent_matrix().numpy()
    schur = (p.T @ w @ p).T  # Pᵀ W P = (Λ + T)ᵀ: undo the column map's transpose
    expected = np.triu(prm["upp_t"], 1)  # the code's mask also covers each block's upper entry
    for i, (theta, gamma) in enumerate(zip(prm["thetas"], prm["alphas"])):
        expected[2 * i:2 * i + 2, 2 * i:2 * i + 2] += gamma * np.array([[math.cos(theta), -math.sin(theta)],
                                                                          [math.sin(theta), math.cos(theta)]])
    # Stated: scipy's P against the zoo's (a few ulps times 1 + ‖A‖), through two products with ‖Λ + T‖.
    tol = 64 * n * (1 + np.linalg.norm(a - a.T, 2)) * (1 + np.linalg.norm(expected, 2)) * EPS64
    np.testing.assert_allclose(schur, expected, rtol=0, atol=tol)
    assert np.abs(np.tril(schur, -2)).max(initial=0) <= tol  # real Schur form: nothing below the 2x2 blocks
    assert np.abs(np.diagonal(schur, -1)[1::2]).max(initial=0) <= tol


@settings()
@given(n=even_sizes, seed=seeds, gammas=st.lists(st.floats(0.05, 3.0), min_size=5, max_size=5))
def test_without_t_the_eigenvalues_are_gamma_times_the_rotations(n, seed, gammas):
    # The paper's claim: with T = 0, W's spectrum is γ_i e^{±iθ_i}. W = P Λᵀ Pᵀ is then normal, so its
    # eigenvalues are perfectly conditioned and numpy's agree to rounding.
    prm = draw_parameters(n, seed)
    prm["alphas"] = np.array(gammas[: n // 2])
    prm["upp_t"] = np.zeros((n, n))
    cell = load(build(n), prm)
    with torch.no_grad():
        eig = np.linalg.eigvals(cell.recurrent_matrix().numpy())
    expected = np.concatenate([prm["alphas"] * np.exp(1j * prm["thetas"]), prm["alphas"] * np.exp(-1j * prm["thetas"])])
    distance = np.abs(eig[:, None] - expected[None, :])
    rows, cols = scipy.optimize.linear_sum_assignment(distance)
    assert distance[rows, cols].max() <= 64 * n * max(gammas) * EPS64


@settings()
@given(n=even_sizes, seed=seeds)
def test_at_init_w_is_orthogonal_and_the_penalty_is_zero(n, seed):
    cell = build(n, seed)
    w = cell.recurrent_matrix().detach().numpy()
    assert np.linalg.norm(w.T @ w - np.eye(n)) <= 64 * n * EPS64
    assert cell.penalty().item() == 0.0 and cell.unitarity_error().item() <= 64 * n * EPS64
    assert torch.equal(cell.gamma, torch.ones(n // 2, dtype=F64)) and not cell.raw_upper.any()
    assert ((0 <= cell.theta) & (cell.theta < 2 * math.pi)).all()


# ----------------------------------------------------------------------------- penalty and unitarity error
@settings()
@given(n=even_sizes, seed=seeds, ratio=st.just(0.0) | st.floats(1e-12, 10.0))  # (ρ/2 of a subnormal ρ is 0)
def test_the_penalty_is_the_magnitude_loss_plus_half_the_decay_of_t(n, seed, ratio):
    prm = draw_parameters(n, seed)
    cell = load(build(n, t_decay_ratio=ratio), prm)
    penalty = cell.penalty()
    t = np.triu(prm["upp_t"], 1)
    expected = np.sum((prm["alphas"] - 1) ** 2) + ratio / 2 * np.sum(t ** 2)
    assert penalty.item() == pytest.approx(expected, rel=1e-13, abs=1e-15)
    penalty.backward()
    # torch's weight_decay = Tdecay adds Tdecay·T to T's gradient: the gradient of (Tdecay/2)‖T‖² (ratio here).
    np.testing.assert_allclose(cell.raw_upper.grad.numpy(), ratio * t, rtol=1e-15, atol=0)
    np.testing.assert_allclose(cell.gamma.grad.numpy(), 2 * (prm["alphas"] - 1), rtol=1e-15, atol=0)
    assert cell.raw_basis.grad is None and cell.theta.grad is None


@settings()
@given(n=even_sizes, seed=seeds, upper_scale=st.floats(0.0, 3.0))
def test_unitarity_error_is_the_distance_of_w_from_orthogonal(n, seed, upper_scale):
    prm = draw_parameters(n, seed, upper_scale)
    cell = load(build(n), prm)
    w = original_rec(prm["log_p"], prm["thetas"], prm["alphas"], prm["upp_t"]).T
    expected = np.linalg.norm(w.T @ w - np.eye(n))
    # Stated: the reference forms W = P(Λ + T)ᵀPᵀ and WᵀW, each product rounding to N·eps·‖W‖_F² (measured: at
    # most 28 N·eps·(1 + ‖W‖_F²) over 600 draws); the cell reads the Schur factor without P.
    scale = 1 + np.linalg.norm(w) ** 2
    assert abs(cell.unitarity_error().item() - expected) <= 256 * n * scale * EPS64


# ----------------------------------------------------------------------------- fused path, sizes, options
@settings()
@given(n=even_sizes, seed=seeds, T=st.integers(1, 8))
def test_the_fused_loop_equals_the_autograd_loop_with_gradients(n, seed, T):
    prm = draw_parameters(n, seed)
    x = torch.from_numpy(np.random.default_rng(seed + 1).normal(size=(T, 2, N_IN)))
    runs = []
    for fused in (True, False):
        cell = load(build(n), prm)
        cell.fused = fused
        out, _ = cell(x)
        (out.pow(2).sum() + cell.penalty()).backward()
        runs.append((out.detach(), {k: p.grad for k, p in cell.named_parameters()}))
    (out_a, grads_a), (out_b, grads_b) = runs
    torch.testing.assert_close(out_a, out_b, rtol=0, atol=1e-12 * max(1.0, out_b.abs().max().item()))
    for key in grads_b:
        ref = grads_b[key]
        torch.testing.assert_close(grads_a[key], ref, rtol=0, atol=1e-11 * max(1.0, ref.abs().max().item()),
                                   msg=lambda m: f"{key}: {m}")


@settings()
@given(n=even_sizes)
def test_parameter_counts_are_the_papers(n):
    c = build(n).parameter_count()
    dof = n * (n - 1) // 2 + n * (n - 1) // 2 + n // 2 + n // 2  # P, T, θ, γ
    assert (c.recurrent_stored, c.recurrent_dof) == (2 * n * n + n, dof) and dof == n * n
    assert (c.stored, c.dof) == (c.recurrent_stored + n * N_IN + n, dof + n * N_IN + n)  # V, modReLU's b


@pytest.mark.parametrize("n", [1, 3, 7, 129])
def test_odd_sizes_are_refused_before_anything_is_built(n):
    message = rf"nnrnn: hidden_size must be an even int >= 2 \(2x2 rotation blocks of Λ\), got {n}"
    with pytest.raises(uz.InadmissibleSizeError, match=message):
        cell_class("nnrnn").check_size(n)
    with pytest.raises(uz.InadmissibleSizeError, match=message):
        uz.make_cell("nnrnn", N_IN, n)


@pytest.mark.parametrize("options, message", [
    (dict(init="random"), r"init must be one of \('henaff', 'cayley'\), got 'random'"),
    (dict(init=None), r"init must be one of \('henaff', 'cayley'\), got None"),
    (dict(t_decay_ratio=-1.0), r"t_decay_ratio: expected a finite number >= 0, got -1.0"),
    (dict(t_decay_ratio=float("nan")), r"t_decay_ratio: expected a finite number >= 0, got nan"),
    (dict(t_decay_ratio="0.1"), r"t_decay_ratio: expected a finite number >= 0, got '0.1'"),
])
def test_bad_options_are_refused_with_what_was_expected(options, message):
    with pytest.raises(ValueError, match=message):
        uz.make_cell("nnrnn", N_IN, 4, **options)


@pytest.mark.parametrize("init", ["henaff", "cayley"])
def test_the_init_of_p_is_the_skew_init_it_names(init):
    # Cayley: blocks −tan(φ/2), φ ~ U(0, π/2), so in (−1, 0]; Henaff: U(−π, π). A on the pairs (2i, 2i+1) only.
    cell = build(8, seed=3, init=init)
    a = cell.skew().detach()
    s = a.diagonal(1)[::2]
    assert torch.count_nonzero(a.triu(1)) <= 4 and torch.equal(a.diagonal(1)[1::2], torch.zeros(3, dtype=F64))
    assert ((s > -1) & (s <= 0)).all() if init == "cayley" else (s.abs() <= math.pi).all()
