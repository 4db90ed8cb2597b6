r"""KRU-LSTM: an LSTM whose recurrent matrix per gate is Kronecker-factored (Jose, Cissé, Fleuret, "Kronecker
Recurrent Units", ICML 2018, arXiv 1705.10142, Tables 3 and 4); docs/families.md#kru_lstm.

Gates (i, f, g, o) = U x_t + b + [K_i h; K_f h; K_g h; K_o h], K_gate = W_0^gate ⊗ … ⊗ W_{F−1}^gate with real
square factors, c_t = σ(f)·c_{t−1} + σ(i)·tanh(g), h_t = σ(o)·tanh(c_t). The music count of the KRU paper (172 =
4 gates x real [3, 3, 5]) is what this layout reproduces.

``forward`` runs the whole sequence through the fused LSTM recurrence (Note [Fused LSTM BPTT] in
urnn_zoo.engine.lstm_recurrence), the gates' map the dense (N, 4N) Kᵀ or the per-gate Kronecker groups
(:class:`~urnn_zoo.engine.kronecker_gates.KroneckerGatesMap`); ``cell.fused = False`` and :meth:`step` run the
per-step autograd loop over ``recur``, the reference.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from urnn_zoo.arguments import boolean, check, finite_float
from urnn_zoo.cells.base import RecurrentCell
from urnn_zoo.engine.kronecker_gates import KroneckerGatesMap
from urnn_zoo.engine.lstm_recurrence import fused_lstm
from urnn_zoo.engine.recurrence import DenseMap
from urnn_zoo.kron import (
    STRATEGIES,
    forms_dense,
    init_factor,
    kron_dense,
    kron_penalty,
    kron_unitarity_error,
    split_in_two,
    square_factor_sizes,
)

__all__ = ["KRULSTM"]

GATES = 4


class KRULSTM(RecurrentCell):
    r"""LSTM with Kronecker-factored recurrent matrices, one per gate (the KRU paper's KRU-LSTM).

    Args:
        input_size: n_in.
        hidden_size: N = ∏P_f.
        dtype, device: of the parameters.
        factors, num_factors, init, strategy: as for ``kru`` (:class:`~urnn_zoo.cells.kru.KRU`).
        complex_factors: must be False: the gates' sigmoid and tanh are real, so the factors are real.
        forget_bias: initial forget-gate bias (1, as the LSTM baseline).

    Example:
        >>> cell = KRULSTM(88, 45, factors=[3, 3, 5])
        >>> cell.parameter_count().recurrent_dof
        172
    """

    name = "kru_lstm"
    state_parts = ("h", "c")
    constraint = "soft"

    @classmethod
    def size_rule(cls, hidden_size: int, options: dict) -> None:
        r"""KRU's rule (:func:`~urnn_zoo.cells.kru.square_factor_sizes`): square factors with ∏P_f = N."""
        square_factor_sizes(hidden_size, options["factors"], options["num_factors"])

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        dtype=None,
        device=None,
        factors: Sequence | None = None,
        num_factors: int = 2,
        complex_factors: bool = False,
        init: str = "unitary",
        strategy: str = "auto",
        forget_bias: float = 1.0,
    ) -> None:
        super().__init__(input_size, hidden_size, is_complex=False, factors=factors, num_factors=num_factors)
        if check(complex_factors, boolean, "complex_factors"):
            raise ValueError(
                "kru_lstm has real gates (sigmoid/tanh), so its Kronecker factors are real: "
                "expected complex_factors=False, got True"
            )
        if strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        forget_bias = check(forget_bias, finite_float, "forget_bias")
        dtype = dtype or torch.get_default_dtype()
        self.sizes = square_factor_sizes(hidden_size, factors, num_factors)
        self.init, self.strategy = init, strategy
        # factors[f] holds factor f of every gate: (4, P_f, P_f).
        self.factors = nn.ParameterList(
            [
                nn.Parameter(torch.stack([init_factor(p, init, dtype) for _ in range(GATES)]).to(device))
                for p in self.sizes
            ]
        )
        self.input = nn.Linear(input_size, GATES * hidden_size, dtype=dtype, device=device)
        with torch.no_grad():
            self.input.bias.zero_()
            self.input.bias[hidden_size : 2 * hidden_size].fill_(forget_bias)

    def gate_factors(self, gate: int) -> list[Tensor]:
        r"""The Kronecker factors [W_0, ..., W_{F−1}] of one gate (0..3 for i, f, g, o)."""
        return [f[gate] for f in self.factors]

    @property
    def uses_dense(self) -> bool:
        return forms_dense(self.strategy, self.sizes)

    def initial_state(self, batch_size: int, device=None, dtype=None):
        h = super().initial_state(batch_size, device, dtype)
        return h, torch.zeros_like(h)

    def state_output(self, state) -> Tensor:
        return state[0]

    def prepare(self) -> list[Tensor]:
        if self.uses_dense:
            return [self.recurrent_matrix().mT]
        # Two groups per gate, stacked over gates: A (4, 1, P_A, P_A) and B^T (4, 1, P_B, P_B), broadcast
        # over the batch in `recur` (Note [KRU compute strategy] in urnn_zoo.cells.kru_factors).
        k = split_in_two(self.sizes)
        a = torch.stack([kron_dense(self.gate_factors(g)[:k]) for g in range(GATES)])
        b = torch.stack([kron_dense(self.gate_factors(g)[k:]) for g in range(GATES)])
        return [a.unsqueeze(1), b.mT.unsqueeze(1)]

    def project_input(self, x: Tensor) -> Tensor:
        return self.input(x)

    def forward(self, x: Tensor, state=None):
        r"""Run the whole sequence: the fused LSTM recurrence (:func:`~urnn_zoo.engine.lstm_recurrence.fused_lstm`,
        Note [Fused LSTM BPTT]), or with ``fused = False`` the contract's per-step autograd loop over :meth:`recur`
        (the reference). Either way :meth:`prepare` runs once.

        Args:
            x: real (T, B, input_size), time-major.
            state: ``(h, c)``, two (B, N) tensors of the cell's dtype; None means :meth:`initial_state` (B).

        Returns:
            ``(out, (h_T, c_T))``: the real (T, B, N) outputs h_1..h_T and the final state.

        Raises:
            ValueError, TypeError: ``x`` is not (T, B, input_size) of the cell's dtype, or ``state`` is not such a
                pair; before any work.
        """
        self._check_input(x, 3, "(T, B, input_size)")
        if state is None:
            state = self.initial_state(x.shape[1], device=x.device)
        else:
            self.check_state(state, x.shape[1])
        if not self.fused:
            return self.run(x, state)  # the contract's loop: prepare, project_input, recur per step
        ctx = self.prepare()  # [Kᵀ] (N, 4N), or the groups (A, Bᵀ): Note [KRU-LSTM gate maps]
        lmap = DenseMap() if len(ctx) == 1 else KroneckerGatesMap()
        out, h_last, c_last = fused_lstm(lmap, ctx, self.project_input(x), *state)
        return out, (h_last, c_last)

    def recur(self, u: Tensor, state, ctx: list[Tensor]):
        h, c = state
        if len(ctx) == 1:
            gates = torch.addmm(u, h, ctx[0])
        else:
            a, bt = ctx
            # (A ⊗ B) vec_row(X) = vec_row(A X B^T) per gate, X = h viewed (B, P_A, P_B).
            y = a @ h.view(1, h.shape[0], a.shape[-1], bt.shape[-1]) @ bt  # (4, B, P_A, P_B)
            gates = u + y.reshape(GATES, h.shape[0], -1).transpose(0, 1).reshape(h.shape[0], -1)
        i, f, g, o = gates.chunk(GATES, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    def recurrent_matrix(self) -> Tensor:
        r"""The gates' recurrent matrices stacked, (4N, N), gate order i, f, g, o."""
        return torch.cat([kron_dense(self.gate_factors(g)) for g in range(GATES)])

    def penalty(self) -> Tensor:
        r"""Σ over gates and factors of ‖W_f^T W_f − I‖_F²."""
        return sum(kron_penalty(self.gate_factors(g)) for g in range(GATES))

    def unitarity_error(self) -> Tensor:
        r"""The largest per-gate ‖K^T K − I‖_F, without forming K."""
        with torch.no_grad():
            return torch.stack([kron_unitarity_error(self.gate_factors(g)) for g in range(GATES)]).max()

    def recurrent_parameters(self) -> list[nn.Parameter]:
        return list(self.factors)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, factors={self.sizes} x {GATES} gates, strategy={self.strategy!r}"
