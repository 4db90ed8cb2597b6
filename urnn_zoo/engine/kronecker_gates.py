r"""KRU-LSTM's recurrent map: the four LSTM gates' Kronecker products K_g = A_g ⊗ B_g on row states, with its
adjoint and the gradients of A and Bᵀ, for the fused LSTM (urnn_zoo.engine.lstm_recurrence).

KRU-LSTM (Jose, Cissé and Fleuret, "Kronecker Recurrent Units", ICML 2018, arXiv 1705.10142) factors each gate's
recurrent matrix; its ``prepare`` (urnn_zoo.cells.kru_lstm) gathers each gate's factors into two groups, A_g
(P_A x P_A) and B_g (P_B x P_B), N = P_A·P_B. The map's own layout for the gates' pre-activations is gate-major
(4, P_A, B, P_B) (Note [KRU-LSTM gate maps]): the fused LSTM's gate step reads and writes it directly
(urnn_zoo.engine.lstm_step); the :class:`~urnn_zoo.engine.recurrence.LinearMap` functions on rows (B, 4N)
convert.
"""
from __future__ import annotations

import torch
from torch import Tensor

from urnn_zoo.engine.lstm_step import GATES
from urnn_zoo.engine.recurrence import LinearMap

__all__ = ["KroneckerGatesMap"]


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
    r"""The four gates' maps K_g = A_g ⊗ B_g on row states, for :func:`~urnn_zoo.engine.lstm_recurrence.fused_lstm`:
    h (B, N) viewed as X (B, P_A, P_B) maps to the (B, 4N) gate-minor rows whose block g is A_g X B_gᵀ.

    The tensors are ``(a, bt)`` as KRU-LSTM's ``prepare`` builds them (urnn_zoo.cells.kru_lstm): A (4, 1, P_A, P_A)
    and Bᵀ (4, 1, P_B, P_B), a gate's groups of adjacent Kronecker factors.
    Forward step: Z = A X for all gates and rows (one GEMM, saved), then Z Bᵀ per gate (one batched GEMM).
    Adjoint step and gradients: Note [KRU-LSTM gate maps]. :meth:`gate_major_fn` and :meth:`gate_major_adjoint_fn`
    work in the map's own gate-major layout (4, P_A, B, P_B), :meth:`forward_fn` and :meth:`adjoint_fn` on rows.

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
    # X side by side), then Y_g = Z_g Bᵀ_g (a batched GEMM over the gates with the rows stacked). Z comes out of
    # its GEMM as (4, P_A, B, P_B), and multiplying each of its P_A·B rows of P_B by Bᵀ_g keeps that order, so Y
    # is (4, P_A, B, P_B) too: gate g of unit p·P_B + q of row b at [g, p, b, q], the gate-major layout. Z is saved
    # in it straight from its GEMM.
    # The adjoint of a step is (A_g ⊗ B_g)ᵀ = A_gᵀ ⊗ B_gᵀ summed over gates: Ȳ_g ↦ Σ_g A_gᵀ Ȳ_g B_g. It is applied
    # as R_g = Ȳ_g (Bᵀ_g)ᵀ (batched over gates; Ȳ gate-major, so R is (4P_A, B·P_B) as it comes out), then
    # X̄ = [A_0ᵀ A_1ᵀ A_2ᵀ A_3ᵀ] [R_0; R_1; R_2; R_3], one GEMM whose inner dimension 4P_A carries the sum over gates.
    # Gradients, summed over steps and rows: Y_g = A_g (X B_gᵀ) gives ∂A_g = Σ Ȳ_g B_g Xᵀ = Σ R_g Xᵀ, one GEMM of
    # the stacked R against the rows' X per step; Y_g = Z_g Bᵀ_g gives ∂Bᵀ_g = Σ Z_gᵀ Ȳ_g, one batched GEMM with
    # the Z the forward saved (its rows in the order of Ȳ's). Both are added per step into (4P_A x P_A) and
    # (4, P_B, P_B) accumulators while the step's tensors are in cache (as Note [KRU fused gradients] in
    # urnn_zoo.cells.kru does for KRU). On rows (B, 4N), the forward permutes Y to rows and the adjoint Ȳ from rows,
    # one copy each; the fused LSTM's gate step reads Y and writes Ȳ gate-major itself (urnn_zoo.engine.lstm_step).

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

    @staticmethod
    def block(tensors) -> int:
        r"""P_B, the innermost size of the gate-major layout (4, P_A, B, P_B)."""
        return tensors[1].shape[-1]

    def gate_major_fn(self, tensors, saved):
        r"""A function (x, out, t) -> L x for rows x (B, N) at step t in the gate-major layout (4, P_A, B, P_B) of
        Note [KRU-LSTM gate maps], written into ``out`` (4·B·N contiguous numbers) when given."""
        a, bt = tensors
        a_cat, bt3, pa, pb = self._stacked(a, bt)
        saved_z = saved[0] if saved else None

        def apply(x, out, t):
            rows = x.shape[0]
            z = torch.mm(a_cat, self._columns(x, pa, pb),
                         out=None if saved_z is None else saved_z[t].view(GATES * pa, rows * pb))
            return torch.bmm(z.view(GATES, pa * rows, pb), bt3,
                             out=None if out is None else out.view(GATES, pa * rows, pb))

        return apply

    def forward_fn(self, tensors, saved):
        product = self.gate_major_fn(tensors, saved)
        pa, pb = tensors[0].shape[-1], self.block(tensors)

        def apply(x, add, out, t):
            y = product(x, None, t).view(GATES, pa, x.shape[0], pb).permute(2, 0, 1, 3)  # (B, 4, P_A, P_B) view
            return _added(y, add, out)

        return apply

    def gate_major_adjoint_fn(self, tensors, record):
        r"""A function (g, add, out, t) -> add + Lᵀ g as rows (B, N) for g gate-major (4, P_A, B, P_B) at step t
        (Note [KRU-LSTM gate maps]), adding this step's share of the gradients of A and Bᵀ when ``record`` is given
        (:meth:`tensor_grads` returns them)."""
        a, bt = tensors
        a_cat, bt3, pa, pb = self._stacked(a, bt)
        at_cat, b3 = a_cat.mT, bt3.mT
        if record is not None:
            saved_z = record.forward[0]
            grad_a = a.new_zeros(GATES * pa, pa)
            grad_bt = bt.new_zeros(GATES, pb, pb)
            self._accumulators = (grad_a, grad_bt)

        def apply(g, add, out, t):
            rows = g.numel() // (GATES * pa * pb)
            g3 = g.reshape(GATES, pa * rows, pb)  # Ȳ per gate
            r = torch.bmm(g3, b3).view(GATES * pa, rows * pb)
            if record is not None:  # this step's shares of ∂A = Σ R Xᵀ and ∂Bᵀ = Σ Zᵀ Ȳ
                grad_a.addmm_(r, self._columns(record.previous(t), pa, pb).mT)
                grad_bt.baddbmm_(saved_z[t].view(GATES, pa * rows, pb).mT, g3)
            x = torch.mm(at_cat, r).view(pa, rows, pb).transpose(0, 1)  # Σ_g A_gᵀ R_g, (B, P_A, P_B) view
            return _added(x, add, out)

        return apply

    def adjoint_fn(self, tensors, record):
        adjoint = self.gate_major_adjoint_fn(tensors, record)
        pa, pb = tensors[0].shape[-1], self.block(tensors)

        def apply(g, add, out, t):
            return adjoint(g.reshape(g.shape[0], GATES, pa, pb).permute(1, 2, 0, 3).contiguous(), add, out, t)

        return apply

    def tensor_grads(self, tensors, wanted, record, g_z):
        grad_a, grad_bt = self._accumulators  # filled by the adjoint steps, t = T−1 .. 0
        self._accumulators = None
        a, bt = tensors
        return [grad_a.view_as(a) if wanted[0] else None, grad_bt.view_as(bt) if wanted[1] else None]
