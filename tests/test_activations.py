"""modReLU (DESIGN §3): phase kept, modulus ReLU(|z| + b), the real form, NaN-free gradients at and near 0."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from urnn_zoo.activations import ModReLU, modrelu

seeds = st.integers(0, 2**31 - 1)


@settings(max_examples=25)
@given(seed=seeds, n=st.integers(1, 16))
def test_complex_modrelu_keeps_the_phase_and_relus_the_modulus(seed, n):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(4, n, dtype=torch.complex128, generator=g)
    b = torch.empty(n, dtype=torch.float64).uniform_(-1, 1, generator=g)
    y = modrelu(z, b, eps=0.0)
    torch.testing.assert_close(y.abs(), torch.relu(z.abs() + b), rtol=1e-12, atol=1e-12)
    kept = y.abs() > 0
    torch.testing.assert_close(y[kept] / y[kept].abs(), z[kept] / z[kept].abs(), rtol=1e-12, atol=1e-12)


def test_eps_smooths_the_modulus_as_specified():
    z = torch.tensor([3 + 4j], dtype=torch.complex128)
    b = torch.tensor([0.5], dtype=torch.float64)
    eps = 1e-2
    modulus = (25 + eps) ** 0.5
    expected = z * (modulus + 0.5) / (modulus + eps)
    torch.testing.assert_close(modrelu(z, b, eps), expected)


@settings(max_examples=25)
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


def test_module_rejects_negative_eps():
    with pytest.raises(ValueError, match="eps must be >= 0, got -1"):
        ModReLU(2, eps=-1)


def test_default_bias_keeps_a_zero_state_from_amplifying_gradients():
    # Note [modReLU at a zero state]: the slope at z = 0 is (√ε + b)/(√ε + ε), 1 for the default b = 0.
    act = ModReLU(4, dtype=torch.float64)
    assert act.bias.abs().max().item() == 0.0
    z = torch.zeros(4, dtype=torch.complex128, requires_grad=True)
    y = act(z)
    (grad,) = torch.autograd.grad(torch.view_as_real(y)[:, 0].sum(), z)
    assert grad.real.max().item() == pytest.approx(1.0, abs=1e-2)
