r"""The fused whole-sequence LSTM recurrence with gates u_t + L h_{t−1} and a hand-written BPTT backward.

An LSTM (Hochreiter and Schmidhuber, Neural Computation 9(8), 1997; the form with a forget gate, Gers,
Schmidhuber and Cummins, Neural Computation 12(10), 2000) is not of the form h_t = σ(L h_{t−1} + u_t) that
urnn_zoo.engine.recurrence runs: its state is the pair (h, c) and its step mixes four gates. What it shares with
those cells is the linear part, one map L from the state h (width N) to the four gates' pre-activations (width
4N, gate order i, f, g, o, gate-minor: columns g·N … (g+1)·N − 1 are gate g, as ``nn.Linear(n_in, 4N)`` lays
out u), given as a :class:`~urnn_zoo.engine.recurrence.LinearMap` from N to 4N (a dense (N, 4N) Wᵀ through
:class:`~urnn_zoo.engine.recurrence.DenseMap`, or KRU-LSTM's per-gate Kronecker groups through
:class:`~urnn_zoo.engine.kronecker_gates.KroneckerGatesMap`, whose own gate-major layout the gate step reads and
writes). :func:`fused_lstm` runs all T steps with autograd off and computes BPTT itself.

Note [Fused LSTM BPTT]
Forward, per step t = 1..T, with z_t = u_t + L h_{t−1} split into (z_i, z_f, z_g, z_o):
  i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o),
  c_t = f·c_{t−1} + i·g,   τ_t = tanh(c_t),   h_t = o·τ_t.
The forward keeps the activated gates (i, f, g, o) (T, B, 4N), c_t and τ_t (T, B, N), the states h_t, and what
the map saves for its own gradients. Backward, with h̄_t and c̄_t the gradients reaching h_t and c_t from the
outputs and from step t + 1 (h̄_T = ∂ℓ/∂out_T + ∂ℓ/∂h_T, c̄_T = ∂ℓ/∂c_T):
  c̃_t = c̄_t + h̄_t·o·(1 − τ_t²)                        (c_t reaches ℓ directly and through h_t)
  ż_o = h̄_t·τ_t·o(1 − o),   ż_i = c̃_t·g·i(1 − i),
  ż_f = c̃_t·c_{t−1}·f(1 − f),   ż_g = c̃_t·i·(1 − g²),
  c̄_{t−1} = c̃_t·f,   h̄_{t−1} = ∂ℓ/∂out_{t−1} + Lᵀ ż_t.
ż_t is the gradient of u_t; h̄_0 and c̄_0 (with no output term) those of the initial state; the gradient of L's
tensors θ is Σ_t ⟨ż_t, L_θ h_{t−1}⟩ differentiated in θ, computed by the map as in Note [Fused BPTT] of
urnn_zoo.engine.recurrence (dense Wᵀ: Σ_t h_{t−1}ᵀ ż_t). σ' = σ(1 − σ) and tanh' = 1 − tanh² are read from the
saved activations, as autograd's own backward of sigmoid and tanh reads them, so the torch-operator path rounds
as autograd does (the C gate step computes in float64, Note [LSTM gate kernel]).
The elementwise work is done per step while the step's (B, N) slices are in cache, by urnn_zoo.engine.lstm_step
(on the CPU one C loop each way, Note [LSTM gate kernel] in urnn_zoo.engine.lstm_kernel).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from urnn_zoo.engine.kronecker_gates import KroneckerGatesMap
from urnn_zoo.engine.lstm_step import GATES, backward_step_fn, forward_step_fn
from urnn_zoo.engine.recurrence import LinearMap, StepRecord

__all__ = ["fused_lstm", "KroneckerGatesMap", "GATES"]


def _buffers(count: int, like: Tensor) -> list[Tensor]:
    r"""``count`` contiguous buffers of the shape of ``like`` (``empty_like`` would copy a strided ``u``'s layout)."""
    return [torch.empty(like.shape, dtype=like.dtype, device=like.device) for _ in range(count)]


class _FusedLSTM(torch.autograd.Function):
    # Note [Fused LSTM BPTT]. `lmap` carries no tensors; the outputs are all states h_1..h_T and the final
    # (h_T, c_T), copied so that none is a view of a saved buffer.

    @staticmethod
    def forward(ctx, lmap: LinearMap, u: Tensor, h0: Tensor, c0: Tensor, *tensors: Tensor):
        T, B, width = u.shape
        n = width // GATES
        training = any(ctx.needs_input_grad)
        (acts,) = _buffers(1, u)  # σ(z_i), σ(z_f), tanh(z_g), σ(z_o) per step, gate-minor like u
        c, tau, h = (u.new_empty(T, B, n) for _ in range(3))
        map_saved = _buffers(lmap.forward_saved if any(ctx.needs_input_grad[4:]) else 0, u)
        h_prev, us, hs = h0, u.unbind(0), h.unbind(0)
        if isinstance(lmap, KroneckerGatesMap):  # the gate step adds u to the map's gate-major product itself
            product, y = lmap.gate_major_fn(tensors, map_saved), u.new_empty(GATES, B, n)
            gate_step = forward_step_fn(c0, acts, c, tau, h, u.contiguous(), lmap.block(tensors))
            for t in range(T):
                product(h_prev, y, t)
                gate_step(t, y)
                h_prev = hs[t]
        else:
            step, z = lmap.forward_fn(tensors, map_saved), u.new_empty(B, width)  # z_t = u_t + L h_{t−1}, not kept
            gate_step = forward_step_fn(c0, acts, c, tau, h)
            for t in range(T):
                step(h_prev, us[t], z, t)
                gate_step(t, z)
                h_prev = hs[t]
        ctx.lmap, ctx.n_map = lmap, len(map_saved)
        ctx.set_materialize_grads(False)
        if training:
            ctx.save_for_backward(h0, c0, acts, c, tau, h, *map_saved, *tensors)
        return h, h[-1].clone(), c[-1].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out, grad_h_last, grad_c_last):
        lmap = ctx.lmap
        h0, c0, acts, c, tau, h, *rest = ctx.saved_tensors
        map_saved, tensors = rest[: ctx.n_map], rest[ctx.n_map :]
        need_u, need_h0, need_c0, *need_tensors = ctx.needs_input_grad[1:]
        T, B, width = acts.shape
        n = width // GATES
        record = StepRecord(h0, h, map_saved) if any(need_tensors) else None
        outs = grad_out.unbind(0) if grad_out is not None else [None] * T
        g_h, g_c = (h0.new_zeros(B, n) for _ in "hc")  # h̄_t and c̄_t, rewritten per step (Note [LSTM step buffers])
        for g in (outs[T - 1], grad_h_last):  # h̄_{T−1} = ∂ℓ/∂out_{T−1} + ∂ℓ/∂h_T (0 + a + b rounds as a + b)
            if g is not None:
                g_h.add_(g)
        if grad_c_last is not None:
            g_c.copy_(grad_c_last)
        (g_z,) = _buffers(1, acts)  # ż_t of Note [Fused LSTM BPTT], the gradient of u
        if isinstance(lmap, KroneckerGatesMap):  # the gate step also writes ż_t in the map's gate-major layout
            adjoint, major = lmap.gate_major_adjoint_fn(tensors, record), acts.new_empty(GATES, B, n)
            gate_step = backward_step_fn(g_h, g_c, c0, acts, c, tau, g_z, major, lmap.block(tensors))
            g_zs = [major] * T  # ż_{t+1} is read before step t overwrites it: one buffer serves all steps
        else:
            adjoint, gate_step = lmap.adjoint_fn(tensors, record), backward_step_fn(g_h, g_c, c0, acts, c, tau, g_z)
            g_zs = g_z.unbind(0)
        for t in range(T - 1, -1, -1):
            if t < T - 1:  # h̄_t = ∂ℓ/∂out_t + Lᵀ ż_{t+1}, written into g_h
                adjoint(g_zs[t + 1], outs[t], g_h, t + 1)
            gate_step(t)  # ż_t into g_z[t] (and the gate-major buffer), c̄_{t−1} over g_c
        run_first = need_h0 or (record is not None and lmap.adjoint_every_step)
        grad_h0 = adjoint(g_zs[0], None, None, 0) if run_first else None
        grad_tensors = [None] * len(tensors)
        if record is not None:
            grad_tensors = lmap.tensor_grads(tensors, need_tensors, record, g_z)
        return (None, g_z if need_u else None, grad_h0 if need_h0 else None, g_c if need_c0 else None,
                *grad_tensors)


def fused_lstm(lmap: LinearMap, tensors: Sequence[Tensor], u: Tensor, h0: Tensor, c0: Tensor):
    r"""All states of the LSTM with gate pre-activations u_t + L h_{t−1}, with the BPTT of Note [Fused LSTM BPTT].

    Args:
        lmap: the linear map L from the state (width N) to the gates (width 4N, gate order i, f, g, o, each gate
            a block of N columns), e.g. :class:`~urnn_zoo.engine.recurrence.DenseMap` with a (N, 4N) Wᵀ.
        tensors: the tensors L is built from (gradients flow to them).
        u: (T, B, 4N) real projected inputs with their biases, gate-minor.
        h0, c0: (B, N) state before the first step, the dtype of ``u``.

    Returns:
        ``(h, h_T, c_T)``: (T, B, N) states h_1..h_T, and the final (B, N) h_T and c_T.

    Raises:
        ValueError: u not (T, B, 4N) with T >= 1, or h0, c0 not (B, N).
        TypeError: a complex ``u``, or h0, c0 of another dtype than ``u``.

    Example:
        >>> from urnn_zoo.engine.recurrence import DenseMap
        >>> wt, u = torch.zeros(2, 8, dtype=torch.float64), torch.ones(3, 1, 8, dtype=torch.float64)
        >>> h, h_last, c_last = fused_lstm(DenseMap(), [wt], u, torch.zeros(1, 2, dtype=torch.float64),
        ...                                torch.zeros(1, 2, dtype=torch.float64))
        >>> tuple(h.shape), bool(torch.equal(h[-1], h_last))
        ((3, 1, 2), True)
    """
    if u.dim() != 3 or u.shape[0] == 0 or u.shape[2] % GATES:
        raise ValueError(f"expected u of shape (T, B, 4N) with T >= 1, got u of shape {tuple(u.shape)}")
    if u.is_complex() or not u.is_floating_point():
        raise TypeError(f"expected a real floating u (the LSTM's gates are real), got dtype {u.dtype}")
    state = (u.shape[1], u.shape[2] // GATES)
    for name, s in (("h0", h0), ("c0", c0)):
        if s.shape != state:
            raise ValueError(f"expected {name} of shape (B, N) = {state} for u of shape {tuple(u.shape)}, "
                             f"got {tuple(s.shape)}")
        if s.dtype != u.dtype:
            raise TypeError(f"expected {name} of the dtype of u ({u.dtype}), got {s.dtype}")
    return _FusedLSTM.apply(lmap, u, h0, c0, *tensors)
