"""modReLU (docs/conventions.md#modrelu): phase kept, modulus ReLU(|z| + b), the real form, NaN-free gradients
at and near 0, the accepted ε, and the fused recurrence's step forms against autograd."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.activations import EPS_RANGE, ModReLU, modrelu
from urnn_zoo.cells.base import cell_options
from urnn_zoo.engine.recurrence import DenseMap, fused_recurrence
from urnn_zoo.engine.step_activations import step_activation
from hypothesis_profiles import examples

seeds = st.integers(0, 2**31 - 1)
EPS_MIN, EPS_MAX = EPS_RANGE


@settings(max_examples=examples(25))
@given(seed=seeds, n=st.integers(1, 16))
def test_complex_modrelu_keeps_the_phase_and_relus_the_modulus(seed, n):
    # The textbook map (Arjovsky et al., ICML 2016, arXiv 1511.06464, eq. 8) at the smallest accepted ε: for
    # |z| >= 1e-3, √(|z|² + ε) = |z| + O(ε/|z|) and |z|/(√(|z|² + ε) + ε) = 1 − O(ε/|z|²), so with ε = 1e-12 the
    # modulus is relu(|z| + b) within 1e-9 absolute plus 2e-6 relative.
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(4, n, dtype=torch.complex128, generator=g)
    b = torch.empty(n, dtype=torch.float64).uniform_(-1, 1, generator=g)
    y = modrelu(z, b, eps=EPS_MIN)
    away = z.abs() >= 1e-3
    torch.testing.assert_close(y.abs()[away], torch.relu(z.abs() + b)[away], rtol=2e-6, atol=1e-9)
    kept = y.abs() > 0
    torch.testing.assert_close(y[kept] / y[kept].abs(), z[kept] / z[kept].abs(), rtol=1e-12, atol=1e-12)


def test_eps_smooths_the_modulus_as_specified():
    z = torch.tensor([3 + 4j], dtype=torch.complex128)
    b = torch.tensor([0.5], dtype=torch.float64)
    eps = 1e-2
    modulus = (25 + eps) ** 0.5
    expected = z * (modulus + 0.5) / (modulus + eps)
    torch.testing.assert_close(modrelu(z, b, eps), expected)


@settings(max_examples=examples(25))
@given(seed=seeds)
def test_real_form_is_sign_times_relu(seed):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(10, dtype=torch.float64, generator=g)
    b = torch.randn(10, dtype=torch.float64, generator=g)
    torch.testing.assert_close(modrelu(z, b), torch.sign(z) * torch.relu(z.abs() + b))


def test_negative_bias_thresholds_positive_bias_passes():
    z = torch.tensor([0.3 + 0j, 0.3 + 0j], dtype=torch.complex128)
    y = modrelu(z, torch.tensor([-0.5, 0.5], dtype=torch.float64))
    assert y[0].abs().item() == 0 and y[1].abs().item() == pytest.approx(0.8, rel=1e-4)


@pytest.mark.parametrize("value", [0.0, 1e-30, 1e-20, 1e-12, 1e-6])
@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128, torch.float32, torch.float64])
def test_gradients_are_finite_at_and_near_zero(value, dtype):
    z = torch.full((3,), value, dtype=dtype, requires_grad=True)
    act = ModReLU(3, dtype=torch.float64 if dtype in (torch.complex128, torch.float64) else torch.float32)
    y = act(z)
    (torch.view_as_real(y) if y.is_complex() else y).sum().backward()
    grads = [z.grad, act.bias.grad]
    for grad in grads:
        real = torch.view_as_real(grad) if grad.is_complex() else grad
        assert torch.isfinite(real).all(), grad


BAD_EPS = [0, 0.0, -1, 1e-13, 1e13, math.nan, math.inf, True, "1e-5", None]
EPS_ERROR = r"modReLU eps: expected a real number with 1e-12 <= eps <= 1e\+12 \(eps = 0 makes modReLU\(0\) = 0/0\), got "


@pytest.mark.parametrize("eps", BAD_EPS, ids=repr)
def test_eps_outside_its_range_is_rejected(eps):
    # Note [modReLU's ε range]: ε = 0 is 0/0 at z = 0; outside [1e-12, 1e12] float32 overflows or flushes.
    with pytest.raises(ValueError, match=EPS_ERROR + rf"{repr(eps)}$".replace("(", r"\(").replace(")", r"\)")):
        ModReLU(2, eps=eps)
    with pytest.raises(ValueError, match=EPS_ERROR):
        modrelu(torch.zeros(1, 2, dtype=torch.complex128), torch.zeros(2, dtype=torch.float64), eps)
    u, h0 = torch.zeros(3, 1, 2, dtype=torch.complex128), torch.zeros(1, 2, dtype=torch.complex128)
    with pytest.raises(ValueError, match=EPS_ERROR):
        fused_recurrence(DenseMap(), [torch.eye(2, dtype=torch.complex128)], u, h0, "modrelu",
                         torch.zeros(2, dtype=torch.float64), eps)


@pytest.mark.parametrize("name", [n for n in uz.cell_names() if "eps" in cell_options(n)])
@pytest.mark.parametrize("eps", [0.0, 1e-13, 1e13], ids=repr)
def test_cells_reject_eps_outside_its_range(name, eps):
    with pytest.raises(ValueError, match=EPS_ERROR):
        uz.make_cell(name, 3, 8, eps=eps)


@pytest.mark.parametrize("eps", [EPS_MIN, EPS_MAX])
def test_both_ends_of_the_eps_range_are_accepted(eps):
    assert ModReLU(2, eps=eps).eps == eps


@pytest.mark.parametrize("bias_init", [-0.1, math.inf, math.nan, "0.1"], ids=repr)
def test_module_rejects_a_bad_bias_init(bias_init):
    with pytest.raises(ValueError, match=r"modReLU bias_init: expected a finite real number >= 0, got "):
        ModReLU(2, bias_init=bias_init)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_complex_modrelu_at_an_exact_kink_is_zero_with_zero_bias_gradient(dtype):
    # z = 3/4, ε = 1.5·2⁻¹² + 2⁻²⁴ and b = −(3/4 + 2⁻¹²): |z|² + ε = (3/4 + 2⁻¹²)² exactly in float32, so
    # √(|z|² + ε) + b = 0 exactly, relu(0) = 0 and relu'(0) = 0: h = 0 and ∂h/∂b = 0, on the boundary side.
    eps = 1.5 * 2.0**-12 + 2.0**-24
    z = torch.tensor([[0.75 + 0j]], dtype=torch.complex128 if dtype == torch.float64 else torch.complex64,
                     requires_grad=True)
    b = torch.tensor([-(0.75 + 2.0**-12)], dtype=dtype, requires_grad=True)
    h = modrelu(z, b, eps)
    (torch.view_as_real(h).sum()).backward()
    assert h.abs().item() == 0.0 and b.grad.item() == 0.0


def test_default_bias_keeps_a_zero_state_from_amplifying_gradients():
    # Note [modReLU at a zero state]: the slope at z = 0 is (√ε + b)/(√ε + ε), 1 for the default b = 0.
    act = ModReLU(4, dtype=torch.float64)
    assert act.bias.abs().max().item() == 0.0
    z = torch.zeros(4, dtype=torch.complex128, requires_grad=True)
    y = act(z)
    (grad,) = torch.autograd.grad(torch.view_as_real(y)[:, 0].sum(), z)
    assert grad.real.max().item() == pytest.approx(1.0, abs=1e-2)


def _edge_real(seed, batch, n, dtype):
    r"""Real pre-activations with zeros, and per-unit biases among 0, negative, either sign, ±1e6 and the exact
    kink |z| + b = 0 of the first row."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, n, dtype=dtype, generator=g)
    z[torch.rand(batch, n, generator=g) < 0.3] = 0
    kinds = torch.randint(0, 5, (n,), generator=g)
    uniform = torch.rand(n, dtype=dtype, generator=g)
    sign = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).to(dtype)
    bias = torch.stack([torch.zeros(n, dtype=dtype), -2 * uniform, 2 * uniform - 1, sign * 1e6,
                        -z[0].abs()])[kinds, torch.arange(n)]
    return z, bias, torch.randn(batch, n, dtype=dtype, generator=g)


@given(seed=seeds, batch=st.integers(1, 4), n=st.integers(1, 16), dtype=st.sampled_from([torch.float64, torch.float32]),
       kind=st.sampled_from(["modrelu", "tanh"]))
def test_real_step_forms_equal_autograd(seed, batch, n, dtype, kind):
    r"""The fused recurrence's real modReLU and tanh steps (urnn_zoo.step_activations, no C kernel) against
    autograd through `modrelu` and `torch.tanh` (the per-step loop): values, ġ and ∂ℓ/∂b, at z = 0, at
    |z| + b = 0 exactly (relu'(0) = 0 and sign'(0) = 0 on both), for negative and for ±1e6 biases."""
    z, bias, g = _edge_real(seed, batch, n, dtype)
    act = step_activation(kind, False, bias if kind == "modrelu" else None, 1e-5)
    saved = tuple(torch.empty_like(z) for _ in range(act.saved_count))
    h = act.forward(z, saved, torch.empty_like(z))
    gz = act.backward_step(g, z, h, saved, torch.empty_like(z))
    zz, bb = z.clone().requires_grad_(), bias.clone().requires_grad_()
    want = modrelu(zz, bb) if kind == "modrelu" else torch.tanh(zz)
    grads = torch.autograd.grad((want * g).sum(), [zz, bb] if kind == "modrelu" else [zz])
    tolerance = 1e-12 if dtype == torch.float64 else 1e-5
    pairs = [("h", h, want.detach()), ("dz", gz, grads[0])]
    if kind == "modrelu":
        pairs.append(("db", act.bias_grad_rows.sum(0), grads[1]))
    for what, got, expected in pairs:
        assert torch.isfinite(got).all(), what
        scale = max(expected.abs().max().item(), 1.0)
        assert (got - expected).abs().max().item() <= tolerance * scale, what


@given(name=st.sampled_from(["kru", "fcurnn", "rcurnn"]), seed=st.integers(0, 2**31 - 1),
       bias=st.floats(0.01, 0.1), zeros=st.integers(100, 200))
@settings(max_examples=examples(12), deadline=None)
def test_a_learned_initial_state_keeps_float32_gradients_finite_through_leading_zeros(name, seed, bias, zeros):
    r"""Leading zero inputs (the first rows of an MNIST digit) from a zero state keep z = 0, where the backward
    multiplies by (√ε + b)/(√ε + ε) per step (Note [modReLU at a zero state]): ≥ 4 for a bias b ≥ 0.01 that
    training grew, so 100 such steps overflow float32. A learned initial state drawn away from zero (the uRNN
    codes' U(±√(3/(2N)))) keeps the state off that point: every gradient is finite, where the zero state's is not."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.zeros(zeros + 5, 2, 3)
    x[zeros:] = torch.rand(5, 2, 3, generator=gen)
    finite = {}
    for learned in (True, False):
        torch.manual_seed(seed)
        cell = uz.make_cell(name, 3, 16, dtype=torch.float32, learn_initial_state=learned)
        with torch.no_grad():
            cell.fused_activation().bias.fill_(bias)
        out, _ = cell(x)
        grads = torch.autograd.grad(torch.view_as_real(out[-1]).sum() if out.is_complex() else out[-1].sum(),
                                    [p for p in cell.parameters() if p.requires_grad])
        finite[learned] = all(torch.isfinite(g).all() for g in grads)
    assert finite == {True: True, False: False}
