r"""The fused whole-sequence LSTM recurrence with gates u_t + L h_{t−1} and a hand-written BPTT backward.

An LSTM (Hochreiter and Schmidhuber, Neural Computation 9(8), 1997; the form with a forget gate, Gers,
Schmidhuber and Cummins, Neural Computation 12(10), 2000) is not of the form h_t = σ(L h_{t−1} + u_t) that
urnn_zoo.engine.recurrence runs: its state is the pair (h, c) and its step mixes four gates. What it shares with
those cells is the linear part, one map L from the state h (width N) to the four gates' pre-activations (width
4N, gate order i, f, g, o, gate-minor: columns g·N … (g+1)·N − 1 are gate g, as ``nn.Linear(n_in, 4N)`` lays
out u), given as a :class:`~urnn_zoo.engine.recurrence.LinearMap` from N to 4N (a dense (N, 4N) Wᵀ through
:class:`~urnn_zoo.engine.recurrence.DenseMap`, or KRU-LSTM's per-gate Kronecker groups through
:class:`KroneckerGatesMap`). :func:`fused_lstm` runs all T steps with autograd off and computes BPTT itself.

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
saved activations, as autograd's own backward of sigmoid and tanh reads them, so the two paths round alike.
The elementwise work is done per step while the step's (B, N) slices are in cache.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from urnn_zoo.engine.recurrence import LinearMap, StepRecord

__all__ = ["fused_lstm", "KroneckerGatesMap", "GATES"]

GATES = 4  # i, f, g, o


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
        step = lmap.forward_fn(tensors, map_saved)
        z = torch.empty(B, width, dtype=u.dtype, device=u.device)  # scratch: z_t is not kept
        h_prev, c_prev = h0, c0
        for t in range(T):
            step(h_prev, u[t], z, t)
            a3 = acts[t].view(B, GATES, n)
            torch.sigmoid(z, out=acts[t])
            torch.tanh(z.view(B, GATES, n)[:, 2], out=a3[:, 2])
            i, f, g, o = a3.unbind(1)
            torch.mul(f, c_prev, out=c[t])
            c[t].addcmul_(i, g)
            torch.tanh(c[t], out=tau[t])
            torch.mul(o, tau[t], out=h[t])
            h_prev, c_prev = h[t], c[t]
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
        adjoint = lmap.adjoint_fn(tensors, record)
        zero = h0.new_zeros(B, n)
        outs = grad_out.unbind(0) if grad_out is not None else [zero] * T
        g_h = outs[T - 1] if grad_h_last is None else outs[T - 1] + grad_h_last
        g_c = zero if grad_c_last is None else grad_c_last
        (g_z,) = _buffers(1, acts)  # ż_t of Note [Fused LSTM BPTT], the gradient of u
        for t in range(T - 1, -1, -1):
            if t < T - 1:  # h̄_t = ∂ℓ/∂out_t + Lᵀ ż_{t+1}
                g_h = adjoint(g_z[t + 1], outs[t], None, t + 1)
            i, f, g, o = acts[t].view(B, GATES, n).unbind(1)
            dz_i, dz_f, dz_g, dz_o = g_z[t].view(B, GATES, n).unbind(1)
            c_prev = c[t - 1] if t > 0 else c0
            g_c = torch.addcmul(g_c, g_h * o, torch.rsub(tau[t] * tau[t], 1))  # c̃_t = c̄_t + h̄_t·o·(1 − τ²)
            torch.mul(g_h, tau[t], out=dz_o).mul_(o).mul_(torch.rsub(o, 1))  # ż_o = h̄·τ·o(1 − o)
            torch.mul(g_c, g, out=dz_i).mul_(i).mul_(torch.rsub(i, 1))  # ż_i = c̃·g·i(1 − i)
            torch.mul(g_c, c_prev, out=dz_f).mul_(f).mul_(torch.rsub(f, 1))  # ż_f = c̃·c_{t−1}·f(1 − f)
            torch.mul(g_c, i, out=dz_g).mul_(torch.rsub(g * g, 1))  # ż_g = c̃·i·(1 − g²)
            g_c = g_c * f  # c̄_{t−1}
        run_first = need_h0 or (record is not None and lmap.adjoint_every_step)
        grad_h0 = adjoint(g_z[0], None, None, 0) if run_first else None
        grad_tensors = [None] * len(tensors)
        if record is not None:
            grad_tensors = lmap.tensor_grads(tensors, need_tensors, record, g_z)
        return (None, g_z if need_u else None, grad_h0 if need_h0 else None, g_c if need_c0 else None,
                *grad_tensors)


def _added(y: Tensor, add: Tensor | None, out: Tensor | None) -> Tensor:
    r"""``add + y`` (``y`` when ``add`` is None) as contiguous rows (B, width), written into ``out`` when given;
    ``y`` is a strided (B, ...) view, ``add`` any (B, width) tensor (an incoming gradient may be expanded)."""
    if out is None:
        return (y if add is None else add.reshape(y.shape) + y).reshape(y.shape[0], -1)
    target = out.view(y.shape)
    if add is None:
        target.copy_(y)
    else:
        torch.add(add.reshape(y.shape), y, out=target)
    return out


class KroneckerGatesMap(LinearMap):
    r"""The four gates' maps K_g = A_g ⊗ B_g on row states, for :func:`fused_lstm`: h (B, N) viewed as
    X (B, P_A, P_B) maps to the (B, 4N) gate-minor rows whose block g is A_g X B_gᵀ.

    The tensors are ``(a, bt)`` as KRU-LSTM's ``prepare`` builds them (urnn_zoo.cells.kru_lstm): A (4, 1, P_A, P_A)
    and Bᵀ (4, 1, P_B, P_B), a gate's groups of adjacent Kronecker factors.
    Forward step: Z = A X for all gates and rows (one GEMM), then Z Bᵀ per gate (one batched GEMM), added to u;
    Z is saved. Adjoint step and gradients: Note [KRU-LSTM gate maps].

    Example:
        >>> a, bt = torch.randn(4, 1, 2, 2, dtype=torch.float64), torch.randn(4, 1, 3, 3, dtype=torch.float64)
        >>> x = torch.randn(5, 6, dtype=torch.float64)
        >>> dense = torch.cat([torch.kron(a[g, 0], bt[g, 0].mT.contiguous()) for g in range(4)])
        >>> torch.allclose(KroneckerGatesMap().forward_fn([a, bt], ())(x, None, None, 0), x @ dense.T)
        True
    """

    forward_saved = 1
    adjoint_every_step = True

    # Note [KRU-LSTM gate maps]
    # Rows convention: gate g of the map sends X (P_A x P_B, one row of h) to Y_g = A_g X B_gᵀ, i.e. (A_g ⊗ B_g)
    # applied to vec_row(X). All gates at once: Z = [A_0; A_1; A_2; A_3] X (4P_A x P_A times P_A x B·P_B, the rows'
    # X side by side), then Y_g = Z_g Bᵀ_g (a batched GEMM over the gates with the rows stacked).
    # The adjoint of a step is (A_g ⊗ B_g)ᵀ = A_gᵀ ⊗ B_gᵀ summed over gates: Ȳ_g ↦ Σ_g A_gᵀ Ȳ_g B_g. It is applied
    # as R_g = Ȳ_g (Bᵀ_g)ᵀ (batched over gates), then X̄ = [A_0ᵀ A_1ᵀ A_2ᵀ A_3ᵀ] [R_0; R_1; R_2; R_3], one GEMM
    # whose inner dimension 4P_A carries the sum over gates.
    # Gradients, summed over steps and rows: Y_g = A_g (X B_gᵀ) gives ∂A_g = Σ Ȳ_g B_g Xᵀ = Σ R_g Xᵀ, one GEMM of
    # the stacked R against the rows' X per step; Y_g = Z_g Bᵀ_g gives ∂Bᵀ_g = Σ Z_gᵀ Ȳ_g, one batched GEMM with
    # the Z the forward saved. Both are added per step into (4P_A x P_A) and (4, P_B, P_B) accumulators while
    # the step's tensors are in cache (as Note [KRU fused gradients] in urnn_zoo.cells.kru does for KRU).

    def __init__(self) -> None:
        self._accumulators: tuple[Tensor, Tensor] | None = None

    @staticmethod
    def _stacked(a: Tensor, bt: Tensor) -> tuple[Tensor, Tensor, int, int]:
        pa, pb = a.shape[-1], bt.shape[-1]
        return a.reshape(GATES * pa, pa), bt.reshape(GATES, pb, pb), pa, pb

    @staticmethod
    def _columns(x: Tensor, pa: int, pb: int) -> Tensor:
        r"""Rows (B, N) as the P_A x B·P_B matrix [X_0 X_1 ...] (a copy)."""
        return x.reshape(x.shape[0], pa, pb).transpose(0, 1).reshape(pa, -1)

    def forward_fn(self, tensors, saved):
        a, bt = tensors
        a_cat, bt3, pa, pb = self._stacked(a, bt)
        saved_z = saved[0] if saved else None

        def apply(x, add, out, t):
            rows = x.shape[0]
            z = torch.mm(a_cat, self._columns(x, pa, pb)).view(GATES, pa, rows, pb).transpose(1, 2)
            zb = z.reshape(GATES, rows * pa, pb) if saved_z is None else (
                saved_z[t].view(GATES, rows, pa, pb).copy_(z).view(GATES, rows * pa, pb))
            y = torch.bmm(zb, bt3).view(GATES, rows, pa * pb).transpose(0, 1)  # (B, 4, N) view
            return _added(y, add, out)

        return apply

    def adjoint_fn(self, tensors, record):
        a, bt = tensors
        a_cat, bt3, pa, pb = self._stacked(a, bt)
        at_cat, b3 = a_cat.mT, bt3.mT
        if record is not None:
            saved_z = record.forward[0]
            grad_a = a.new_zeros(GATES * pa, pa)
            grad_bt = bt.new_zeros(GATES, pb, pb)
            self._accumulators = (grad_a, grad_bt)

        def apply(g, add, out, t):
            rows = g.shape[0]
            g3 = g.reshape(rows, GATES, pa * pb).transpose(0, 1).reshape(GATES, rows * pa, pb)  # Ȳ per gate
            r = torch.bmm(g3, b3).view(GATES, rows, pa, pb).transpose(1, 2).reshape(GATES * pa, rows * pb)
            if record is not None:  # this step's shares of ∂A = Σ R Xᵀ and ∂Bᵀ = Σ Zᵀ Ȳ
                grad_a.addmm_(r, self._columns(record.previous(t), pa, pb).mT)
                grad_bt.baddbmm_(saved_z[t].view(GATES, rows * pa, pb).mT, g3)
            x = torch.mm(at_cat, r).view(pa, rows, pb).transpose(0, 1)  # Σ_g A_gᵀ R_g, (B, P_A, P_B) view
            return _added(x, add, out)

        return apply

    def tensor_grads(self, tensors, wanted, record, g_z):
        grad_a, grad_bt = self._accumulators  # filled by the adjoint steps, t = T−1 .. 0
        self._accumulators = None
        a, bt = tensors
        return [grad_a.view_as(a) if wanted[0] else None, grad_bt.view_as(bt) if wanted[1] else None]


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
