r"""The fused LSTM's elementwise gate step, one step at a time, forward and backward: one C loop each way on the
CPU (urnn_zoo.engine.lstm_kernel, Note [LSTM gate kernel]), torch operators with the same maths elsewhere.

urnn_zoo.engine.lstm_recurrence runs the LSTM of Note [Fused LSTM BPTT] (urnn_zoo.engine.lstm_recurrence) with
autograd off. :func:`forward_step_fn` and :func:`backward_step_fn` take the loop's whole-sequence buffers once
and return the function it calls per step t: the C path computes each step's addresses from the buffers'
(no tensor view and no allocation per step), the torch path slices them.

Note [LSTM step buffers]
All buffers are the loop's and are written in place: acts (T, B, 4N) the activated gates (i, f, g, o) gate-minor
as u is, c, τ, h (T, B, N); backward: h̄ (B, N) the gradient reaching h_t, which the loop rewrites before each
step, c̄ (B, N) the gradient reaching c_t, which the step replaces with that reaching c_{t−1}, and ż (T, B, 4N).
c_{t−1} is c0 at t = 0 and c[t − 1] after. The C path needs them contiguous on the CPU in float32 or float64
(c0 is made contiguous once); otherwise, or with the kernels off (``URNN_ZOO_KERNELS=0``, or no compiler:
urnn_zoo.engine.kernels), the torch path runs.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

from urnn_zoo.engine import kernels
from urnn_zoo.engine.lstm_kernel import lstm_cost
from urnn_zoo.opcount import counting, record_external

__all__ = ["GATES", "forward_step_fn", "backward_step_fn", "gates_of"]

GATES = 4  # i, f, g, o

# fn(t, y): the forward step t from the map's product y (Note [LSTM step buffers]).
ForwardStep = Callable[[int, Tensor], None]


def gates_of(rows: Tensor) -> list[Tensor]:
    r"""The four (B, N) gate blocks (i, f, g, o) of gate-minor rows (B, 4N), as views.

    Example:
        >>> [tuple(g.shape) for g in gates_of(torch.zeros(2, 12))]
        [(2, 3), (2, 3), (2, 3), (2, 3)]
    """
    return list(rows.view(rows.shape[0], GATES, -1).unbind(1))


def forward_step_fn(c0: Tensor, acts: Tensor, c: Tensor, tau: Tensor, h: Tensor, u: Tensor | None = None,
                    block: int | None = None) -> ForwardStep:
    r"""The forward gate step of Note [Fused LSTM BPTT] (urnn_zoo.engine.lstm_recurrence) for the buffers of one
    sequence (Note [LSTM step buffers]).

    The returned ``step(t, y)`` reads z_t and c_{t−1} and writes i, f, g, o into acts[t], c_t, τ_t = tanh(c_t)
    and h_t = o·τ_t into c[t], tau[t], h[t]. Without ``u``, y is z_t as contiguous rows (B, 4N); with ``u``,
    z_t = u[t] + y where y is the map's contiguous gate-major (4, N/Q, B, Q) product L h_{t−1}, Q = ``block``.

    Args:
        c0: (B, N) cell state before step 0.
        acts: (T, B, 4N); c, tau, h: (T, B, N) destinations.
        u: (T, B, 4N) the projected inputs, or None. block: Q, a divisor of N (with ``u`` only).

    Returns:
        The per-step function; on the C path it allocates nothing.
    """
    T, B, width = acts.shape
    n = width // GATES
    c0 = c0.contiguous()
    fn = kernels.kernel("lstm_forward", acts.dtype, acts, c, tau, h, c0, u)
    if fn is None:
        return _torch_forward(c0, acts, c, tau, h, u, block)
    size = acts.element_size()
    acts_p, c_p, tau_p, h_p, c0_p = acts.data_ptr(), c.data_ptr(), tau.data_ptr(), h.data_ptr(), c0.data_ptr()
    wide, narrow = B * width * size, B * n * size  # bytes of one step of acts (and u) and of c, tau, h
    u_p = None if u is None else u.data_ptr()
    # gate g of unit (b, p·Q + q) at y[g·yg + b·yb + p·yp + q] (Note [LSTM gate kernel])
    yg, yb, yp, q = (n, width, n, n) if u is None else (B * n, block, B * block, block)
    cost = lstm_cost("forward", B, n, acts.dtype, add=u is not None)

    def step(t: int, y: Tensor) -> None:
        fn(y.data_ptr(), yg, yb, yp, q, None if u_p is None else u_p + t * wide,
           c0_p if t == 0 else c_p + (t - 1) * narrow, B, n,
           acts_p + t * wide, c_p + t * narrow, tau_p + t * narrow, h_p + t * narrow)
        if counting():  # Note [LSTM kernel cost] in urnn_zoo.engine.lstm_kernel
            record_external("urnn_zoo.kernels.lstm_forward", *cost)

    step.buffers = (c0, acts, c, tau, h, u)  # the step uses their addresses: they live as long as it does
    return step


def _torch_forward(c0: Tensor, acts: Tensor, c: Tensor, tau: Tensor, h: Tensor, u: Tensor | None,
                   block: int | None) -> ForwardStep:
    B, n = c0.shape
    acts_t, c_t, tau_t, h_t = acts.unbind(0), c.unbind(0), tau.unbind(0), h.unbind(0)
    z = None if u is None else acts.new_empty(B, GATES, n // block, block)

    def step(t: int, y: Tensor) -> None:
        if u is not None:  # z_t = u_t + y, the gate-major y (4, N/Q, B, Q) read as rows (B, 4, N/Q, Q)
            torch.add(u[t].view(z.shape), y.view(GATES, n // block, B, block).permute(2, 0, 1, 3), out=z)
        a = acts_t[t]
        zt = y if u is None else z.view(B, GATES * n)
        torch.sigmoid(zt, out=a)
        i, f, g, o = gates_of(a)
        torch.tanh(gates_of(zt)[2], out=g)
        c_prev = c0 if t == 0 else c_t[t - 1]
        torch.mul(f, c_prev, out=c_t[t]).addcmul_(i, g)
        torch.tanh(c_t[t], out=tau_t[t])
        torch.mul(o, tau_t[t], out=h_t[t])

    return step


def backward_step_fn(g_h: Tensor, g_c: Tensor, c0: Tensor, acts: Tensor, c: Tensor, tau: Tensor, g_z: Tensor,
                     major: Tensor | None = None, block: int | None = None) -> Callable[[int], None]:
    r"""The backward gate step of Note [Fused LSTM BPTT] (urnn_zoo.engine.lstm_recurrence) for the buffers of one
    sequence (Note [LSTM step buffers]).

    The returned ``step(t)`` reads h̄_t from ``g_h`` and c̄_t from ``g_c``, writes ż_t into g_z[t] (and into
    ``major`` in the gate-major layout (4, N/Q, B, Q), Q = ``block``, when given) and c̄_{t−1} over ``g_c``:
    c̃ = c̄_t + h̄·o·(1 − τ²), ż_o = h̄·τ·o(1 − o), ż_i = c̃·g·i(1 − i), ż_f = c̃·c_{t−1}·f(1 − f),
    ż_g = c̃·i·(1 − g²), c̄_{t−1} = c̃·f.

    Args:
        g_h, g_c: (B, N) contiguous buffers of the loop.
        c0: (B, N) cell state before step 0. acts: (T, B, 4N); c, tau: (T, B, N), as the forward wrote them.
        g_z: (T, B, 4N) destination. major: a contiguous buffer of 4·B·N numbers, or None. block: Q, a divisor
            of N (with ``major`` only).

    Returns:
        The per-step function.
    """
    T, B, width = acts.shape
    n = width // GATES
    c0 = c0.contiguous()
    fn = kernels.kernel("lstm_backward", acts.dtype, g_h, g_c, acts, c, tau, g_z, c0, major)
    if fn is None:
        return _torch_backward(g_h, g_c, c0, acts, c, tau, g_z, major, block)
    size = acts.element_size()
    gh_p, gc_p, acts_p, c_p, tau_p, gz_p, c0_p = (t.data_ptr() for t in (g_h, g_c, acts, c, tau, g_z, c0))
    wide, narrow = B * width * size, B * n * size
    major_p, q = (None, n) if major is None else (major.data_ptr(), block)
    cost = lstm_cost("backward", B, n, acts.dtype, major=major is not None)

    def step(t: int) -> None:
        fn(gh_p, gc_p, acts_p + t * wide, c0_p if t == 0 else c_p + (t - 1) * narrow, tau_p + t * narrow, B, n,
           q, gz_p + t * wide, major_p)
        if counting():  # Note [LSTM kernel cost] in urnn_zoo.engine.lstm_kernel
            record_external("urnn_zoo.kernels.lstm_backward", *cost)

    step.buffers = (g_h, g_c, c0, acts, c, tau, g_z, major)  # as in forward_step_fn
    return step


def _torch_backward(g_h: Tensor, g_c: Tensor, c0: Tensor, acts: Tensor, c: Tensor, tau: Tensor, g_z: Tensor,
                    major: Tensor | None, block: int | None) -> Callable[[int], None]:
    acts_t, c_t, tau_t, g_z_t = acts.unbind(0), c.unbind(0), tau.unbind(0), g_z.unbind(0)
    B, n = g_h.shape

    def step(t: int) -> None:
        i, f, g, o = gates_of(acts_t[t])
        dz_i, dz_f, dz_g, dz_o = gates_of(g_z_t[t])
        c_prev = c0 if t == 0 else c_t[t - 1]
        tau_ = tau_t[t]
        g_ct = torch.addcmul(g_c, g_h * o, torch.rsub(tau_ * tau_, 1))  # c̃_t = c̄_t + h̄_t·o·(1 − τ²)
        torch.mul(g_h, tau_, out=dz_o).mul_(o).mul_(torch.rsub(o, 1))  # ż_o = h̄·τ·o(1 − o)
        torch.mul(g_ct, g, out=dz_i).mul_(i).mul_(torch.rsub(i, 1))  # ż_i = c̃·g·i(1 − i)
        torch.mul(g_ct, c_prev, out=dz_f).mul_(f).mul_(torch.rsub(f, 1))  # ż_f = c̃·c_{t−1}·f(1 − f)
        torch.mul(g_ct, i, out=dz_g).mul_(torch.rsub(g * g, 1))  # ż_g = c̃·i·(1 − g²)
        torch.mul(g_ct, f, out=g_c)  # c̄_{t−1}
        if major is not None:  # ż_t gate-major (4, N/Q, B, Q)
            p = n // block
            major.view(GATES, p, B, block).copy_(g_z_t[t].view(B, GATES, p, block).permute(1, 2, 0, 3))

    return step
