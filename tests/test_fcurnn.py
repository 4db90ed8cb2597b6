"""Full-capacity uRNN (fcurnn): its parametrisations, counts, recurrence and its own Cayley-step update."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.activations import modrelu
from urnn_zoo.optim import StiefelCayley
from hypothesis_profiles import examples

seeds = st.integers(0, 2**31 - 1)
PARAMS = ("cayley", "matrix_exp", "none")
N_IN = 3
EPS64 = torch.finfo(torch.float64).eps
EPS32 = torch.finfo(torch.float32).eps


def build(n, seed=0, dtype=torch.float64, **options):
    torch.manual_seed(seed)
    return uz.make_cell("fcurnn", N_IN, n, dtype=dtype, **options)


def train(cell, steps, seed, lr=1e-2, stiefel_lr=1e-2, reproject_every=0):
    r"""k steps on a fixed regression problem (recall the first input at the last step): Adam on every
    parameter except ``stiefel_parameters()``, which take the Cayley step."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 4, N_IN, generator=g, dtype=cell.real_dtype)
    model = uz.SequenceModel(cell, 2)
    special = {id(p) for p in cell.stiefel_parameters()}
    adam = torch.optim.Adam([p for p in model.parameters() if id(p) not in special], lr=lr)
    optimizers = [adam]
    if special:
        optimizers.append(StiefelCayley(cell.stiefel_parameters(), lr=stiefel_lr, reproject_every=reproject_every))
    losses = []
    for _ in range(steps):
        for opt in optimizers:
            opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), x[0, :, :2])
        loss.backward()
        for opt in optimizers:
            opt.step()
        cell.on_optimizer_step()
        losses.append(loss.item())
    return losses


@pytest.mark.parametrize("parametrization", PARAMS)
@settings(max_examples=examples(3))
@given(n=st.integers(1, 20))
def test_counts_are_n_squared_dof_and_2n_squared_stored(parametrization, n):
    c = build(n, parametrization=parametrization).parameter_count()
    assert (c.recurrent_dof, c.recurrent_stored) == (n * n, 2 * n * n)
    # the zoo's template: complex V (2·N·n_in), N modReLU biases, the recurrent map
    assert c.stored == 2 * n * n + 2 * n * N_IN + n
    assert build(n, parametrization=parametrization, learn_initial_state=True).parameter_count().stored == c.stored + 2 * n


@pytest.mark.parametrize("parametrization", PARAMS)
@settings(max_examples=examples(5))
@given(seed=seeds, n=st.integers(1, 24))
def test_unitary_at_init_in_float64(parametrization, seed, n):
    cell = build(n, seed, parametrization=parametrization)
    assert cell.unitarity_error().item() <= 10 * n * EPS64
    assert cell.unitarity_error().item() <= 10 * n * EPS64


def test_identity_init_and_svd_init_differ_by_seed():
    eye = torch.eye(5, dtype=torch.complex128)
    for p in PARAMS:
        torch.testing.assert_close(build(5, parametrization=p, init="identity").recurrent_matrix().detach(), eye)
    w1, w2 = (build(5, s).recurrent_matrix().detach() for s in (1, 2))
    assert not torch.allclose(w1, w2)


@pytest.mark.parametrize("parametrization", ["cayley", "matrix_exp"])
@settings(max_examples=examples(4))
@given(seed=seeds, n=st.integers(2, 12), k=st.integers(1, 8))
def test_unitary_in_float64_after_k_adam_steps(parametrization, seed, n, k):
    cell = build(n, seed, parametrization=parametrization)
    before = cell.recurrent_matrix().detach().clone()
    train(cell, k, seed, lr=5e-2)
    assert not torch.allclose(cell.recurrent_matrix().detach(), before), "training must move W"
    assert cell.unitarity_error().item() <= 10 * n * EPS64


@settings(max_examples=examples(6))
@given(seed=seeds, n=st.integers(2, 12), k=st.integers(1, 10))
def test_unitary_in_float64_after_k_cayley_steps(seed, n, k):
    cell = build(n, seed, parametrization="none")
    before = cell.weight.detach().clone()
    train(cell, k, seed, stiefel_lr=0.1)
    assert not torch.allclose(cell.weight.detach(), before), "the Cayley step must move W"
    assert cell.unitarity_error().item() <= 10 * n * EPS64 * math.sqrt(k + 1)


@settings(max_examples=examples(5))
@given(seed=seeds, n=st.integers(2, 10))
def test_the_cayley_step_alone_descends_on_the_rnn_loss(seed, n):
    cell = build(n, seed, parametrization="none")
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 4, N_IN, generator=g, dtype=torch.float64)
    target = torch.randn(6, 4, 2 * n, generator=g, dtype=torch.float64)
    opt = StiefelCayley(cell.stiefel_parameters(), lr=1e-4)
    loss0 = torch.nn.functional.mse_loss(cell(x)[0], target)
    loss0.backward()
    opt.step()
    with torch.no_grad():
        loss1 = torch.nn.functional.mse_loss(cell(x)[0], target)
    assert loss1.item() <= loss0.item()


@pytest.mark.parametrize("parametrization", PARAMS)
@settings(max_examples=examples(2))
@given(seed=seeds)
def test_float32_error_after_k_steps_stays_under_the_stated_bound(parametrization, seed):
    # Stated bound (N=16, 30 steps, error of the stored float32 W evaluated in double): 10·N·eps32 ≈ 1.9e-5.
    # cayley/matrix_exp recompute W from their parameter, so their error is one evaluation's rounding and does
    # not grow; the Cayley step's error adds up like a random walk, ≈ √k times the rounding.
    n, k = 16, 30
    cell = build(n, seed, torch.float32, parametrization=parametrization)
    train(cell, k, seed)
    assert cell.unitarity_error().item() <= 10 * n * EPS32


@settings(max_examples=examples(2))
@given(seed=seeds)
def test_float32_reprojection_holds_the_cayley_step_at_rounding(seed):
    n, k = 16, 30
    free, held = (build(n, seed, torch.float32, parametrization="none") for _ in range(2))
    train(free, k, seed)
    train(held, k, seed, reproject_every=10)
    assert held.unitarity_error().item() <= 2 * math.sqrt(n) * EPS32
    assert held.unitarity_error().item() * 2 <= free.unitarity_error().item()


def test_stiefel_parameters_only_for_the_raw_weight():
    raw = build(4, parametrization="none")
    assert raw.stiefel_parameters() == raw.recurrent_parameters() == [raw.weight]
    for p in ("cayley", "matrix_exp"):
        cell = build(4, parametrization=p)
        assert cell.stiefel_parameters() == []
        assert cell.recurrent_parameters() == [cell.parametrizations.weight.original]


@pytest.mark.parametrize("parametrization", ["cayley", "matrix_exp"])
def test_parametrised_weight_is_computed_once_per_forward(parametrization):
    cell = build(4, parametrization=parametrization)
    calls = []
    cell.parametrizations.weight[0].register_forward_hook(lambda *args: calls.append(1))
    cell(torch.randn(10, 2, N_IN, dtype=torch.float64))
    assert len(calls) == 1


@pytest.mark.parametrize("parametrization", PARAMS)
@settings(max_examples=examples(3))
@given(seed=seeds, n=st.integers(1, 8))
def test_recurrence_is_modrelu_of_w_h_plus_v_x(parametrization, seed, n):
    # Column convention h_t = modReLU(W h_{t−1} + V x_t), written out per sample with W and V as matrices.
    cell = build(n, seed, parametrization=parametrization, learn_initial_state=True)
    x = torch.randn(4, 2, N_IN, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    out, _ = cell(x)
    w, v, b = cell.recurrent_matrix().detach(), cell.input.weight.detach(), cell.act.bias.detach()
    h = cell.h0.detach().unsqueeze(-1).expand(n, 2)  # columns are samples
    for t in range(4):
        h = modrelu((w @ h + v @ x[t].T.to(v.dtype)).T, b, cell.act.eps).T
        torch.testing.assert_close(out[t].detach(), torch.cat([h.real, h.imag]).T, rtol=1e-12, atol=1e-12)


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match=r"parametrization must be one of \('cayley', 'matrix_exp', 'none'\), got 'householder'"):
        build(4, parametrization="householder")
    with pytest.raises(ValueError, match=r"init must be one of \('svd', 'identity'\), got 'haar'"):
        build(4, init="haar")


def test_matrix_exp_state_dict_is_torch_orthogonals():
    # Note [fcurnn parametrisations]: "matrix_exp" registers its own module (the zoo's expm) under the names of
    # torch.nn.utils.parametrizations.orthogonal, so a state dict written with torch's module loads unchanged.
    n = 4
    torch_module = torch.nn.Module()
    torch_module.weight = torch.nn.Parameter(torch.eye(n, dtype=torch.complex128))
    torch.nn.utils.parametrizations.orthogonal(torch_module, "weight", orthogonal_map="matrix_exp")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # a trained-looking state: a unitary base and a generator of norm ≈ 1
        torch_module.parametrizations.weight[0].base.copy_(build(n, 3).recurrent_matrix())
        x = 0.3 * torch.randn(n, n, dtype=torch.complex128, generator=g)
        torch_module.parametrizations.weight.original.copy_(x)
    cell = build(n, parametrization="matrix_exp")
    saved = torch_module.state_dict()
    assert set(saved) <= set(cell.state_dict())
    cell.load_state_dict({**cell.state_dict(), **saved})
    # same W from the same stored numbers, to the accuracy of torch's exponential at this norm (outside its
    # faulty band, so both are accurate)
    torch.testing.assert_close(cell.recurrent_matrix().detach(), torch_module.weight.detach(), rtol=0, atol=1e-14)


def test_matrix_exp_rejects_a_non_unitary_assignment():
    cell = build(3, parametrization="matrix_exp")
    message = r"UnitaryExpm expects a unitary matrix \(max \|WᴴW − I\| <= .*\), got 3\.0e\+00"  # WᴴW − I = 3I
    with pytest.raises(ValueError, match=message):
        cell.weight = 2 * torch.eye(3, dtype=torch.complex128)
    with pytest.raises(ValueError, match=r"UnitaryExpm expects a square \(n, n\) unitary matrix, got shape \(3, 2\)"):
        cell.parametrizations.weight[0].right_inverse(torch.zeros(3, 2, dtype=torch.complex128))
