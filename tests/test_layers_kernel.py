r"""The EURNN layers' C kernel (urnn_zoo.engine.layers_kernel, Note [EURNN layer kernel]): which perms it takes,
one step each way against the layers written out as dense matrices, the fused recurrence and the cells with it
against the torch-operator path (values and every gradient), gradcheck with it, the fallbacks, and what it
reports to the operator counter."""
from __future__ import annotations

import itertools
import os
import shutil

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.cells.eurnn_layers import LayersMap, layer_geometry
from urnn_zoo.engine import kernels
from urnn_zoo.engine.layers_kernel import layers_cost
from urnn_zoo.engine.recurrence import StepRecord, fused_recurrence
from urnn_zoo.opcount import count_operators
import kernel_spy
from kernel_spy import kernels_used
from test_recurrence import assert_close  # |got − want| <= rel · max(1, max|want|)

COMPILER = shutil.which(os.environ.get("CC", "cc"))
needs_compiler = pytest.mark.skipif(COMPILER is None, reason="no C compiler on this machine")
f32, f64, c64, c128 = torch.float32, torch.float64, torch.complex64, torch.complex128
DTYPES = [c128, c64, f64, f32]
DOUBLE = {c128: True, f64: True, c64: False, f32: False}
seeds = st.integers(0, 2**31 - 1)
# Kernel path against the torch-operator path, relative to each tensor's scale: float64 to 1e-12 (the forward
# rounds as the operators do; the gradients sum the same terms in another order); float32 to 1e-5 on values
# and 5e-5 on gradients (measured over 150 draws of test_the_kernel_path_equals_the_torch_operator_path's cases,
# T <= 8, L <= 6: 3.7e-7 and 1.3e-6; the gradients of a and b sum B·T terms in another order, and T steps
# compound the rounding).
TOLERANCE = {True: (1e-12, 1e-12), False: (1e-5, 5e-5)}
NAMES = ("layers_forward", "layers_adjoint")


def kernel_path(use: bool, expect=None):
    r"""kernel_spy.kernel_path with this file's kernels expected by default."""
    return kernel_spy.kernel_path(use, NAMES if expect is None else expect)


# ----------------------------------------------------------------------------------------------------------
# Perms, written out from their definitions (independent of urnn_zoo's construction)
# ----------------------------------------------------------------------------------------------------------

def pairs_perm(n, pairs):
    perm = list(range(n))
    for p, q in pairs:
        perm[p], perm[q] = q, p
    return perm


def block_perm(n, o, s, m):
    r"""Units (o + 2s·k + j, o + 2s·k + j + s), j < s, for the blocks of 2s in [o, o + m); the rest fixed."""
    return pairs_perm(n, [(o + k + j, o + k + j + s) for k in range(0, m, 2 * s) for j in range(s)])


def tunable_perms(n, layers):
    r"""Jing et al.'s tunable layers: (0,1),(2,3),… then (1,2),(3,4),…, alternating; a coordinate left over (N
    odd, or the ends of the second kind) is in no unit."""
    first = pairs_perm(n, [(p, p + 1) for p in range(0, n - 1, 2)])
    second = pairs_perm(n, [(p, p + 1) for p in range(1, n - 1, 2)])
    return torch.tensor([first if l % 2 == 0 else second for l in range(layers)])


def fft_perms(n):
    r"""Jing et al.'s FFT-style layers: layer k pairs i with i + N/2^{k+1} where that bit of i is clear."""
    strides = [n >> (k + 1) for k in range(n.bit_length() - 1)]
    return torch.tensor([pairs_perm(n, [(i, i + s) for i in range(n) if not i & s]) for s in strides])


def geometry_oracle(perm):
    r"""Every (o, s, M) whose block perm is ``perm`` (by enumeration); for a perm that moves nothing: (0, 1, 0)."""
    n = len(perm)
    if perm == list(range(n)):
        return [(0, 1, 0)]
    found = []
    for o, k in itertools.product(range(n), range(n.bit_length())):
        s = 1 << k
        for m in range(2 * s, n - o + 1, 2 * s):
            if block_perm(n, o, s, m) == perm:
                found.append((o, s, m))
    return found


geometries = st.integers(1, 12).flatmap(lambda n: st.tuples(
    st.just(n), st.integers(0, n - 1).flatmap(lambda o: st.tuples(
        st.just(o), st.integers(0, 3).map(lambda k: 1 << k)).flatmap(lambda os_: st.tuples(
            st.just(os_[0]), st.just(os_[1]), st.integers(0, (n - os_[0]) // (2 * os_[1])).map(
                lambda c: 2 * os_[1] * c))))))


@given(geometries)
def test_layer_geometry_reads_every_block_perm(geometry):
    n, (o, s, m) = geometry
    perm = block_perm(n, o, s, m)
    got = layer_geometry(torch.tensor([perm]))
    assert got is not None and tuple(got[0].tolist()) in geometry_oracle(perm)
    assert got.dtype == torch.int64 and got.device.type == "cpu"


@given(st.integers(1, 10).flatmap(lambda n: st.permutations(range(n))))
def test_layer_geometry_refuses_every_other_perm(order):
    r"""Any permutation (involution or not): a geometry exactly when the enumeration finds one."""
    perm = list(order)
    got = layer_geometry(torch.tensor([perm]))
    oracle = geometry_oracle(perm)
    assert (got is None) == (not oracle)
    if got is not None:
        assert tuple(got[0].tolist()) in oracle


@pytest.mark.parametrize("n", [2, 3, 7, 8, 9, 16])
def test_the_cells_perms_are_recognised(n):
    for layers in range(1, 7):
        assert layer_geometry(tunable_perms(n, layers)) is not None
    if n & (n - 1) == 0:
        assert layer_geometry(fft_perms(n)).tolist() == [[0, n >> (k + 1), n] for k in range(n.bit_length() - 1)]
    cell = uz.make_cell("eurnn", 2, 2 * n, capacity=6)
    assert torch.equal(cell.perm, tunable_perms(2 * n, 6))
    if n & (n - 1) == 0:
        assert torch.equal(uz.make_cell("eurnn_fft", 2, n).perm, fft_perms(n))


# ----------------------------------------------------------------------------------------------------------
# One step each way against the layers as dense matrices
# ----------------------------------------------------------------------------------------------------------

def random(gen, shape, dtype):
    t = torch.randn(*shape, dtype=torch.complex128 if dtype.is_complex else f64, generator=gen)
    return t.to(dtype)


def dense_layers(a, b, perm):
    r"""W = W_{L−1} ⋯ W_0 with (W_l)_{i,i} = a_{l,i}, (W_l)_{i,perm(i)} += b_{l,i} (Note [EURNN layers as
    coefficient vectors]: y = a ⊙ x + b ⊙ x[perm])."""
    n = a.shape[-1]
    w = torch.eye(n, dtype=a.dtype)
    for a_l, b_l, p_l in zip(a, b, perm):
        layer = torch.diag(a_l)
        layer[torch.arange(n), p_l] += b_l
        w = layer @ w
    return w


def drawn_perms(draw_n, kind, layers):
    if kind == "tunable":
        return tunable_perms(draw_n, layers)
    return fft_perms(draw_n)


@needs_compiler
@given(dtype=st.sampled_from([c128, f64]), seed=seeds, kind=st.sampled_from(["tunable", "fft"]),
       n=st.integers(1, 33), layers=st.integers(1, 6), batch=st.integers(1, 4), add=st.booleans())
def test_one_step_each_way_equals_the_dense_layers(dtype, seed, kind, n, layers, batch, add):
    r"""Forward add + x Wᵀ, adjoint add + g conj(W) and the gradients of a and b of Re⟨g, x Wᵀ⟩ (autograd
    through the dense W) from one step with the kernel, in float64 to 1e-12."""
    if kind == "fft":
        n = 1 << (n.bit_length() - 1) if n > 1 else 2
    perm = drawn_perms(n, kind, layers)
    layers = perm.shape[0]
    gen = torch.Generator().manual_seed(seed)
    a, b = random(gen, (layers, n), dtype), random(gen, (layers, n), dtype)
    x, g, u, v = (random(gen, (batch, n), dtype) for _ in range(4))
    lmap = LayersMap(perm)
    with kernel_path(True):
        forward = lmap.forward_fn([a, b], ())(x, u if add else None, None, 0)
        record = StepRecord(x, x[None], ())
        adjoint = lmap.adjoint_fn([a, b], record)(g, v if add else None, None, 0)
        grads = lmap.tensor_grads([a, b], [True, True], record, None)
    w = dense_layers(a, b, perm)
    assert_close(forward, (u if add else 0) + x @ w.T, 1e-12)
    assert_close(adjoint, (v if add else 0) + g @ w.conj(), 1e-12)
    leaves = [a.clone().requires_grad_(), b.clone().requires_grad_()]
    want = torch.autograd.grad(torch.vdot((x @ dense_layers(*leaves, perm).T).flatten(), g.flatten()).real,
                               leaves)
    for got_, want_ in zip(grads, want, strict=True):
        assert_close(got_, want_, 1e-12)


# ----------------------------------------------------------------------------------------------------------
# The fused recurrence and the cells: the kernel path equals the torch-operator path
# ----------------------------------------------------------------------------------------------------------

def outputs_and_gradients(perm, tensors, u, h0, bias, weights, expand_h0):
    r"""The emitted outputs, h_T and the gradients of a fixed linear loss in u, h0, the bias and a, b."""
    leaves = [t.clone().requires_grad_() for t in (u, h0, bias, *tensors)]
    state = leaves[1].expand(u.shape[1], -1) if expand_h0 else leaves[1]  # a learned h0, expanded over rows
    out, last = fused_recurrence(LayersMap(perm), leaves[3:], leaves[0], state, "modrelu", leaves[2], emit=True)
    loss = (out * weights[0]).sum() + (torch.view_as_real(last) if last.is_complex() else last).mul(
        weights[1]).sum()
    return [out.detach(), last.detach(), *torch.autograd.grad(loss, leaves)]


@needs_compiler
@given(dtype=st.sampled_from(DTYPES), seed=seeds, kind=st.sampled_from(["tunable", "fft"]),
       n=st.integers(1, 20), layers=st.integers(1, 6), steps=st.integers(1, 8), batch=st.integers(1, 4),
       learned_h0=st.booleans())
def test_the_kernel_path_equals_the_torch_operator_path(dtype, seed, kind, n, layers, steps, batch, learned_h0):
    r"""Outputs, h_T and the gradients of u, h0 (a row, expanded when learned, or (B, N)), modReLU's bias, a
    and b, with the C layer steps and with torch operators (:data:`TOLERANCE`); N even and odd (odd N leaves
    coordinates in no unit)."""
    if kind == "fft":
        n = 1 << (n.bit_length() - 1) if n > 1 else 2
    perm = drawn_perms(n, kind, layers)
    gen = torch.Generator().manual_seed(seed)
    real = f64 if DOUBLE[dtype] else f32
    theta = torch.rand(perm.shape, dtype=f64, generator=gen) * 6.3
    phase = torch.polar(torch.ones_like(theta), torch.rand(perm.shape, dtype=f64, generator=gen) * 6.3)
    a, b = theta.cos(), theta.sin()  # unit-like coefficients, as the cells' (the recurrence stays bounded)
    if dtype.is_complex:
        a, b = a * phase, b * phase
    tensors = [a.to(dtype), b.to(dtype)]
    u = random(gen, (steps, batch, n), dtype)
    h0 = random(gen, (1 if learned_h0 else batch, n), dtype)
    bias = (torch.rand(n, dtype=f64, generator=gen) - 0.5).to(real)
    width = 2 * n if dtype.is_complex else n
    weights = [torch.randn(steps, batch, width, dtype=f64, generator=gen).to(real),
               torch.randn(batch, n, *((2,) if dtype.is_complex else ()), dtype=f64, generator=gen).to(real)]
    case = (perm, tensors, u, h0, bias, weights, learned_h0)
    with kernel_path(True):
        fast = outputs_and_gradients(*case)
    with kernel_path(False):
        slow = outputs_and_gradients(*case)
    values, gradients = TOLERANCE[DOUBLE[dtype]]
    assert len(fast) == len(slow) == 7
    for k, (got, want) in enumerate(zip(fast, slow)):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert_close(got, want, values if k < 2 else gradients)


def cell_run(cell, x):
    cell.zero_grad()
    xx = x.clone().requires_grad_()
    out, h = cell(xx)
    loss = (out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view(out.shape)).sum() + (h.abs() ** 2).sum()
    params = [p for p in cell.parameters()]
    return [out.detach(), h.detach(), *torch.autograd.grad(loss, [xx, *params])]


@needs_compiler
@pytest.mark.parametrize("name, options", [("eurnn", dict(capacity=2)), ("eurnn", dict(capacity=6)),
                                           ("eurnn_fft", {}), ("eurnn", dict(capacity=4, complex_weights=False)),
                                           ("eurnn_fft", dict(complex_weights=False))])
@pytest.mark.parametrize("learn_initial_state", [False, True])
@pytest.mark.parametrize("dtype", [f64, f32])
def test_the_cells_give_the_same_numbers_with_and_without_the_kernel(name, options, learn_initial_state, dtype):
    r"""The cells with strategy="layers": outputs, final state and the gradients of the input and of every
    parameter (h_0 included when learned), kernel path against torch operators."""
    torch.manual_seed(0)
    cell = uz.make_cell(name, 3, 16, strategy="layers", dtype=dtype, learn_initial_state=learn_initial_state,
                        **options)
    if learn_initial_state:  # learned h_0 starts at zeros: make it matter
        with torch.no_grad():
            for p in cell.parameters():
                if p.shape[-1] == 16 and p.dim() == 1 and p is not cell.act.bias:
                    p.uniform_(-0.5, 0.5)
    x = torch.randn(6, 3, 3, dtype=dtype)
    with kernel_path(True):
        fast = cell_run(cell, x)
    with kernel_path(False):
        slow = cell_run(cell, x)
    values, gradients = TOLERANCE[dtype == f64]
    for k, (got, want) in enumerate(zip(fast, slow, strict=True)):
        assert_close(got, want, values if k < 2 else gradients)


@needs_compiler
@pytest.mark.parametrize("dtype", [c128, f64])
def test_gradcheck_with_the_kernel(dtype):
    gen = torch.Generator().manual_seed(1)
    perm = tunable_perms(5, 3)
    real = f64
    u, h0 = random(gen, (3, 2, 5), dtype), random(gen, (2, 5), dtype)
    a, b = random(gen, (3, 5), dtype) * 0.6, random(gen, (3, 5), dtype) * 0.6
    bias = torch.rand(5, dtype=real, generator=gen) - 0.5
    leaves = [t.clone().requires_grad_() for t in (u, h0, bias, a, b)]
    with kernel_path(True):
        assert torch.autograd.gradcheck(
            lambda u_, h_, b_, *ts: fused_recurrence(LayersMap(perm), ts, u_, h_, "modrelu", b_), leaves,
            eps=1e-6, atol=1e-8, rtol=1e-6)


# ----------------------------------------------------------------------------------------------------------
# Fallbacks
# ----------------------------------------------------------------------------------------------------------

@needs_compiler
@given(seed=seeds, n=st.integers(3, 10), batch=st.integers(1, 3))
def test_a_perm_of_another_form_takes_the_torch_path_with_the_dense_numbers(seed, n, batch):
    r"""A tunable layer with one unit re-paired (so no block perm) and a random pairing: no kernel runs, and one
    step each way still equals the dense layers."""
    gen = torch.Generator().manual_seed(seed)
    first = tunable_perms(n, 1)[0].tolist()
    repaired = pairs_perm(n, [(0, 2)] + [(p, p + 1) for p in range(3, n - 1, 2)])
    order = torch.randperm(n, generator=gen).tolist()
    shuffled = pairs_perm(n, list(zip(order[0::2], order[1::2])))
    perm = torch.tensor([first, repaired, shuffled])
    if layer_geometry(perm) is not None:  # the shuffle drew a block perm
        perm = torch.tensor([first, repaired])
    assert layer_geometry(perm) is None
    a, b = random(gen, perm.shape, c128), random(gen, perm.shape, c128)
    x, g = random(gen, (batch, n), c128), random(gen, (batch, n), c128)
    lmap = LayersMap(perm)
    with kernels_used() as used:
        forward = lmap.forward_fn([a, b], ())(x, None, None, 0)
        adjoint = lmap.adjoint_fn([a, b], None)(g, None, None, 0)
    assert not used & set(NAMES)
    w = dense_layers(a, b, perm)
    assert_close(forward, x @ w.T, 1e-12)
    assert_close(adjoint, g @ w.conj(), 1e-12)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_other_dtypes_run_on_torch_operators(dtype):
    perm = tunable_perms(6, 2)
    gen = torch.Generator().manual_seed(0)
    a, b, x = (torch.randn(*shape, generator=gen) for shape in ((2, 6), (2, 6), (3, 6)))
    with kernels_used() as used:
        got = LayersMap(perm).forward_fn([a.to(dtype), b.to(dtype)], ())(x.to(dtype), None, None, 0)
    assert not used & set(NAMES)
    assert_close(got.to(f64), (x @ dense_layers(a, b, perm).T).to(f64), 5e-2)


def test_with_the_kernels_switched_off_eurnn_runs_on_torch_operators(monkeypatch):
    r"""``URNN_ZOO_KERNELS=0`` (read when the library is first asked for): no layer kernel runs and the cell gives
    the numbers of the per-step autograd loop."""
    x = torch.randn(5, 2, 3, dtype=f64, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    cell = uz.make_cell("eurnn", 3, 8, capacity=2, strategy="layers", dtype=f64)
    try:
        kernels._library.cache_clear()
        monkeypatch.setenv(kernels.DISABLE_ENV, "0")
        assert not kernels.available()
        with kernels_used() as used:
            fused = cell_run(cell, x)
        assert not used
        cell.fused = False
        loop = cell_run(cell, x)
    finally:
        monkeypatch.delenv(kernels.DISABLE_ENV)
        kernels._library.cache_clear()
    for got, want in zip(fused, loop, strict=True):
        assert_close(got, want, 1e-12)


# ----------------------------------------------------------------------------------------------------------
# What the kernel reports to the operator counter (Note [EURNN layer kernel cost])
# ----------------------------------------------------------------------------------------------------------

@given(batch=st.integers(0, 64), n=st.integers(0, 64), layers=st.integers(0, 8), dtype=st.sampled_from(DTYPES),
       add=st.booleans(), grads=st.booleans())
def test_kernel_costs_follow_the_layer_maths(batch, n, layers, dtype, add, grads):
    # per element of a layer: y = (d + a·x) + b·x_partner, d the add or zeros (Note [EURNN layer kernel]).
    # Complex: each product (ac − bd, ad + bc) 4 multiplies and 2 adds, + d 2, the sum 2: 16; real 1 each: 4.
    # Adjoint with gradients: the layer inputs recomputed for L − 1 layers, and ∂a += conj(x)·ḡ,
    # ∂b += conj(x_partner)·ḡ: per product 4 multiplies and 2 adds, then 2 adds into the accumulator, x2: 16
    # (real: 2 x (1 + 1) = 4).
    # bytes: x (or g), out, add, h: B·N elements; a, b: L·N elements each; ∂a, ∂b read and written.
    cplx = dtype.is_complex
    real = 8 if dtype in (c128, f64) else 4
    w = 2 if cplx else 1
    per_layer, per_acc = (16, 16) if cplx else (4, 4)
    rows, coefficients = batch * n, layers * n * 2
    flops = rows * layers * per_layer
    moved = real * w * (rows * (2 + add) + coefficients)
    assert layers_cost("forward", batch, n, layers, dtype, add=add) == (flops, moved)
    if grads:
        flops += rows * (max(layers - 1, 0) * per_layer + layers * per_acc)
        moved += real * w * (rows + 2 * coefficients)
    assert layers_cost("adjoint", batch, n, layers, dtype, add=add, grads=grads) == (flops, moved)


def test_kernel_cost_rejects_bad_arguments():
    with pytest.raises(ValueError, match="expected direction 'forward' or 'adjoint'.*got 'backward'"):
        layers_cost("backward", 2, 3, 1, c64)
    with pytest.raises(ValueError, match=r"dtype one of .*got 'forward' and torch.float16"):
        layers_cost("forward", 2, 3, 1, torch.float16)
    with pytest.raises(ValueError, match="non-negative batch, n and layers, got 2, -3 and 1"):
        layers_cost("forward", 2, -3, 1, c64)


@needs_compiler
@pytest.mark.parametrize("name, options, layers", [("eurnn", dict(capacity=4), 4), ("eurnn_fft", {}, 3)])
def test_the_counter_sees_the_layer_kernels(name, options, layers):
    steps, batch, n = 5, 3, 8
    torch.manual_seed(0)
    cell = uz.make_cell(name, 2, n, strategy="layers", **options)
    x = torch.randn(steps, batch, 2)
    with kernel_path(True):
        count = count_operators(lambda: cell(x)[0].pow(2).sum().backward())
    fwd, adj = "urnn_zoo.kernels.layers_forward", "urnn_zoo.kernels.layers_adjoint"
    assert count.by_operator[fwd] == count.by_operator[adj] == steps
    # no layer runs in torch operators: the one gather is layer_geometry's check of the perm, once per forward
    assert count.by_operator.get("aten.gather", 0) <= 1
    # forward: u_t added at every step; adjoint: the gradients of a and b are gathered at every step
    assert count.flops_by_operator[fwd] == steps * layers_cost("forward", batch, n, layers, c64, add=True)[0]
    assert count.bytes_by_operator[fwd] == steps * layers_cost("forward", batch, n, layers, c64, add=True)[1]
    per_step = layers_cost("adjoint", batch, n, layers, c64, grads=True)[0]  # the same with or without add
    assert count.flops_by_operator[adj] == steps * per_step
