"""oRNN (Mhammedi et al., ICML 2017): W is the product of its m LAPACK-form reflectors, exactly orthogonal."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.cells.ornn import init_reflectors, reflector_product
from admissible import admissible_values
from hypothesis_profiles import examples

F64 = torch.float64
EPS64 = torch.finfo(F64).eps
seeds = st.integers(0, 2**31 - 1)


@st.composite
def sizes(draw, max_n=10):
    n = draw(st.integers(2, max_n))
    return n, draw(admissible_values("ornn", n, "m", range(max_n + 1)))


def explicit_product(below):
    r"""H_1 ⋯ H_m with H_k = I − 2 v_k v_kᵀ/‖v_k‖², v_k = e_k + strictly-lower entries of column k."""
    n, m = below.shape
    w = torch.eye(n, dtype=below.dtype)
    for k in range(m):
        v = below[:, k].clone()
        v[:k] = 0
        v[k] = 1
        w = w @ (torch.eye(n, dtype=below.dtype) - 2 * torch.outer(v, v) / v.dot(v))
    return w


def build(n, m, seed, **options):
    torch.manual_seed(seed)
    return uz.make_cell("ornn", 3, n, dtype=F64, m=m, **options)


@settings(max_examples=examples(20))
@given(nm=sizes(), seed=seeds, init=st.sampled_from(["qr", "uniform"]), method=st.sampled_from(["wy", "householder_product"]))
def test_w_is_the_explicit_product_of_the_m_reflectors(nm, seed, init, method):
    n, m = nm
    cell = build(n, m, seed, init=init, method=method)
    w = cell.recurrent_matrix().detach()
    scale = 1 + cell.reflectors.detach().norm().item()  # "uniform" can draw large reflector entries
    torch.testing.assert_close(w, explicit_product(cell.reflectors.detach()), rtol=0, atol=100 * n * EPS64 * scale)
    assert cell.unitarity_error().item() <= 100 * n * EPS64 * scale
    assert torch.linalg.det(w).item() == pytest.approx((-1) ** m, abs=1e-9)


@settings(max_examples=examples(10))
@given(seed=seeds, n=st.integers(3, 10))
def test_fewer_reflections_than_units(seed, n):
    m = n // 2  # m < n: the product is not all of O(n), but every reflector still counts
    cell = build(n, m, seed)
    assert cell.reflectors.shape == (n, m)
    torch.testing.assert_close(cell.recurrent_matrix().detach(), explicit_product(cell.reflectors.detach()), rtol=0, atol=10 * n * EPS64)
    count = cell.parameter_count()
    assert (count.recurrent_stored, count.recurrent_dof) == (n * m, n * m - m * (m + 1) // 2)


@settings(max_examples=examples(8))
@given(nm=sizes(max_n=7), seed=seeds)
def test_the_chart_has_full_rank(nm, seed):
    # The free entries map to W with a Jacobian of rank n·m − m(m+1)/2: no free entry is redundant
    # (with m = n this is dim O(n) = n(n−1)/2).
    n, m = nm
    g = torch.Generator().manual_seed(seed)
    below = init_reflectors(n, m, "qr", generator=g)
    rows, cols = torch.tril_indices(n, m, -1)

    def w_of(free):
        return reflector_product(torch.zeros(n, m, dtype=F64).index_put((rows, cols), free))

    jac = torch.autograd.functional.jacobian(w_of, below[rows, cols]).reshape(n * n, -1)
    dof = n * m - m * (m + 1) // 2
    assert jac.shape[1] == dof
    assert torch.linalg.matrix_rank(jac).item() == dof


@settings(max_examples=examples(8))
@given(nm=sizes(max_n=8), seed=seeds)
def test_wy_and_householder_product_agree_in_value_and_gradient(nm, seed):
    n, m = nm
    g = torch.Generator().manual_seed(seed)
    below = init_reflectors(n, m, "qr", generator=g).requires_grad_()
    probe = torch.randn(n, n, dtype=F64, generator=g)
    grads = []
    for method in ("wy", "householder_product"):
        w = reflector_product(below, method)
        grads.append(torch.autograd.grad((w * probe).sum(), below)[0])
    torch.testing.assert_close(reflector_product(below, "wy"), reflector_product(below, "householder_product"), rtol=0, atol=1e-13)
    torch.testing.assert_close(grads[0], grads[1], rtol=1e-10, atol=1e-12)
    assert grads[0].triu().abs().max().item() == 0  # the entries on and above the diagonal are unused


@settings(max_examples=examples(5))
@given(seed=seeds, n=st.sampled_from([4, 8, 16]), method=st.sampled_from(["wy", "householder_product"]))
def test_exact_after_adam_steps(seed, n, method):
    # The original's own rule (Adam, then tril and unit columns) has nothing left to do in the LAPACK chart:
    # every value of the parameter is a product of reflections. Adam with a large lr moves W far; it stays exact.
    cell = build(n, n, seed, method=method)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 4, 3, dtype=F64, generator=g)
    target = torch.randn(6, 4, n, dtype=F64, generator=g)
    w0 = cell.recurrent_matrix().detach()
    opt = torch.optim.Adam(cell.parameters(), lr=0.05)
    for _ in range(10):
        opt.zero_grad()
        (cell(x)[0] - target).pow(2).mean().backward()
        opt.step()
        cell.on_optimizer_step()
    assert (cell.recurrent_matrix().detach() - w0).abs().max() > 1e-2
    assert cell.unitarity_error().item() <= 10 * n * EPS64
    assert cell.reflectors.detach().triu().abs().max().item() == 0


@settings(max_examples=examples(4))
@given(seed=seeds)
def test_recurrent_matrix_is_what_the_step_applies(seed):
    cell = build(6, 4, seed, activation="modrelu")  # real modReLU is the identity up to O(|b|/|z|) for large z
    h = torch.randn(2, 6, dtype=F64, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        stepped = cell.recur(torch.zeros_like(h), 1e8 * h, cell.prepare()) / 1e8
    torch.testing.assert_close(stepped, h @ cell.recurrent_matrix().mT, rtol=1e-7, atol=1e-7)


def test_activations_and_initial_state():
    x = torch.randn(5, 2, 3, dtype=F64)
    for activation in ("leaky_relu", "tanh", "modrelu"):
        cell = build(6, 6, 0, activation=activation)
        assert cell(x)[0].shape == (5, 2, 6)
        assert (cell.bias is None) == (activation == "modrelu")
    cell = build(6, 6, 0)
    assert cell.h0 is not None and cell.h0.abs().max() <= (3 / 12) ** 0.5
    torch.testing.assert_close(cell.initial_state(2), cell.h0.expand(2, -1))
    assert build(6, 6, 0, learn_initial_state=False).initial_state(2).abs().sum() == 0
    assert build(6, 6, 0).parameter_count().stored == 36 + 6 * 3 + 6 + 6  # reflectors, V, b, h0


@pytest.mark.parametrize(
    "options, message",
    [
        ({"m": 0}, r"m \(number of reflections\) must be an int in \[1, hidden_size=6\], got 0"),
        ({"m": 7}, r"got 7"),
        ({"init": "haar"}, r"init must be one of \('qr', 'uniform'\), got 'haar'"),
        ({"method": "qr"}, r"method must be one of"),
        ({"activation": "relu"}, r"activation must be one of \('leaky_relu', 'tanh', 'modrelu'\), got 'relu'"),
    ],
)
def test_bad_options_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        uz.make_cell("ornn", 3, 6, **options)
