"""Each family's recurrent map equals its original's formula for the same stored parameters (float64).

Every reference here is a small float64 transcription, written in this file, of the original paper and its
code (named in each test), never of urnn_zoo. Codes that multiply row vectors, h ← h·B, have the column map
W = Bᵀ, which is what ``recurrent_matrix()`` returns. The parameters are fixed, hand-chosen small values
(N = 2..6), and the test compares W entry by entry, then one step of the cell (``step`` and a one-step
``forward``, the fused path) against the original's update from a given state with zero input.
Where the zoo departs from an original on purpose (EURNN's unit phase side and its D first; the modReLU ε
form), the reference encodes the documented convention and says so.
"""
import math

import numpy as np
import pytest
import scipy.linalg
import torch

import urnn_zoo as uz

F64 = torch.float64
EPS64 = torch.finfo(F64).eps
TOL = 64 * EPS64  # a handful of roundings of O(1) entries, N <= 6


def cell_of(name, n, **options):
    torch.manual_seed(0)
    return uz.make_cell(name, 2, n, dtype=F64, **options)


def assign(param, value):
    with torch.no_grad():
        param.copy_(torch.as_tensor(np.asarray(value), dtype=param.dtype))


def real_modrelu(z, b):
    r"""sign(z)·ReLU(|z| + b): expRNN's ``modrelu`` (orthogonal.py), scoRNN's cell (scoRNN.py)."""
    return np.sign(z) * np.maximum(np.abs(z) + b, 0.0)


def complex_modrelu(z, b, eps):
    r"""ReLU(|z| + b)·z/(|z| + ε) with |z| = sqrt(Re² + Im² + ε): Wisdom et al.'s form (``models.py``), the
    zoo's documented modReLU. Arjovsky et al.'s code leaves ε out of |z| and EUNN-TF's adds 0.01 to |z| (a
    departure the EURNN docstring states), so their steps are checked against this form."""
    modulus = np.sqrt(z.real**2 + z.imag**2 + eps)
    return z * np.maximum(modulus + b, 0.0) / (modulus + eps)


def assert_map(cell, w_ref, h, h_next):
    r"""``recurrent_matrix()`` is ``w_ref`` entry by entry, and one step from ``h`` with zero input gives
    ``h_next`` through both ``step`` and the whole-sequence ``forward`` (the fused path)."""
    w = cell.recurrent_matrix().detach().numpy()
    np.testing.assert_allclose(w, w_ref, rtol=0, atol=TOL)
    state = torch.as_tensor(h, dtype=cell.state_dtype)
    x = torch.zeros(state.shape[0], cell.input_size, dtype=F64)
    expected = np.concatenate([h_next.real, h_next.imag], -1) if cell.is_complex else h_next
    with torch.no_grad():
        y, new_state = cell.step(x, state)
        out, last = cell(x.unsqueeze(0), state)
    for got in (y.numpy(), out[0].numpy()):
        np.testing.assert_allclose(got, expected, rtol=0, atol=TOL)
    for got in (new_state.numpy(), last.numpy()):
        np.testing.assert_allclose(got, h_next, rtol=0, atol=TOL)


H_REAL = np.array([[0.3, -0.5, 0.8, 0.1, -0.25, 0.6], [-0.7, 0.2, 0.05, -0.4, 0.9, -0.15]])
H_COMPLEX = H_REAL + 1j * np.array([[0.2, 0.4, -0.3, 0.6, 0.1, -0.5], [0.35, -0.6, 0.15, 0.25, -0.45, 0.7]])


# ----------------------------------------------------------------------------- expRNN
# Lezcano-Casado & Martínez-Rubio (ICML 2019), Lezcano/expRNN: `Orthogonal.retraction` takes
# A = triu(R, 1) − triu(R, 1)ᵀ and B = base·φ(A); `Orthogonal.forward` is input.matmul(B) (row vectors);
# φ = expm, or `cayley_map` = torch.solve(I − A, I + A), the solution Y of (I + A)·Y = I − A.
R_EXPRNN = np.array(
    [[9.0, 0.3, -0.2, 0.5], [7.0, 9.0, 0.4, -0.6], [1.0, 2.0, 9.0, 0.25], [3.0, 4.0, 5.0, 9.0]]
)  # the diagonal and lower part are ignored by the original's triu(R, 1)


def exprnn_row_matrix(raw, base, map_):
    upper = np.triu(raw, 1)
    a = upper - upper.T
    eye = np.eye(len(raw))
    phi = scipy.linalg.expm(a) if map_ == "expm" else np.linalg.solve(eye + a, eye - a)
    return base @ phi


@pytest.mark.parametrize("map_", ["expm", "cayley"])
@pytest.mark.parametrize("rebased", [False, True])
def test_exprnn_is_the_transposed_row_map_of_the_original(map_, rebased):
    n = 4
    cell = cell_of("exprnn", n, map=map_)
    base = np.eye(n)
    if rebased:  # dtriv: a hand-chosen orthogonal base (a rotation in the (0, 2) plane and a sign flip)
        c, s = 0.6, 0.8
        base = np.array([[c, 0, -s, 0], [0, 1, 0, 0], [s, 0, c, 0], [0, 0, 0, -1.0]])
        with torch.no_grad():
            cell.recurrent_kernel.weight = torch.as_tensor(base)  # geotorch: base <- it, A <- 0
    assign(cell.raw_skew, R_EXPRNN)
    bias = np.array([0.05, -0.2, 0.0, 0.1])
    assign(cell.act.bias, bias)
    b_row = exprnn_row_matrix(R_EXPRNN, base, map_)
    h = H_REAL[:, :n]
    assert_map(cell, b_row.T, h, real_modrelu(h @ b_row, bias))


def test_exprnn_cayley_worked_example():
    # A = [[0, 0.5], [−0.5, 0]]: (I + A)⁻¹(I − A) = [[0.6, −0.8], [0.8, 0.6]] by hand (det(I + A) = 1.25),
    # so the original's column map is its transpose.
    cell = cell_of("exprnn", 2, map="cayley")
    assign(cell.raw_skew, [[0.0, 0.5], [-0.5, 0.0]])
    np.testing.assert_allclose(cell.recurrent_matrix().detach().numpy(), [[0.6, 0.8], [-0.8, 0.6]], rtol=0, atol=TOL)


# ----------------------------------------------------------------------------- scoRNN
# Helfrich, Willmott & Ye (ICML 2018), SpartinStuff/scoRNN: `makeW` forms W = lstsq(I + A, I − A)·D with
# D = diag(ones(n − ρ), −ones(ρ)); `scoRNNCell.__call__` computes matmul(state, W) (row vectors) and
# modReLU relu(|res| + b)·sign(res).
@pytest.mark.parametrize("n, rho", [(3, 1), (5, 2), (6, 6)])
def test_scornn_is_the_transposed_row_map_of_the_original(n, rho):
    cell = cell_of("scornn", n, rho=rho)
    upper = np.triu(np.resize(np.array([0.4, -0.7, 0.25, 1.1, -0.3, 0.6, -0.9, 0.15]), (n, n)), 1)
    a = upper - upper.T
    assign(cell.raw_skew, upper)
    bias = np.linspace(-0.1, 0.15, n)
    assign(cell.act.bias, bias)
    eye = np.eye(n)
    d = np.diag(np.concatenate([np.ones(n - rho), -np.ones(rho)]))
    w_code = np.linalg.lstsq(eye + a, eye - a, rcond=None)[0] @ d
    h = H_REAL[:, :n]
    assert_map(cell, w_code.T, h, real_modrelu(h @ w_code, bias))


# ----------------------------------------------------------------------------- restricted-capacity uRNN
# Arjovsky, Shah & Bengio (ICML 2016), amarshah/complex_RNN `models.py`: the state is the real row
# [Re h, Im h]; the step is times_diag(θ₀), do_fft, times_reflection(r₀), vec_permutation, times_diag(θ₁),
# do_ifft, times_reflection(r₁), times_diag(θ₂); `reflection` rows hold [Re v, Im v]; the permutation is
# np.random.seed(1234); np.random.permutation(N). cufft/cuifft are unnormalised, each divided by √N.
def arjovsky_step(rows, theta, reflection, perm):
    n = rows.shape[1] // 2
    swap = np.concatenate([np.arange(n, 2 * n), np.arange(n)])

    def times_diag(x, diag):
        d = np.concatenate([diag, -diag])
        return x * np.cos(d) + (x * np.sin(d))[:, swap]

    def fft(x, inverse):
        z = x[:, :n] + 1j * x[:, n:]
        z = np.fft.ifft(z, axis=1) * n if inverse else np.fft.fft(z, axis=1)
        z = z / np.sqrt(n)
        return np.concatenate([z.real, z.imag], 1)

    def times_reflection(x, r):
        x_re, x_im, r_re, r_im = x[:, :n], x[:, n:], r[:n], r[n:]
        vstarv = (r**2).sum()
        a = np.outer(x_re @ r_re - x_im @ r_im, r_re)
        b = np.outer(x_re @ r_im + x_im @ r_re, r_im)
        c = np.outer(x_re @ r_re - x_im @ r_im, r_im)
        d = np.outer(x_re @ r_im + x_im @ r_re, r_re)
        return np.concatenate([x_re - 2.0 / vstarv * (a + b), x_im - 2.0 / vstarv * (d - c)], 1)

    x = times_diag(rows, theta[0])
    x = fft(x, inverse=False)
    x = times_reflection(x, reflection[0])
    x = x[:, np.concatenate([perm, perm + n])]
    x = times_diag(x, theta[1])
    x = fft(x, inverse=True)
    x = times_reflection(x, reflection[1])
    return times_diag(x, theta[2])


def complex_map_of_rows(step, n):
    r"""W with column j = the image of the state e_j, for a step acting on real rows [Re h, Im h]."""
    out = step(np.concatenate([np.eye(n), np.zeros((n, n))], 1))
    return (out[:, :n] + 1j * out[:, n:]).T


@pytest.mark.parametrize("n", [2, 5, 6])
@pytest.mark.parametrize("strategy", ["fft", "dense"])
def test_rcurnn_is_the_map_of_arjovskys_code(n, strategy):
    cell = cell_of("rcurnn", n, strategy=strategy)
    theta = np.array(
        [[0.3, -1.2, 2.5, 0.7, -0.4, 1.9], [-2.2, 0.6, 1.1, -0.9, 3.0, 0.2], [0.8, -0.1, -2.7, 1.4, 0.5, -1.6]]
    )[:, :n]
    reflection = np.array(
        [[0.5, -0.3, 0.8, 0.1, -0.6, 0.2, 0.4, 0.7, -0.2, 0.9, 0.3, -0.5],
         [-0.4, 0.6, 0.2, -0.9, 0.3, 0.5, 0.1, -0.8, 0.6, 0.2, -0.7, 0.4]]
    )
    reflection = np.concatenate([reflection[:, :n], reflection[:, 6 : 6 + n]], 1)  # rows [Re v, Im v]
    perm = np.random.RandomState(1234).permutation(n)
    assert cell.perm.tolist() == perm.tolist()
    assign(cell.phases, theta)
    assign(cell.reflections, reflection[:, :n] + 1j * reflection[:, n:])
    bias = np.linspace(-0.05, 0.1, n)
    assign(cell.act.bias, bias)
    w = complex_map_of_rows(lambda rows: arjovsky_step(rows, theta, reflection, perm), n)
    h = H_COMPLEX[:, :n]
    assert_map(cell, w, h, complex_modrelu(h @ w.T, bias, cell.act.eps))


# ----------------------------------------------------------------------------- EURNN
# Jing et al. (ICML 2017), jingli9111/EUNN-tensorflow `eunn.py`: `tunable_param`/`fft_param` build per layer
# v1 (diagonal) and v2 (off-diagonal) from cos/sin lists gathered by `generate_index_*`; `EUNNCell.loop`
# runs h = h·v1[i] + gather(h·v2[i], ind[i]) for each layer, then h·D. The code's unit on a pair (p, q) is
# [[cosθ, −e^{iφ}sinθ], [sinθ, e^{iφ}cosθ]] (phase on q's column). The zoo keeps the paper's unit
# [[e^{iφ}cosθ, −e^{iφ}sinθ], [sinθ, cosθ]] (phase on p's row: cos list [e^{iφ}cosθ, cosθ] instead of
# [cosθ, e^{iφ}cosθ], sin lists unchanged) and applies D first: both documented departures, encoded here
# by `paper_unit=True, d_first=True`. The real variant (no φ, no D) is the code exactly.
def tunable_index(s, capacity):
    ind1, ind2 = list(range(s)), list(range(s))
    for i in range(s):
        if i % 2 == 1:
            ind1[i] -= 1
            if i != s - 1:
                ind2[i] += 1
        else:
            ind1[i] += 1
            if i != 0:
                ind2[i] -= 1
    ind3 = [j for i in range(s // 2) for j in (i, i + s // 2)]
    ind4 = [0] + [j for i in range(s // 2 - 1) for j in (i + 1, i + s // 2)] + [s - 1]
    return [ind1, ind2] * (capacity // 2), ind3, ind4


def fft_index(s):
    def ind_s(k):
        if k == 0:
            return [np.array([1, 0])]
        temp = np.arange(2**k)
        out, inner = [np.append(temp + 2**k, temp)], ind_s(k - 1)
        for i in range(k):
            out.append(np.append(inner[i], inner[i] + 2**k))
        return out

    layers = int(math.log2(s))
    exe = ind_s(layers - 1)
    param = [np.concatenate([np.arange(0, s, 2**i) + j for j in range(2**i)]) for i in range(layers)]
    return exe, param


def unit_lists(theta, phi, paper_unit, pad=False):
    c, s = np.cos(theta), np.sin(theta)
    if phi is None:
        cos_list, sin_list = np.concatenate([c, c], -1), np.concatenate([s, -s], -1)
    else:
        e = np.exp(1j * phi)
        first, second = (e * c, c) if paper_unit else (c, e * c)
        cos_list, sin_list = np.concatenate([first, second], -1), np.concatenate([s + 0j, -e * s], -1)
    if pad:  # B layers: the first and last coordinates are in no unit
        one, zero = np.ones(theta.shape[:-1] + (1,)), np.zeros(theta.shape[:-1] + (1,))
        cos_list = np.concatenate([one, cos_list, one], -1)
        sin_list = np.concatenate([zero, sin_list, zero], -1)
    return cos_list, sin_list


def eunn_tf_map(n, layers, omega, d_first):
    r"""W of `EUNNCell.loop` for per-layer (v1, v2, ind); column j is the loop applied to the state e_j."""
    h = np.eye(n, dtype=complex)  # row j is the state e_j
    d = None if omega is None else np.exp(1j * omega)
    if d is not None and d_first:
        h = h * d
    for v1, v2, ind in layers:
        h = h * v1 + (h * v2)[:, ind]
    if d is not None and not d_first:
        h = h * d
    return h.T


def tunable_layers(cell, paper_unit):
    n, capacity = cell.hidden_size, cell.capacity
    ind_exe, index_a, index_b = tunable_index(n, capacity)
    phi_a = None if cell.phi_a is None else cell.phi_a.detach().numpy()
    phi_b = None if cell.phi_b is None else cell.phi_b.detach().numpy()
    cos_a, sin_a = unit_lists(cell.theta_a.detach().numpy(), phi_a, paper_unit)
    cos_b, sin_b = unit_lists(cell.theta_b.detach().numpy(), phi_b, paper_unit, pad=True)
    v1 = np.concatenate([cos_a[:, index_a], cos_b[:, index_b]], 1).reshape(capacity, n)
    v2 = np.concatenate([sin_a[:, index_a], sin_b[:, index_b]], 1).reshape(capacity, n)
    return list(zip(v1, v2, ind_exe))


def fft_layers(cell, paper_unit):
    exe, param = fft_index(cell.hidden_size)
    phi = None if cell.phi is None else cell.phi.detach().numpy()
    cos_list, sin_list = unit_lists(cell.theta.detach().numpy(), phi, paper_unit)
    return [(cos_list[i][param[i]], sin_list[i][param[i]], exe[i]) for i in range(len(exe))]


ANGLES = np.array([0.3, -1.2, 2.5, 0.7, -0.4, 1.9, -2.2, 0.6, 1.1, -0.9, 3.0, 0.2, 0.8, -0.1, -2.7, 1.4])


def fill_angles(cell):
    r"""Hand-chosen angles, assigned in parameter order from the fixed list above."""
    offset = 0
    for name in ("theta_a", "theta_b", "phi_a", "phi_b", "theta", "phi", "omega"):
        p = getattr(cell, name, None)
        if p is not None:
            k = p.numel()
            assign(p, np.resize(np.roll(ANGLES, -offset), k).reshape(p.shape))
            offset += 3


EURNN_CASES = [
    (name, n, options, strategy)
    for name, n, options in [
        ("eurnn", 2, {"capacity": 2}),
        ("eurnn", 4, {"capacity": 2}),
        ("eurnn", 6, {"capacity": 4}),
        ("eurnn_fft", 4, {}),
        ("eurnn_fft", 8, {}),  # N = 8: the middle layer's unit numbering matters (stride 2, two blocks)
    ]
    for strategy in ("layers", "band", "dense")
    if not (name == "eurnn_fft" and strategy == "band")  # the FFT style has no banded form
]


@pytest.mark.parametrize("name, n, options, strategy", EURNN_CASES)
@pytest.mark.parametrize("complex_weights", [True, False])
def test_eurnn_is_the_tf_code_with_the_documented_departures(name, n, options, strategy, complex_weights):
    cell = cell_of(name, n, complex_weights=complex_weights, strategy=strategy, **options)
    fill_angles(cell)
    bias = np.linspace(-0.05, 0.1, n)
    assign(cell.act.bias, bias)
    layers_of = tunable_layers if name == "eurnn" else fft_layers
    if complex_weights:
        w = eunn_tf_map(n, layers_of(cell, paper_unit=True), cell.omega.detach().numpy(), d_first=True)
        h = np.resize(H_COMPLEX, (2, n))
        assert_map(cell, w, h, complex_modrelu(h @ w.T, bias, cell.act.eps))
    else:  # the real variant is exactly the code's map: its unit has no phase and there is no D
        w = eunn_tf_map(n, layers_of(cell, paper_unit=False), None, d_first=False).real
        h = np.resize(H_REAL, (2, n))
        assert_map(cell, w, h, real_modrelu(h @ w.T, bias))


def test_eurnn_complex_departs_from_the_tf_code_only_by_the_documented_changes():
    # Undoing either departure (the code's unit, or D last) gives a different W for the same parameters, so
    # the test above pins both conventions, not an accident of symmetric values.
    cell = cell_of("eurnn", 4, capacity=2)
    fill_angles(cell)
    omega = cell.omega.detach().numpy()
    w = cell.recurrent_matrix().detach().numpy()
    for paper_unit, d_first in ((False, True), (True, False), (False, False)):
        other = eunn_tf_map(4, tunable_layers(cell, paper_unit), omega, d_first)
        assert np.abs(w - other).max() > 0.1


# ----------------------------------------------------------------------------- oRNN
# Mhammedi et al. (ICML 2017), zmhammedi/Orthogonal_RNN: `C_fun.F` computes H(U)h applying the columns
# of U from the last to the first, c ← c − 2(u_kᵀc)u_k (unit-norm u_k, lower-triangular U; `sgd.py`
# renormalises), column vectors; with m = n, `RNN_models.py` first multiplies the last coordinate by
# U[−1, −1] and uses the first n − 1 columns. The zoo stores reflector k in LAPACK form v_k = u_k/u_kk (its
# entries below the diagonal). Activation: `leaky_relu(z, b)` = z + b, or 0.1(z + b) below zero.
def ornn_original(u, h):
    n, m = u.shape
    h = h.copy()
    if m == n:
        h[..., -1] *= u[-1, -1]
        u = u[:, : m - 1]
    for k in range(u.shape[1] - 1, -1, -1):
        h = h - 2 * (h[..., k:] @ u[k:, k])[..., None] * u[:, k]
    return h


@pytest.mark.parametrize("n, m", [(2, 1), (5, 3), (4, 4), (6, 6)])
def test_ornn_is_the_map_of_mhammedis_kernel(n, m):
    cell = cell_of("ornn", n, m=m)
    u = np.tril(np.resize(np.array([0.9, -0.4, 0.3, 0.7, -0.2, 0.5, 0.1, -0.8, 0.6]), (n, m)))
    if m == n:
        u[-1, -1] = -1.0  # the zoo's last reflector is diag(1, …, 1, −1): the original's U[−1, −1] = −1
    u = u / np.linalg.norm(u, axis=0)
    assign(cell.reflectors, np.tril(u / np.diag(u), -1))
    bias = np.linspace(-0.1, 0.2, n)
    assign(cell.bias, bias)
    w = ornn_original(u, np.eye(n)).T  # row j is the image of e_j
    h = H_REAL[:, :n]
    z = ornn_original(u, h) + bias
    assert_map(cell, w, h, np.where(z < 0, 0.1 * z, z))


# ----------------------------------------------------------------------------- full-capacity uRNN
# Wisdom et al. (NIPS 2016), stwisdom/urnn: the state is the row [Re h, Im h] times the stored real block
# Waug = [[Re Xᵀ, Im Xᵀ], [−Im Xᵀ, Re Xᵀ]] (`models.py` initialize_unitary; `custom_optimizers.py` reads X
# back as the transposed blocks), and modReLU is max(|z| + b, 0)·z/(|z| + 1e-5) with |z| = sqrt(1e-5 + Re² + Im²).
X_FC = 0.43 * np.array(  # A = tril(X) − tril(X)ᴴ has 1-norm 0.0447
    [[0.02, -0.01 + 0.03j, 0.015j], [0.01 + 0.03j, -0.025j, 0.02 - 0.01j], [-0.015j, -0.02 - 0.01j, 0.01j]]
)
BASE_FC = scipy.linalg.expm(np.array([[0.4j, 0.3 + 0.2j, -0.1], [-0.3 + 0.2j, -0.2j, 0.5j], [0.1, 0.5j, 0.3j]]))


def test_fcurnn_raw_weight_is_the_map_of_wisdoms_block_matrix():
    n = 3
    cell = cell_of("fcurnn", n, parametrization="none")
    x = BASE_FC
    waug = np.block([[x.real.T, x.imag.T], [-x.imag.T, x.real.T]])
    assign(cell.weight, x)
    bias = np.array([0.05, -0.1, 0.02])
    assign(cell.act.bias, bias)
    w = complex_map_of_rows(lambda rows: rows @ waug, n)
    np.testing.assert_allclose(w, x, rtol=0, atol=TOL)
    h = H_COMPLEX[:, :n]
    assert_map(cell, w, h, complex_modrelu(h @ w.T, bias, 1e-5))


@pytest.mark.parametrize("parametrization", ["matrix_exp", "cayley"])
def test_fcurnn_trivialisations_are_base_times_the_map_of_the_skew_part(parametrization):
    # torch's unitary trivialisation: W = base·φ(A), A = tril(X) − tril(X)ᴴ, φ = expm or
    # (I + A/2)(I − A/2)⁻¹.
    # A's 1-norm 0.0447 lies inside the band where a single-matrix torch.matrix_exp is off by up to 1e-10.
    n = 3
    cell = cell_of("fcurnn", n, parametrization=parametrization)
    with torch.no_grad():
        cell.weight = torch.as_tensor(BASE_FC)  # base <- BASE_FC (unitary), original <- −I (A = 0)
    assign(cell.parametrizations.weight.original, X_FC)
    low = np.tril(X_FC)
    a, eye = low - low.conj().T, np.eye(n)
    phi = scipy.linalg.expm(a) if parametrization == "matrix_exp" else (eye + a / 2) @ np.linalg.inv(eye - a / 2)
    w = BASE_FC @ phi
    bias = np.array([0.05, -0.1, 0.02])
    assign(cell.act.bias, bias)
    h = H_COMPLEX[:, :n]
    assert_map(cell, w, h, complex_modrelu(h @ w.T, bias, 1e-5))


def test_ornn_with_the_originals_other_sign_is_one_reflection_fewer():
    # With m = n the original multiplies the last coordinate by U[−1, −1] = ±1, drawn at random at init; the zoo
    # fixes −1 (det (−1)^n), and the original's +1 runs are the zoo's m = n − 1 on the first n − 1 columns.
    n = 4
    u = np.tril(np.resize(np.array([0.9, -0.4, 0.3, 0.7, -0.2, 0.5, 0.1, -0.8, 0.6]), (n, n)))
    u[-1, -1] = 1.0
    u = u / np.linalg.norm(u, axis=0)
    cell = cell_of("ornn", n, m=n - 1)
    assign(cell.reflectors, np.tril(u[:, : n - 1] / np.diag(u)[: n - 1], -1))
    assign(cell.bias, np.zeros(n))
    w = ornn_original(u, np.eye(n)).T
    h = H_REAL[:, :n]
    z = ornn_original(u, h)
    assert_map(cell, w, h, np.where(z < 0, 0.1 * z, z))
