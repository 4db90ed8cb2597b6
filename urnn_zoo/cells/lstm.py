r"""The LSTM baseline (Hochreiter & Schmidhuber, Neural Computation 1997): torch's fused ``nn.LSTM`` behind the
cell contract."""
from __future__ import annotations

import torch
from torch import Tensor, nn

from urnn_zoo.arguments import check, finite_float
from urnn_zoo.cells.base import RecurrentCell, frobenius_unitarity_error

__all__ = ["LSTM"]


class LSTM(RecurrentCell):
    r"""Stock LSTM (i, f, g, o gates, no peepholes, forget-gate bias 1), as EUNN-TF and expRNN use.

    The whole sequence goes through ``nn.LSTM`` (oneDNN on CPU, cuDNN on GPU); ``step`` runs the same module
    on one step, so both give the same numbers. The state is the pair ``(h, c)``.

    Args:
        input_size: n_in.
        hidden_size: N.
        dtype, device: of the parameters.
        forget_bias: initial forget-gate bias, a finite number (default 1, as EUNN-TF's and expRNN's
            baselines use).

    Example:
        >>> cell = LSTM(3, 8)
        >>> out, (h, c) = cell(torch.randn(5, 2, 3))
        >>> out.shape, cell.recurrent_matrix().shape
        (torch.Size([5, 2, 8]), torch.Size([32, 8]))
    """

    name = "lstm"
    constraint = "none"
    step_via_run = True
    state_parts = ("h", "c")

    def __init__(self, input_size: int, hidden_size: int, *, dtype=None, device=None, forget_bias: float = 1.0):
        forget_bias = check(forget_bias, finite_float, "forget_bias")
        super().__init__(input_size, hidden_size, is_complex=False)
        self.lstm = nn.LSTM(input_size, hidden_size, dtype=dtype, device=device)
        n = hidden_size
        with torch.no_grad():
            self.lstm.bias_ih_l0[n : 2 * n].fill_(forget_bias)
            self.lstm.bias_hh_l0[n : 2 * n].zero_()

    def initial_state(self, batch_size: int, device=None, dtype=None):
        h = super().initial_state(batch_size, device, dtype)
        return h, torch.zeros_like(h)

    def state_output(self, state) -> Tensor:
        return state[0]

    def run(self, x: Tensor, state):
        h, c = state
        out, (h, c) = self.lstm(x, (h.unsqueeze(0), c.unsqueeze(0)))
        return out, (h.squeeze(0), c.squeeze(0))

    def recurrent_matrix(self) -> Tensor:
        r"""The gates' recurrent matrices stacked, (4N, N), gate order i, f, g, o."""
        return self.lstm.weight_hh_l0

    def unitarity_error(self) -> Tensor:
        r"""The largest per-gate ‖W_g^T W_g − I‖_F."""
        with torch.no_grad():
            gates = self.recurrent_matrix().view(4, self.hidden_size, self.hidden_size)
            return frobenius_unitarity_error(gates).max()

    def recurrent_parameters(self) -> list[nn.Parameter]:
        return [self.lstm.weight_hh_l0]
