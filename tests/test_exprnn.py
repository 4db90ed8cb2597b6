"""expRNN (Lezcano-Casado & Martínez-Rubio, ICML 2019) through geotorch: the map, the inits, caching, and dynamic
trivialization."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.cells.base import skew_init
from urnn_zoo.cells.exprnn import cayley_map
from urnn_zoo.testing import adam_steps
from hypothesis_profiles import examples

F64 = torch.float64
EPS64 = torch.finfo(F64).eps
seeds = st.integers(0, 2**31 - 1)
maps = st.sampled_from(["expm", "cayley"])
inits = st.sampled_from(["henaff", "cayley"])


def build(n, seed, dtype=F64, **options):
    torch.manual_seed(seed)
    return uz.make_cell("exprnn", 3, n, dtype=dtype, **options)


@settings(max_examples=examples(10))
@given(n=st.integers(1, 9), seed=seeds, map_=maps, init=inits)
def test_w_is_the_transposed_map_of_the_skew_generator(n, seed, map_, init):
    cell = build(n, seed, map=map_, init=init)
    a = cell.skew().detach()
    torch.testing.assert_close(a, -a.T, rtol=0, atol=0)
    if map_ == "expm":  # A is block-diagonal at init: exp(A) is a block rotation, in closed form
        phi = torch.eye(n, dtype=F64)
        for i in range(0, n - 1, 2):
            c, s = torch.cos(a[i, i + 1]), torch.sin(a[i, i + 1])
            phi[i : i + 2, i : i + 2] = torch.stack([torch.stack([c, s]), torch.stack([-s, c])])
    else:  # expRNN's cayley_map: torch.solve(I − A, I + A) solves (I + A)·Y = I − A
        phi = torch.linalg.inv(torch.eye(n, dtype=F64) + a) @ (torch.eye(n, dtype=F64) - a)
    torch.testing.assert_close(cell.base, torch.eye(n, dtype=F64), rtol=0, atol=0)
    torch.testing.assert_close(cell.recurrent_matrix().detach(), phi.T, rtol=0, atol=10 * n * EPS64)
    assert cell.unitarity_error().item() <= 10 * max(n, 2) * EPS64
    assert torch.linalg.det(cell.recurrent_matrix()).item() == pytest.approx(1.0, abs=1e-12)  # SO(n) from I


@settings(max_examples=examples(10))
@given(angle=st.floats(1e-4, 0.7), n=st.sampled_from([2, 5]))
def test_small_generators_stay_exact(angle, n):
    # Note [matrix_exp of a single matrix] (urnn_zoo.linalg): torch's single-matrix matrix_exp loses up to
    # 1.9e-10 (float64) for ‖A‖₁ in (3.4e-4, 0.05], the size of A early in training and after every re-base.
    for dtype, bound in ((F64, 10 * n * EPS64), (torch.float32, 10 * n * torch.finfo(torch.float32).eps)):
        cell = build(n, 0, dtype=dtype)
        with torch.no_grad():
            cell.raw_skew.zero_()
            cell.raw_skew[0, 1] = angle
        assert cell.unitarity_error().item() <= bound
        torch.testing.assert_close(cell.recurrent_matrix()[0, 1].double(), torch.tensor(-torch.sin(torch.tensor(angle, dtype=F64)).item(), dtype=F64), rtol=0, atol=10 * torch.finfo(dtype).eps)


@settings(max_examples=examples(10))
@given(n=st.integers(2, 10), seed=seeds)
def test_inits_are_block_diagonal_with_the_papers_angles(n, seed):
    g = torch.Generator().manual_seed(seed)
    for init in ("henaff", "cayley"):
        a = skew_init(n, init, generator=g)
        upper = a.triu(1)
        s = upper.diagonal(1)[::2]
        assert torch.count_nonzero(upper - torch.diag(upper.diagonal(1), 1)) == 0  # only (2i, 2i+1)
        assert torch.count_nonzero(upper.diagonal(1)[1::2]) == 0
        assert s.numel() == n // 2
        if init == "henaff":
            assert s.abs().max() <= math.pi
        else:  # −tan(θ/2), θ ∈ [0, π/2): in (−1, 0]; the Cayley map turns each block into a rotation by θ
            assert (s <= 0).all() and (s > -1).all()
            theta = -2 * torch.atan(s)
            blocks = cayley_map(s[:, None, None] * torch.tensor([[0.0, 1.0], [-1.0, 0.0]], dtype=F64))
            torch.testing.assert_close(blocks[:, 0, 0], torch.cos(theta), rtol=0, atol=1e-15)


@settings(max_examples=examples(6))
@given(n=st.sampled_from([4, 8, 16]), seed=seeds, map_=maps, rebase_every=st.sampled_from([0, 1, 3]))
def test_exact_after_adam_steps_static_and_dynamic(n, seed, map_, rebase_every):
    cell = build(n, seed, map=map_, rebase_every=rebase_every)
    w0 = cell.recurrent_matrix().detach().clone()
    adam_steps(cell, 7, seed)
    assert (cell.recurrent_matrix().detach() - w0).abs().max() > 1e-2
    assert cell.unitarity_error().item() <= 10 * n * EPS64
    assert cell.optimizer_steps.item() == (7 if rebase_every else 0)
    if rebase_every == 0:
        torch.testing.assert_close(cell.base, torch.eye(n, dtype=F64), rtol=0, atol=0)
    else:
        assert torch.dist(cell.base, torch.eye(n, dtype=F64)) > 1e-2
        assert frobenius(cell.base.mT @ cell.base - torch.eye(n, dtype=F64)) <= 10 * n * EPS64


def frobenius(m):
    return torch.linalg.matrix_norm(m).item()


@settings(max_examples=examples(6))
@given(n=st.integers(2, 10), seed=seeds, map_=maps)
def test_rebase_moves_the_base_and_keeps_the_function(n, seed, map_):
    cell = build(n, seed, map=map_, rebase_every=2)
    x = adam_steps(cell, 1, seed)  # one step: A != 0, not yet re-based
    assert cell.raw_skew.detach().triu(1).abs().max() > 0
    w, out = cell.recurrent_matrix().detach().clone(), cell(x)[0].detach()
    skew_before = cell.raw_skew
    cell.on_optimizer_step()  # the second step re-bases
    assert cell.raw_skew is skew_before  # same Parameter object: the optimizer keeps its state
    assert cell.raw_skew.abs().max().item() == 0
    torch.testing.assert_close(cell.base.mT, w, rtol=0, atol=10 * n * EPS64)
    torch.testing.assert_close(cell.recurrent_matrix().detach(), w, rtol=0, atol=10 * n * EPS64)
    torch.testing.assert_close(cell(x)[0].detach(), out, rtol=1e-12, atol=1e-12)


def test_state_dict_carries_base_and_step_counter():
    a = build(6, 1, rebase_every=2)
    adam_steps(a, 3, 0)
    b = build(6, 2, rebase_every=2)
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(b.base, a.base, rtol=0, atol=0)
    assert b.optimizer_steps.item() == 3
    torch.testing.assert_close(b.recurrent_matrix(), a.recurrent_matrix(), rtol=0, atol=0)


@pytest.mark.parametrize("map_", ["expm", "cayley"])
def test_the_map_is_evaluated_once_per_forward(map_):
    # The base class wraps forward in `parametrize.cached()`; geotorch's map must honour it.
    cell = build(5, 0, map=map_)
    so = cell.recurrent_kernel.parametrizations.weight[0]
    calls, inner = [0], so.triv

    def counting(a):
        calls[0] += 1
        return inner(a)

    so.triv = counting
    out, _ = cell(torch.randn(20, 2, 3, dtype=F64))
    out.sum().backward()
    assert calls[0] == 1


def test_parameter_counts_and_float32():
    cell = build(8, 0, dtype=torch.float32)
    c = cell.parameter_count()
    assert (c.recurrent_stored, c.recurrent_dof) == (64, 28)
    assert c.stored == 64 + 8 * 3 + 8  # raw skew, V (no bias), modReLU b
    assert cell.base.dtype == torch.float32 and cell.unitarity_error().item() < 1e-5


@pytest.mark.parametrize(
    "options, message",
    [
        ({"map": "expmap"}, r"map must be one of \('expm', 'cayley'\), got 'expmap'"),
        ({"init": "haar"}, r"init must be one of \('henaff', 'cayley'\), got 'haar'"),
        ({"rebase_every": -1}, r"rebase_every must be an int >= 0 \(0: static\), got -1"),
        ({"rebase_every": 2.5}, r"got 2.5"),
    ],
)
def test_bad_options_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        uz.make_cell("exprnn", 3, 6, **options)
