r"""The fused LSTM's C gate step (urnn_zoo.engine.lstm_kernel, Notes [LSTM gate kernel] and [The kernels' exp]):
its σ and tanh against SciPy and NumPy, its arithmetic bit for bit against the formulas written out in NumPy, the
whole fused LSTM with it against the torch-operator path (values and every gradient), gradcheck with it, the
fallback without it, and what it reports to the operator counter."""
from __future__ import annotations

import contextlib
import math
import os
import shutil

import numpy as np
import pytest
import scipy.special
import torch
from hypothesis import given
from hypothesis import strategies as st

import urnn_zoo as uz
from urnn_zoo.engine import kernels, lstm_step
from urnn_zoo.engine.kronecker_gates import KroneckerGatesMap
from urnn_zoo.engine.lstm_kernel import lstm_cost
from urnn_zoo.engine.lstm_recurrence import fused_lstm
from urnn_zoo.engine.recurrence import StepRecord
from urnn_zoo.opcount import count_operators
from test_kru_lstm_fused import tiny
import kernel_spy
from kernel_spy import kernels_used
from test_recurrence import assert_close  # |got − want| <= rel · max(1, max|want|)

COMPILER = shutil.which(os.environ.get("CC", "cc"))
needs_compiler = pytest.mark.skipif(COMPILER is None, reason="no C compiler on this machine")
f32, f64 = torch.float32, torch.float64
NUMPY = {f32: np.float32, f64: np.float64}
seeds = st.integers(0, 2**31 - 1)
# (P_A, P_B) of the Kronecker gates; N = P_A·P_B, P_B the block of the gate-major layout
SIZES = [(1, 1), (1, 5), (2, 3), (3, 2), (4, 4), (2, 8), (5, 3)]
# Gate pre-activations in σ's and tanh's linear part (0.5), their bend (3) and saturation (30).
SCALES = (0.5, 3.0, 30.0)
# Kernel path against the torch-operator path (relative to each tensor's scale): float64 to 1e-12; float32 to
# 2e-6 on values and 1e-5 on gradients (measured over 300 draws of these cases, T <= 12: 2.1e-7 and 7.3e-7; the
# kernel evaluates a float32 step in float64 and rounds once, torch rounds every operation, Note [LSTM gate
# kernel], and the gradients sum T steps).
TOLERANCE = {f64: (1e-12, 1e-12), f32: (2e-6, 1e-5)}


LSTM_NAMES = ("lstm_forward", "lstm_backward")


def kernel_path(use: bool, expect=None):
    r"""kernel_spy.kernel_path with this file's kernels expected by default."""
    return kernel_spy.kernel_path(use, LSTM_NAMES if expect is None else expect)


def lstm_case(kind, seed, steps, batch, sizes, dtype, scale):
    r"""Inputs of fused_lstm (test_kru_lstm_fused's ``tiny``, u scaled by ``scale``) and the weights of a loss on all
    its outputs, drawn in float64, cast to ``dtype``."""
    lmap, tensors, u, h0, c0 = tiny(kind, seed, steps, batch, sizes)
    gen = torch.Generator().manual_seed(seed + 1)
    n = h0.shape[1]
    weights = [torch.randn(steps, batch, n, dtype=f64, generator=gen), *(torch.randn(batch, n, dtype=f64,
                                                                                   generator=gen) for _ in "hc")]
    cast = lambda ts: [t.to(dtype) for t in ts]  # noqa: E731
    return lmap, cast(tensors), *cast([u * scale, h0, c0]), cast(weights)


def outputs_and_gradients(lmap, tensors, u, h0, c0, weights):
    r"""h_1..h_T, h_T, c_T and the gradients of ⟨h, w⟩ + ⟨h_T, v⟩ + ⟨c_T, v_c⟩ in u, h0, c0 and every tensor."""
    leaves = [t.clone().requires_grad_() for t in (u, h0, c0, *tensors)]
    hs, h, c = fused_lstm(lmap, leaves[3:], *leaves[:3])
    loss = (hs * weights[0]).sum() + (h * weights[1]).sum() + (c * weights[2]).sum()
    return [hs.detach(), h.detach(), c.detach(), *torch.autograd.grad(loss, leaves)]


# ----------------------------------------------------------------------------------------------------------
# 1. The kernel's σ and tanh against SciPy and NumPy; its arithmetic bit for bit against NumPy
# ----------------------------------------------------------------------------------------------------------

def forward_step(z, c_prev, u=None, block=None):
    r"""One forward gate step through urnn_zoo.engine.lstm_step: z rows (B, 4N) (with ``u``: the gate-major
    product (4, N/Q, B, Q), Q = ``block``); returns acts (B, 4N), c, τ, h (B, N)."""
    B, n = c_prev.shape
    acts = torch.empty(1, B, 4 * n, dtype=c_prev.dtype)
    c, tau, h = (torch.empty(1, B, n, dtype=c_prev.dtype) for _ in range(3))
    lstm_step.forward_step_fn(c_prev, acts, c, tau, h, None if u is None else u[None], block)(0, z)
    return acts[0], c[0], tau[0], h[0]


def assert_within_ulps(name, got, want, dtype, bound):
    r"""NaN exactly where ``want`` (float64) is NaN; elsewhere |got − want| <= bound·ε·|want| where |want| is a
    normal number of the dtype, and |got − want| <= the smallest normal number where it is not."""
    info = np.finfo(NUMPY[dtype])
    nan = np.isnan(want)
    assert np.array_equal(np.isnan(got), nan), name
    got, want = got[~nan].astype(np.float64), want[~nan]
    normal = np.abs(want) >= info.tiny
    error = np.abs(got - want)
    ulps = error[normal] / np.abs(want[normal]) / info.eps
    assert ulps.size == 0 or ulps.max() <= bound, (name, ulps.max())
    assert np.all(error[~normal] <= info.tiny), (name, error[~normal].max())


special = st.sampled_from([0.0, -0.0, math.inf, -math.inf, math.nan, 87.5, -87.5, 88.5, -88.5, 708.5, -709.5,
                           1e-30, -1e-30, 1e-300, 9.0, -9.0, 17.5, -17.5])


@needs_compiler
@given(dtype=st.sampled_from([f32, f64]), data=st.data())
def test_the_kernels_sigmoid_and_tanh_are_within_an_ulp_or_two(dtype, data):
    r"""σ and tanh of the kernel against SciPy's float64 expit and NumPy's float64 tanh: relative error within 1
    unit of ε in float32 (evaluated in float64, rounded once) and 4 in float64 (where the references themselves
    are off by up to one), absolute
    error within the smallest normal number below it; NaN stays NaN and ±∞ saturate (Note [The kernels' exp])."""
    width = 32 if dtype == f32 else 64
    values = data.draw(st.lists(st.one_of(st.floats(width=width), special,
                                          st.floats(-30, 30, width=width)), min_size=1, max_size=40))
    v = np.array(values, dtype=NUMPY[dtype])
    n = v.size
    z = torch.from_numpy(np.tile(v, 4)).reshape(1, 4 * n)  # the same values in all four gates
    with kernel_path(True, expect=["lstm_forward"]):
        acts, c, tau, h = forward_step(z, torch.zeros(1, n, dtype=dtype))
    i, f, g, o = acts.view(4, n).numpy()
    want_sigmoid, want_tanh = scipy.special.expit(v.astype(np.float64)), np.tanh(v.astype(np.float64))
    bound = 1.0 if dtype == f32 else 4.0  # float32: evaluated in float64, rounded once
    for name, got, want in (("σ(z_i)", i, want_sigmoid), ("σ(z_f)", f, want_sigmoid), ("σ(z_o)", o, want_sigmoid),
                            ("tanh(z_g)", g, want_tanh), ("tanh(c)", tau.numpy()[0],
                                                          np.tanh(c.numpy()[0].astype(np.float64)))):
        assert_within_ulps(name, got, want, dtype, bound)


def gate_values(gen, batch, n, dtype):
    r"""Activations as the forward saves them (σ in (0, 1) for i, f, o; tanh in (−1, 1) for g), with exact 0, 1
    and ±1 among them, and τ, c_{t−1}, h̄, c̄ of order one."""
    acts = torch.rand(batch, 4 * n, dtype=f64, generator=gen)
    acts.view(batch, 4, n)[:, 2] = acts.view(batch, 4, n)[:, 2] * 2 - 1
    acts[torch.rand(acts.shape, generator=gen) < 0.1] = 1.0
    acts[torch.rand(acts.shape, generator=gen) < 0.1] = 0.0
    tau = torch.rand(batch, n, dtype=f64, generator=gen) * 2 - 1
    rest = [torch.randn(batch, n, dtype=f64, generator=gen) * 3 for _ in range(3)]
    return [t.to(dtype) for t in (acts, tau, *rest)]


@needs_compiler
@given(dtype=st.sampled_from([f32, f64]), seed=seeds, batch=st.integers(1, 4), sizes=st.sampled_from(SIZES),
       major=st.booleans())
def test_the_backward_kernel_is_the_formulas_bit_for_bit(dtype, seed, batch, sizes, major):
    r"""ż and c̄_{t−1} of the backward step equal the formulas of Note [LSTM gate kernel] evaluated by NumPy one
    operation at a time in float64 (IEEE rounding, no fused multiply-add) and rounded once to the dtype:
    exactly; the gate-major copy of ż holds the same numbers at [gate, p, b, q] for unit p·Q + q."""
    gen = torch.Generator().manual_seed(seed)
    pa, pb = sizes
    n = pa * pb
    acts, tau, c_prev, g_h, g_c = gate_values(gen, batch, n, dtype)
    a, t, cp, hb, cb = (x.numpy().astype(np.float64) for x in (acts, tau, c_prev, g_h, g_c))
    i, f, g, o = (a[:, k * n:(k + 1) * n] for k in range(4))
    ct = cb + (hb * o) * (1.0 - t * t)
    want = np.concatenate([((ct * g) * i) * (1.0 - i), ((ct * cp) * f) * (1.0 - f), (ct * i) * (1.0 - g * g),
                           ((hb * t) * o) * (1.0 - o)], axis=1).astype(NUMPY[dtype])
    g_z = torch.empty(1, batch, 4 * n, dtype=dtype)
    gate_major = torch.empty(4, pa, batch, pb, dtype=dtype) if major else None
    c_bar = g_c.clone()
    with kernel_path(True, expect=["lstm_backward"]):
        step = lstm_step.backward_step_fn(g_h, c_bar, c_prev, acts[None], torch.empty(1, batch, n, dtype=dtype),
                                          tau[None], g_z, gate_major, pb if major else None)
        step(0)
    assert np.array_equal(g_z[0].numpy(), want)
    assert np.array_equal(c_bar.numpy(), (ct * f).astype(NUMPY[dtype]))
    if major:
        rows = torch.from_numpy(want).view(batch, 4, pa, pb).permute(1, 2, 0, 3)
        assert torch.equal(gate_major, rows)


@needs_compiler
@given(dtype=st.sampled_from([f32, f64]), seed=seeds, batch=st.integers(1, 4), sizes=st.sampled_from(SIZES),
       scale=st.sampled_from(SCALES))
def test_the_forward_kernels_arithmetic_is_the_formulas_bit_for_bit(dtype, seed, batch, sizes, scale):
    r"""c_t = f·c_{t−1} + i·g and h_t = o·τ_t: in float64, NumPy's from the kernel's own activations, bit for
    bit; in float32, the float64 formulas rounded once (within one ulp); and reading the gate-major product with u
    added gives exactly what reading the rows z = u + y gives."""
    gen = torch.Generator().manual_seed(seed)
    pa, pb = sizes
    n = pa * pb
    u = (torch.randn(batch, 4 * n, dtype=f64, generator=gen) * scale).to(dtype)
    y = (torch.randn(4, pa, batch, pb, dtype=f64, generator=gen) * scale).to(dtype)
    c_prev = (torch.randn(batch, n, dtype=f64, generator=gen) * 3).to(dtype)
    rows = u + y.permute(2, 0, 1, 3).reshape(batch, 4 * n)
    with kernel_path(True, expect=["lstm_forward"]):
        from_rows = forward_step(rows, c_prev)
        from_major = forward_step(y, c_prev, u, pb)
    for a, b in zip(from_rows, from_major, strict=True):
        assert torch.equal(a, b)
    acts, c, tau, h = (x.numpy() for x in from_rows)
    if dtype == f64:  # the kernel's own activations are the ones it computed with
        i, f, g, o = (acts[:, k * n:(k + 1) * n] for k in range(4))
        assert np.array_equal(c, f * c_prev.numpy() + i * g)
        assert np.array_equal(h, o * tau)
        return
    # float32: c_t and h_t are computed in float64 from the unrounded activations and rounded once, so they are
    # within one float32 ulp of the float64 formulas with SciPy's σ and NumPy's tanh of the same z (plus the
    # float64 rounding of f·c_{t−1} + i·g, relative to its terms, where they cancel)
    z = rows.numpy().astype(np.float64)
    i, f, g, o = (z[:, k * n:(k + 1) * n] for k in range(4))
    i, f, g, o = scipy.special.expit(i), scipy.special.expit(f), np.tanh(g), scipy.special.expit(o)
    cp = c_prev.numpy().astype(np.float64)
    want_c = f * cp + i * g
    want_h = o * np.tanh(want_c)
    terms = np.abs(f * cp) + np.abs(i * g)
    for got, want, slack in ((c, want_c, terms), (h, want_h, np.abs(want_h))):
        ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
        assert np.all(np.abs(got.astype(np.float64) - want) <= ulp + 1e-14 * slack)


# ----------------------------------------------------------------------------------------------------------
# 2. The fused LSTM with the kernels equals it without them; gradcheck with them
# ----------------------------------------------------------------------------------------------------------

@needs_compiler
@given(kind=st.sampled_from(["dense", "kronecker"]), dtype=st.sampled_from([f64, f32]), seed=seeds,
       steps=st.integers(1, 8), batch=st.integers(1, 4), sizes=st.sampled_from(SIZES),
       scale=st.sampled_from(SCALES))
def test_the_kernel_path_equals_the_torch_operator_path(kind, dtype, seed, steps, batch, sizes, scale):
    r"""Outputs h_1..h_T, the final (h_T, c_T) and the gradients of u, h0, c0 and every tensor of the map, with
    the C gate step and with torch operators (:data:`TOLERANCE`)."""
    case = lstm_case(kind, seed, steps, batch, sizes, dtype, scale)
    with kernel_path(True):
        fast = outputs_and_gradients(*case)
    with kernel_path(False):
        slow = outputs_and_gradients(*case)
    values, gradients = TOLERANCE[dtype]
    assert len(fast) == len(slow) == 6 + len(case[1])
    for k, (got, want) in enumerate(zip(fast, slow)):
        assert got.dtype == want.dtype == dtype and got.shape == want.shape
        assert_close(got, want, values if k < 3 else gradients)


@needs_compiler
@pytest.mark.parametrize("kind", ["dense", "kronecker"])
def test_gradcheck_with_the_kernels(kind):
    lmap, tensors, u, h0, c0, _ = lstm_case(kind, 0, 3, 2, (2, 3), f64, 1.0)
    leaves = [t.clone().requires_grad_() for t in (u, h0, c0, *tensors)]
    with kernel_path(True):
        assert torch.autograd.gradcheck(lambda u_, h_, c_, *ts: fused_lstm(lmap, ts, u_, h_, c_), leaves,
                                        eps=1e-6, atol=1e-8, rtol=1e-6)


def test_without_the_kernels_kru_lstm_gives_the_same_numbers_as_with_them_and_as_the_loop():
    r"""The fallback (kernels unavailable, as tests/test_kernels.py makes them): KRU-LSTM's fused path on both
    maps gives, in float64, what the kernel path gives and what the per-step autograd loop gives."""
    x = torch.randn(5, 3, 2, dtype=f64, generator=torch.Generator().manual_seed(0))
    for strategy in ("factored", "dense"):
        torch.manual_seed(0)
        cell = uz.make_cell("kru_lstm", 2, 8, factors=[2, 4], strategy=strategy, dtype=f64)
        results = {}
        for path in ("kernels", "torch operators", "loop"):
            cell.fused = path != "loop"
            with kernel_path(False) if path == "torch operators" else contextlib.nullcontext():
                xx = x.clone().requires_grad_()
                out, (h, c) = cell(xx)
                loss = (out * torch.linspace(-1, 1, out.numel(), dtype=f64).view(out.shape)).sum() + h.sum() + c.sum()
                results[path] = [out, h, c, *torch.autograd.grad(loss, [*cell.parameters(), xx])]
        for path in ("torch operators", "loop"):
            for got, want in zip(results["kernels"], results[path], strict=True):
                assert_close(got.detach(), want.detach(), 1e-12)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_other_dtypes_run_on_torch_operators(dtype):
    r"""The kernels take float32 and float64; other floating dtypes run the same maths in torch operators."""
    lmap, tensors, u, h0, c0, weights = lstm_case("kronecker", 1, 4, 2, (2, 3), f64, 1.0)
    with kernels_used() as used:
        low = outputs_and_gradients(lmap, [t.to(dtype) for t in tensors], *(t.to(dtype) for t in (u, h0, c0)),
                                    [w.to(dtype) for w in weights])
    assert not used
    for got, want in zip(low, outputs_and_gradients(lmap, tensors, u, h0, c0, weights), strict=True):
        assert got.dtype == dtype
        assert_close(got.to(f64), want, 5e-2)


@given(seed=seeds, sizes=st.sampled_from(SIZES), batch=st.integers(1, 4))
def test_the_kronecker_gates_map_agrees_with_torch_kron_on_rows_and_gate_major(seed, sizes, batch):
    r"""KroneckerGatesMap against the (4N, N) matrix of the gates' ``torch.kron`` products: its forward on rows
    (u + K x) and gate-major (K x at [gate, p, b, q]), its adjoint on rows (add + Kᵀ g) and the gradients of A
    and Bᵀ of ⟨g, K x⟩ that the adjoint gathers, against autograd through ``torch.kron``."""
    gen = torch.Generator().manual_seed(seed)
    pa, pb = sizes
    n = pa * pb
    a, bt = (torch.randn(4, 1, p, p, dtype=f64, generator=gen) for p in (pa, pb))
    x, add_h = (torch.randn(batch, n, dtype=f64, generator=gen) for _ in range(2))
    g, add = (torch.randn(batch, 4 * n, dtype=f64, generator=gen) for _ in range(2))

    def dense(a, bt):  # .contiguous(): Note [Why not torch.kron] in urnn_zoo.kron
        return torch.cat([torch.kron(a[k, 0], bt[k, 0].mT.contiguous()) for k in range(4)])

    k = dense(a, bt)
    lmap, saved = KroneckerGatesMap(), [torch.empty(1, batch, 4 * n, dtype=f64)]
    assert_close(lmap.forward_fn([a, bt], saved)(x, add, torch.empty(batch, 4 * n, dtype=f64), 0), add + x @ k.T,
                 1e-12)
    major = lmap.gate_major_fn([a, bt], saved)(x, None, 0).view(4, pa, batch, pb)
    assert_close(major.permute(2, 0, 1, 3).reshape(batch, 4 * n), x @ k.T, 1e-12)
    record = StepRecord(x, x[None], saved)  # one step, from h_0 = x
    assert_close(lmap.adjoint_fn([a, bt], record)(g, add_h, None, 0), add_h + g @ k, 1e-12)
    got = lmap.tensor_grads([a, bt], [True, True], record, None)
    leaves = [a.clone().requires_grad_(), bt.clone().requires_grad_()]
    want = torch.autograd.grad((g * (x @ dense(*leaves).T)).sum(), leaves)
    for got_, want_ in zip(got, want, strict=True):
        assert_close(got_, want_, 1e-12)


# ----------------------------------------------------------------------------------------------------------
# 3. What the kernels report to the operator counter (Note [LSTM kernel cost])
# ----------------------------------------------------------------------------------------------------------

@given(batch=st.integers(1, 64), n=st.integers(1, 64), dtype=st.sampled_from([f32, f64]), add=st.booleans(),
       major=st.booleans())
def test_kernel_costs_follow_the_lstm_maths(batch, n, dtype, add, major):
    # forward per unit: u + y on 4 gates (with u), σ x3 and tanh x2 (1 each, as the counter counts them),
    # f·c + i·g (2 multiplies, 1 add), o·τ (1); reads y (4), u (4), c_{t−1} (1); writes acts (4), c, τ, h (3)
    # backward per unit: τ·τ, 1 − τ², h̄·o, the product, + c̄: 5; ż_o, ż_i, ż_f: 3 multiplies and 1 − a each;
    # ż_g: c̃·i, g·g, 1 − g², the product; c̄_{t−1} = c̃·f: 1; reads h̄, c̄, acts (4), c_{t−1}, τ; writes ż (4),
    # c̄_{t−1}, and ż again gate-major (4)
    size, units = (4 if dtype == f32 else 8), batch * n
    assert lstm_cost("forward", batch, n, dtype, add=add) == (
        units * ((4 if add else 0) + 5 + 3 + 1), size * units * (4 + (4 if add else 0) + 1 + 4 + 3))
    assert lstm_cost("backward", batch, n, dtype, major=major) == (
        units * (5 + 3 * 4 + 4 + 1), size * units * (2 + 4 + 2 + 4 + 1 + (4 if major else 0)))


def test_an_unknown_kernel_name_is_refused():
    with pytest.raises(ValueError, match=r"expected a kernel name among \[.*'lstm_forward'.*\], got 'lstm_fwd'$"):
        kernels.kernel("lstm_fwd", f32, torch.zeros(2, 3))


def test_kernel_cost_rejects_bad_arguments():
    with pytest.raises(ValueError, match="expected direction 'forward' or 'backward'.*got 'sideways'"):
        lstm_cost("sideways", 2, 3, f32)
    with pytest.raises(ValueError, match="float32 or float64, got 'forward' and torch.complex64"):
        lstm_cost("forward", 2, 3, torch.complex64)


@needs_compiler
@pytest.mark.parametrize("kind", ["dense", "kronecker"])
def test_the_counter_sees_the_lstm_kernels(kind):
    steps, batch, sizes = 5, 3, (2, 4)
    lmap, tensors, u, h0, c0, weights = lstm_case(kind, 0, steps, batch, sizes, f32, 1.0)
    with kernel_path(True):
        count = count_operators(lambda: outputs_and_gradients(lmap, tensors, u, h0, c0, weights))
    fwd, bwd = "urnn_zoo.kernels.lstm_forward", "urnn_zoo.kernels.lstm_backward"
    assert count.by_operator[fwd] == count.by_operator[bwd] == steps
    gate_major = kind == "kronecker"  # the forward adds u, the backward writes ż twice
    n = sizes[0] * sizes[1]
    for name, direction, option in ((fwd, "forward", dict(add=gate_major)), (bwd, "backward",
                                                                             dict(major=gate_major))):
        flops, moved = lstm_cost(direction, batch, n, f32, **option)
        assert count.flops_by_operator[name] == steps * flops
        assert count.bytes_by_operator[name] == steps * moved
