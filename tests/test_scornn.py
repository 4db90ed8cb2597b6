"""scoRNN (Helfrich et al., ICML 2018): the column map is ((I + A)⁻¹(I − A)·D)ᵀ, exact, and autograd reproduces
scoRNN's own update rule."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.activations import modrelu
from admissible import admissible_values
from hypothesis_profiles import examples

F64 = torch.float64
EPS64 = torch.finfo(F64).eps
seeds = st.integers(0, 2**31 - 1)


@st.composite
def size_and_rho(draw, max_n=10):
    n = draw(st.integers(1, max_n))
    return n, draw(admissible_values("scornn", n, "rho", range(-1, max_n + 1)))


def build(n, seed, dtype=F64, **options):
    torch.manual_seed(seed)
    return uz.make_cell("scornn", 3, n, dtype=dtype, **options)


@settings(max_examples=examples(20))
@given(nr=size_and_rho(), seed=seeds)
def test_w_is_the_scaled_cayley_transform_by_a_dense_inverse(nr, seed):
    n, rho = nr
    cell = build(n, seed, rho=rho)
    a, eye = cell.skew().detach(), torch.eye(n, dtype=F64)
    d = torch.diag(cell.d)
    assert torch.equal(a, -a.T)
    assert (cell.d == -1).sum().item() == rho and (cell.d.abs() == 1).all()
    assert torch.linalg.det(d).item() == (-1) ** rho
    expected = (torch.linalg.inv(eye + a) @ (eye - a) @ d).T  # the code's row-form W, transposed
    torch.testing.assert_close(cell.recurrent_matrix().detach(), expected, rtol=0, atol=10 * n * EPS64)
    assert torch.linalg.det(cell.recurrent_matrix()).item() == pytest.approx((-1) ** rho, abs=1e-12)
    assert cell.unitarity_error().item() <= 10 * n * EPS64


@settings(max_examples=examples(10))
@given(n=st.integers(2, 12), seed=seeds)
def test_default_rho_and_init(n, seed):
    cell = build(n, seed)
    assert cell.rho == n // 2
    upper = cell.skew().detach().triu(1)
    s = upper.diagonal(1)[::2]
    assert torch.count_nonzero(upper - torch.diag(upper.diagonal(1), 1)) == 0  # 2x2 blocks only
    assert torch.count_nonzero(upper.diagonal(1)[1::2]) == 0
    assert s.numel() == n // 2 and (s <= 0).all() and (s > -1).all()  # −tan(θ/2), θ ∈ [0, π/2)
    assert cell.raw_skew.detach().tril().abs().max().item() == 0


def reference_loss(w, cell, x, target):
    r"""The cell's forward written out as scoRNN's code runs it, with its row-form W an explicit input
    (rows: h ← σ(x U + h W))."""
    h, outs = torch.zeros(x.shape[1], cell.hidden_size, dtype=x.dtype), []
    for x_t in x:
        h = modrelu(x_t @ cell.input.weight.T + h @ w, cell.act.bias.detach())
        outs.append(h)
    return (torch.stack(outs) - target).pow(2).mean()


def scornn_gradient(a, w, d, g):
    r"""scoRNN's closed form (``Cayley_Transform_Deriv``): Vᵀ − V, V = (I + A)⁻ᵀ G (D + Wᵀ), W its row form."""
    eye = torch.eye(a.shape[0], dtype=a.dtype)
    v = torch.linalg.solve((eye + a).T, g @ (torch.diag(d) + w.T))
    return v.T - v


@pytest.mark.parametrize("optimizer", [torch.optim.SGD, torch.optim.RMSprop, torch.optim.Adam])
@settings(max_examples=examples(4))
@given(n=st.sampled_from([4, 7, 10]), seed=seeds)
def test_autograd_reproduces_scornns_update_rule(optimizer, n, seed):
    # Note [scoRNN's update rule is gradient descent on A]: k steps of the optimizer on our parameter (autograd
    # through the solve) move A exactly as scoRNN's closed-form gradient fed to the same optimizer on a full A.
    cell = build(n, seed, rho=n // 3)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(5, 3, 3, dtype=F64, generator=g)
    target = torch.randn(5, 3, n, dtype=F64, generator=g)
    lr = 0.05
    full_a = cell.skew().detach().clone().requires_grad_()
    ours, theirs = optimizer([cell.raw_skew], lr=lr), optimizer([full_a], lr=lr)
    for _ in range(6):
        ours.zero_grad()
        (cell(x)[0] - target).pow(2).mean().backward()
        ours.step()
        a = full_a.detach()
        w = torch.linalg.solve(torch.eye(n, dtype=F64) + a, torch.eye(n, dtype=F64) - a) * cell.d
        w.requires_grad_()
        grad_w = torch.autograd.grad(reference_loss(w, cell, x, target), w)[0]
        full_a.grad = scornn_gradient(a, w.detach(), cell.d, grad_w)
        theirs.step()
    assert torch.dist(full_a.detach(), -full_a.detach().T).item() == 0  # the closed form keeps A skew
    torch.testing.assert_close(cell.skew().detach(), full_a.detach(), rtol=1e-9, atol=1e-11)
    assert torch.dist(cell.skew().detach(), build(n, seed, rho=n // 3).skew().detach()) > 1e-3  # A moved
    assert cell.unitarity_error().item() <= 10 * n * EPS64
    assert cell.raw_skew.detach().tril().abs().max().item() == 0  # the unused part got no update


def test_parameter_counts():
    c = build(8, 0, dtype=torch.float32).parameter_count()
    assert (c.recurrent_stored, c.recurrent_dof) == (64, 28)
    assert c.stored == 64 + 8 * 3 + 8  # raw skew, V (no bias), modReLU b; D is a buffer


@pytest.mark.parametrize("rho", [-1, 7, 2.0, True])
def test_bad_rho_rejected(rho):
    with pytest.raises(ValueError, match=r"rho \(number of −1 entries of D\) must be an int in \[0, hidden_size=6\]"):
        uz.make_cell("scornn", 3, 6, rho=rho)
