"""EURNN, tunable and FFT style (Jing et al., ICML 2017): spanning, parameter counts, the layer algebra
against an independent dense reference, validation, and the cross-check against torch-eunn 0.2.1."""
import math

import pytest
import torch
import torch_eunn
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.func import functional_call

import urnn_zoo as uz
from urnn_zoo.cells.eurnn import apply_layers
from urnn_zoo.engine import kernels
from admissible import admissible_sizes
from hypothesis_profiles import examples

F64 = torch.float64
EPS64 = torch.finfo(F64).eps
N_IN = 3
seeds = st.integers(0, 2**31 - 1)


def build(name, n, seed, dtype=F64, **options):
    torch.manual_seed(seed)
    return uz.make_cell(name, N_IN, n, dtype=dtype, **options)


# ----------------------------------------------------------------------------- an independent dense reference
def unit(theta, phi):
    r"""The paper's mixing unit, [[e^{iφ}cosθ, −e^{iφ}sinθ], [sinθ, cosθ]] (real rotation if φ is None)."""
    c, s = math.cos(theta), math.sin(theta)
    e = 1.0 if phi is None else complex(math.cos(phi), math.sin(phi))
    return [[e * c, -e * s], [s, c]]


def dense_layer(n, pairs, thetas, phis, dtype):
    f = torch.eye(n, dtype=dtype)
    for k, (p, q) in enumerate(pairs):
        u = unit(thetas[k].item(), None if phis is None else phis[k].item())
        f[p, p], f[p, q], f[q, p], f[q, q] = u[0][0], u[0][1], u[1][0], u[1][1]
    return f


@torch.no_grad()
def reference_matrix(cell):
    r"""W = F_L ⋯ F_1 · D built unit by unit from the paper's pair lists, with no code from the module."""
    n, dtype = cell.hidden_size, cell.recurrent_matrix().dtype
    layers = []
    if cell.name == "eurnn":
        for l in range(cell.capacity):
            if l % 2 == 0:
                pairs, th, ph = [(2 * k, 2 * k + 1) for k in range(n // 2)], cell.theta_a[l // 2], cell.phi_a
            else:
                pairs, th, ph = [(2 * k + 1, 2 * k + 2) for k in range(n // 2 - 1)], cell.theta_b[l // 2], cell.phi_b
            layers.append(dense_layer(n, pairs, th, None if ph is None else ph[l // 2], dtype))
    else:
        for k in range(n.bit_length() - 1):
            s = n >> (k + 1)  # unit u = lo·(N/2s) + hi on (hi·2s + lo, + s): Jing et al.'s generate_index_fft
            pairs = [(hi * 2 * s + lo, hi * 2 * s + lo + s) for lo in range(s) for hi in range(n // (2 * s))]
            layers.append(dense_layer(n, pairs, cell.theta[k], None if cell.phi is None else cell.phi[k], dtype))
    w = torch.eye(n, dtype=dtype)
    for f in layers:
        w = f @ w
    if cell.omega is not None:
        w = w @ torch.diag(torch.polar(torch.ones_like(cell.omega), cell.omega))
    return w.detach()


@settings(max_examples=examples(20))
@given(
    seed=seeds,
    fft=st.booleans(),
    data=st.data(),
    capacity=st.sampled_from([2, 4, 6, 8]),
    complex_weights=st.booleans(),
    strategy=st.sampled_from(["layers", "band", "dense"]),
)
def test_layers_equal_the_dense_product_of_the_unit_definition(seed, fft, data, capacity, complex_weights, strategy):
    n = data.draw(admissible_sizes("eurnn_fft", 1, 16) if fft else admissible_sizes("eurnn", 1, 8), label="N")
    strategy = "layers" if fft and strategy == "band" else strategy
    name, opts = ("eurnn_fft", {}) if fft else ("eurnn", {"capacity": capacity})
    cell = build(name, n, seed, complex_weights=complex_weights, strategy=strategy, **opts)
    w = reference_matrix(cell)
    torch.testing.assert_close(cell.recurrent_matrix().detach(), w, rtol=0, atol=10 * n * EPS64)
    # The per-step application (whatever the strategy) is the same map: run the recurrence by hand with W_ref.
    x = torch.randn(4, 2, N_IN, dtype=F64, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        out, _ = cell(x)
        h, hs = cell.initial_state(2), []
        for u in cell.input(x).unbind(0):
            h = cell.act(u + h @ w.mT)
            hs.append(h)
        torch.testing.assert_close(out, cell.emit(torch.stack(hs)), rtol=0, atol=100 * n * EPS64)


@settings(max_examples=examples(8))
@given(seed=seeds, n=admissible_sizes("eurnn", 6, 16), capacity=st.sampled_from([2, 4]), cw=st.booleans())
def test_strategies_agree_in_values_and_gradients(seed, n, capacity, cw):
    results = []
    for strategy in ("layers", "band", "dense"):
        cell = build("eurnn", n, seed, capacity=capacity, complex_weights=cw, strategy=strategy)
        x = torch.randn(5, 3, N_IN, dtype=F64, generator=torch.Generator().manual_seed(seed))
        out, _ = cell(x)
        out.pow(2).mean().backward()
        results.append([out.detach()] + [p.grad for p in cell.parameters()])
    for other in results[1:]:
        for a, b in zip(results[0], other):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------------------- spanning: Jacobian rank
class _Matrix(nn.Module):
    r"""W as a module output, so that functional_call can substitute the angles; ``d_last`` builds the
    original code's order W' = D·F_L ⋯ F_1 from the same coefficients (Note [Why D first])."""

    def __init__(self, cell, d_last=False):
        super().__init__()
        self.cell, self.d_last = cell, d_last

    def forward(self):
        if not self.d_last:
            return self.cell.recurrent_matrix()
        a, b = self.cell._coefficients()
        eye = torch.eye(self.cell.hidden_size, dtype=a.dtype)
        return self.cell._diag()[:, None] * apply_layers(eye, None, a, b, self.cell.perm).mT


def jacobian_rank(cell, d_last=False):
    r"""Rank of d(real view of W)/d(angles): singular values above 1e-10·σ_max count. Directions lost to a
    redundancy sit at rounding level (~1e-15·σ_max); at random angles the genuine ones stay above ~1e-7."""
    module = _Matrix(cell, d_last)
    names = [f"cell.{k}" for k, p in cell.named_parameters() if any(p is q for q in cell.recurrent_parameters())]
    values = tuple(dict(module.named_parameters())[k].detach() for k in names)

    def real_w(*vals):
        w = functional_call(module, dict(zip(names, vals)), ())
        return (torch.view_as_real(w) if w.is_complex() else w).reshape(-1)

    jac = torch.autograd.functional.jacobian(real_w, values, vectorize=True)
    jac = torch.cat([j.reshape(j.shape[0], -1) for j in jac], 1)
    return int(torch.linalg.matrix_rank(jac, rtol=1e-10))


@pytest.mark.parametrize("n", [4, 6, 8])
@pytest.mark.parametrize("complex_weights", [True, False])
@settings(max_examples=examples(3))
@given(seed=seeds)
def test_capacity_n_spans_the_group(n, complex_weights, seed):
    cell = build("eurnn", n, seed, capacity=n, complex_weights=complex_weights)
    # dof equals the group's dimension exactly: N² = dim U(N), N(N−1)/2 = dim SO(N); the rank says it is used
    expected = n * n if complex_weights else n * (n - 1) // 2
    assert cell.parameter_count().recurrent_dof == expected
    assert jacobian_rank(cell) == expected


@pytest.mark.parametrize("n", [4, 6, 8])
def test_d_last_as_in_the_original_code_loses_n_minus_1_dimensions(n):
    # Note [Why D first]: with D applied last its phases duplicate the last layer's; measured 13 of 16, 31 of 36.
    cell = build("eurnn", n, n, capacity=n)
    assert jacobian_rank(cell, d_last=True) == n * n - (n - 1)


# ----------------------------------------------------------------------------- parameter counts
@settings(max_examples=examples(10))
@given(n=admissible_sizes("eurnn_fft", 1, 256), complex_weights=st.booleans())
def test_fft_style_parameter_counts(n, complex_weights):
    k = round(math.log2(n))  # layers: log2 N
    c = build("eurnn_fft", n, 0, complex_weights=complex_weights).parameter_count()
    expected = n * k + n if complex_weights else (n // 2) * k  # N/2 units x (θ, φ) x log2 N layers + N phases
    assert c.recurrent_dof == c.recurrent_stored == expected


@settings(max_examples=examples(10))
@given(n=admissible_sizes("eurnn", 1, 80), half_l=st.integers(1, 6), complex_weights=st.booleans())
def test_tunable_parameter_counts(n, half_l, complex_weights):
    cap = 2 * half_l
    c = build("eurnn", n, 0, capacity=cap, complex_weights=complex_weights).parameter_count()
    units = half_l * (n // 2) + half_l * (n // 2 - 1)  # A layers N/2 units, B layers N/2 − 1
    assert c.recurrent_dof == c.recurrent_stored == (2 * units + n if complex_weights else units)


def test_angles_are_initialised_uniformly_on_the_circle():
    cell = build("eurnn", 256, 0, capacity=4)
    angles = torch.cat([p.flatten() for p in cell.recurrent_parameters()])
    assert angles.abs().max() <= math.pi and angles.min() < -3 and angles.max() > 3


def test_real_variant_is_a_special_orthogonal_real_cell():
    cell = build("eurnn", 8, 0, capacity=4, complex_weights=False)
    w = cell.recurrent_matrix()
    assert not w.is_complex() and cell.output_size == 8 and cell.omega is None
    assert torch.linalg.det(w).item() == pytest.approx(1.0, abs=1e-12)
    assert cell(torch.randn(3, 2, N_IN, dtype=F64))[1].dtype == F64


def test_auto_strategy_follows_the_documented_rule(monkeypatch):
    r"""Note [EURNN compute strategy]: dense while N <= max(64, 32·L) with the layers as torch operators (kernels
    off, another device, or the per-step loop), while N <= max(32, 4·L) where the C layer kernel runs."""
    pick = lambda name, n, **o: build(name, n, 0, dtype=torch.float32, **o)._resolved_strategy()  # noqa: E731

    def loop(name, n, **o):
        cell = build(name, n, 0, dtype=torch.float32, **o)
        cell.fused = False
        return cell._resolved_strategy()

    if kernels.available():
        assert pick("eurnn", 32) == "dense" and pick("eurnn", 64) == "layers" and pick("eurnn", 64, capacity=16) == "dense"
        assert pick("eurnn", 128, capacity=4) == "layers" and pick("eurnn", 128, capacity=32) == "dense"
        assert pick("eurnn", 256, capacity=32) == "layers" and pick("eurnn", 512, capacity=16) == "layers"
        assert pick("eurnn_fft", 32) == "dense" and pick("eurnn_fft", 64) == "layers"
        assert loop("eurnn", 128, capacity=4) == "dense"  # the per-step loop has no layer kernel
    monkeypatch.setattr(kernels, "_library", lambda: None)
    assert pick("eurnn", 8) == "dense" and pick("eurnn", 128, capacity=4) == "dense"
    assert pick("eurnn", 512) == "layers" and pick("eurnn", 512, capacity=4) == "layers"
    assert pick("eurnn", 1024, capacity=16) == "layers"
    assert pick("eurnn_fft", 256) == "dense" and pick("eurnn_fft", 512) == "layers"


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "name, n, options, message",
    [
        ("eurnn", 5, {}, r"eurnn: hidden_size must be an even int >= 2 \(disjoint 2x2 units\), got 5"),
        ("eurnn", 8, {"capacity": 3}, r"eurnn: capacity must be an even int >= 2 \(disjoint 2x2 units\), got 3"),
        ("eurnn", 8, {"capacity": 0}, r"capacity must be an even int >= 2.*got 0"),
        ("eurnn", 8, {"capacity": 2.0}, r"capacity must be an even int >= 2.*got 2.0"),
        ("eurnn", 8, {"strategy": "fast"}, r"eurnn: strategy must be one of .*'band'.*got 'fast'"),
        ("eurnn_fft", 12, {}, r"eurnn_fft: hidden_size must be a power of two >= 2 \(FFT style\), got 12"),
        ("eurnn_fft", 1, {}, r"hidden_size must be a power of two >= 2 \(FFT style\), got 1"),
        ("eurnn_fft", 8, {"strategy": "band"}, r"eurnn_fft: strategy must be one of \('auto', 'layers', 'dense'\), got 'band'"),
    ],
)
def test_bad_sizes_and_options_are_rejected_with_a_clear_error(name, n, options, message):
    with pytest.raises(ValueError, match=message):
        uz.make_cell(name, N_IN, n, **options)


# ----------------------------------------------------------------------------- torch-eunn 0.2.1
# Note [Mapping to torch-eunn]
# torch_eunn.EUNN(N, L) holds angles (N, L). Column 2m is our A layer m: angles[2k, 2m] = φ_a[m, k],
# angles[2k+1, 2m] = θ_a[m, k]; its unit on (2k, 2k+1) is the same [[e^{iφ}cosθ, −e^{iφ}sinθ], [sinθ, cosθ]].
# Column 2m+1 is a B layer applied to h rolled by one place, so its pair k is (2k+1, 2k+2): for k < N/2 − 1 it
# is our B unit k (angles[2k, 2m+1] = φ_b[m, k], angles[2k+1, 2m+1] = θ_b[m, k]); k = N/2 − 1 is the periodic
# unit on (N−1, 0), which the paper and this zoo do not have. torch-eunn also has no D. So the two coincide
# exactly when ω = 0 and every periodic unit is the identity (θ = φ = 0); otherwise
# W_ours = W_torch_eunn(periodic units = identity) · D, and torch-eunn's W = our layers plus one unit on
# (N−1, 0) per B layer. Its EURNN cell further differs in: a real input matrix with a bias feeding the real part
# only (ours: complex V, no bias), modReLU |z| + 1e-5 (ours: sqrt(|z|² + ε), divided by |z| + ε), angles
# 2π·randn (the reference's "U(0, 2π)" is not what 0.2.1 does), and a readout of Re h only.


def torch_eunn_angles(cell, wrap_theta=None, wrap_phi=None):
    n, cap = cell.hidden_size, cell.capacity
    angles = torch.zeros(n, cap, dtype=F64)
    for m in range(cap // 2):
        angles[0::2, 2 * m], angles[1::2, 2 * m] = cell.phi_a[m], cell.theta_a[m]
        angles[0:-2:2, 2 * m + 1], angles[1:-2:2, 2 * m + 1] = cell.phi_b[m], cell.theta_b[m]
        if wrap_theta is not None:
            angles[-2, 2 * m + 1], angles[-1, 2 * m + 1] = wrap_phi[m], wrap_theta[m]
    return angles.detach()


def torch_eunn_matrix(n, angles):
    layer = torch_eunn.EUNN(n, capacity=angles.shape[1]).double()
    with torch.no_grad():
        layer.angles.copy_(angles)
        rows = layer(torch.view_as_real(torch.eye(n, dtype=torch.complex128)).contiguous())
    return torch.view_as_complex(rows.contiguous()).mT  # rows are (W e_i)^T


@settings(max_examples=examples(10))
@given(seed=seeds, n=admissible_sizes("eurnn", 4, 16), half_l=st.integers(1, 3))
def test_torch_eunn_agrees_where_the_parametrisations_coincide(seed, n, half_l):
    cell = build("eurnn", n, seed, capacity=2 * half_l)
    w_te = torch_eunn_matrix(n, torch_eunn_angles(cell))
    d = torch.polar(torch.ones_like(cell.omega), cell.omega).detach()
    # with periodic units = identity, ours is torch-eunn's W times D (D first) ...
    torch.testing.assert_close(cell.recurrent_matrix().detach(), w_te * d, rtol=0, atol=10 * n * EPS64)
    with torch.no_grad():  # ... and with ω = 0 they are equal
        cell.omega.zero_()
    torch.testing.assert_close(cell.recurrent_matrix().detach(), w_te, rtol=0, atol=10 * n * EPS64)


@settings(max_examples=examples(10))
@given(seed=seeds, n=admissible_sizes("eurnn", 4, 16), half_l=st.integers(1, 3))
def test_torch_eunn_periodic_units_are_exactly_the_documented_difference(seed, n, half_l):
    cap = 2 * half_l
    cell = build("eurnn", n, seed, capacity=cap)
    g = torch.Generator().manual_seed(seed)
    wrap_theta = (2 * torch.rand(cap // 2, generator=g, dtype=F64) - 1) * math.pi
    wrap_phi = (2 * torch.rand(cap // 2, generator=g, dtype=F64) - 1) * math.pi
    w_te = torch_eunn_matrix(n, torch_eunn_angles(cell, wrap_theta, wrap_phi))
    # our layer machinery plus one unit on (N−1, 0) in every B layer, and no D, is torch-eunn's W
    a, b = (t.detach().clone() for t in cell._coefficients())
    perm = cell.perm.clone()
    for m in range(cap // 2):  # the unit on (p, q) = (N−1, 0): y_p = u00·h_p + u01·h_q, y_q = u10·h_p + u11·h_q
        u, l = unit(float(wrap_theta[m]), float(wrap_phi[m])), 2 * m + 1
        a[l, -1], b[l, -1], perm[l, -1] = u[0][0], u[0][1], 0
        a[l, 0], b[l, 0], perm[l, 0] = u[1][1], u[1][0], n - 1
    eye = torch.eye(n, dtype=torch.complex128)
    torch.testing.assert_close(apply_layers(eye, None, a, b, perm).mT, w_te, rtol=0, atol=10 * n * EPS64)
    if cap < n - 1:  # ours is banded (|i − j| <= L), torch-eunn's wrap-around reaches the far corner
        assert cell.recurrent_matrix()[0, n - 1].abs().item() == 0.0


class _ComplexActAdapter(nn.Module):
    r"""Our modReLU on torch-eunn's (B, N, 2) real layout, to take the ε convention out of the comparison."""

    def __init__(self, act):
        super().__init__()
        self.act = act

    def forward(self, x):
        return torch.view_as_real(self.act(torch.view_as_complex(x.contiguous())))


@settings(max_examples=examples(5))
@given(seed=seeds, n=admissible_sizes("eurnn", 4, 12), half_l=st.integers(1, 2))
def test_torch_eunn_cell_agrees_in_the_coinciding_configuration(seed, n, half_l):
    cap = 2 * half_l
    cell = build("eurnn", n, seed, capacity=cap)
    ref = torch_eunn.EURNN(N_IN, n, capacity=cap).double()
    with torch.no_grad():
        cell.omega.zero_()
        cell.input.weight.imag.zero_()  # torch-eunn feeds the input to the real part only ...
        ref.input_layer.weight.copy_(cell.input.weight.real)
        ref.input_layer.bias.zero_()  # ... through a Linear with a bias; ours has none
        ref.hidden_layer.angles.copy_(torch_eunn_angles(cell))
    ref.modrelu = _ComplexActAdapter(cell.act)
    x = torch.randn(6, 2, N_IN, dtype=F64, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        out, _ = cell(x)
        out_ref, _ = ref(x)
    # torch-eunn reads out Re h only; ours emits [Re h; Im h]
    torch.testing.assert_close(out[..., :n], out_ref, rtol=1e-12, atol=1e-12)
