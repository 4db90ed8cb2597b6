r"""The plain tanh RNN baseline: torch's ``nn.RNN`` behind the cell contract."""
from __future__ import annotations

from torch import Tensor, nn

from urnn_zoo.cells.base import RecurrentCell

__all__ = ["RNN"]


class RNN(RecurrentCell):
    r"""Elman RNN h_t = tanh(W h_{t−1} + U x_t + b), torch's default initialisation.

    Args:
        input_size: n_in.
        hidden_size: N.
        dtype, device: of the parameters.
        nonlinearity: ``"tanh"`` or ``"relu"``.

    Example:
        >>> import torch
        >>> out, h = RNN(3, 8)(torch.randn(5, 2, 3))
        >>> out.shape
        torch.Size([5, 2, 8])
    """

    name = "rnn"
    constraint = "none"
    step_via_run = True

    def __init__(self, input_size: int, hidden_size: int, *, dtype=None, device=None, nonlinearity: str = "tanh"):
        super().__init__(input_size, hidden_size, is_complex=False)
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.rnn = nn.RNN(input_size, hidden_size, nonlinearity=nonlinearity, dtype=dtype, device=device)

    def run(self, x: Tensor, h: Tensor):
        out, h = self.rnn(x, h.unsqueeze(0))
        return out, h.squeeze(0)

    def recurrent_matrix(self) -> Tensor:
        return self.rnn.weight_hh_l0

    def recurrent_parameters(self) -> list[nn.Parameter]:
        return [self.rnn.weight_hh_l0]
