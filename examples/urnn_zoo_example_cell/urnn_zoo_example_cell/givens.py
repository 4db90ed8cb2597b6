r"""An orthogonal RNN whose recurrent matrix is two layers of Givens rotations: a cell in a package of its own,
which urnn_zoo finds through the entry point ``givens`` of the group ``urnn_zoo.cells``.

Note [Two layers of Givens rotations]
    A Givens rotation by θ on coordinates (i, i+1) is the identity except for the 2x2 block
    [[cos θ, −sin θ], [sin θ, cos θ]]. Layer A rotates the pairs (0, 1), (2, 3), …, (N−2, N−1) (N/2 angles),
    layer B the pairs (1, 2), (3, 4), …, (N−3, N−2) (N/2 − 1 angles, coordinates 0 and N−1 left alone), and
    W = B·A. Each layer is orthogonal for every angle, so W is orthogonal by construction (``constraint =
    "exact"``) with N − 1 free angles. It is the real, capacity-2 case of the tunable EUNN of L. Jing,
    Y. Shen, T. Dubček, J. Peurifoy, S. Skirlo, Y. LeCun, M. Tegmark and M. Soljačić, "Tunable Efficient
    Unitary Neural Networks (EUNN) and their Application to RNNs", ICML 2017, arXiv:1612.05231 (their Eq. 5
    with real rotations and two alternating layers).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from urnn_zoo.cells.base import InadmissibleSizeError, RecurrentCell

__all__ = ["GivensRNN", "rotation_layer"]


def rotation_layer(theta: Tensor, n: int, first: int) -> Tensor:
    r"""The N x N matrix of disjoint Givens rotations by ``theta[k]`` on the pairs (first + 2k, first + 2k + 1).

    Args:
        theta: the angles (radians), shape (K,) with first + 2K <= n.
        n: N. first: the first coordinate of the first pair (0 for layer A, 1 for layer B).

    Returns:
        The orthogonal (n, n) matrix, differentiable in ``theta``.
    """
    i = first + 2 * torch.arange(theta.numel(), device=theta.device)
    c, s = torch.cos(theta), torch.sin(theta)
    g = torch.eye(n, dtype=theta.dtype, device=theta.device)
    return g.index_put((i, i), c).index_put((i + 1, i + 1), c).index_put((i, i + 1), -s).index_put((i + 1, i), s)


class GivensRNN(RecurrentCell):
    r"""h_t = tanh(W h_{t−1} + U x_t + b), W = B·A two layers of Givens rotations (Note [Two layers of Givens
    rotations]); real, orthogonal by construction.

    For an example, W is formed once per forward (N x N) and applied by one matmul per step; a cell for large N
    would apply the rotations pair by pair in O(N) per step (urnn_zoo's ``eurnn`` does).

    Args:
        input_size: n_in. hidden_size: N, an even int >= 2.
        dtype, device: of the parameters.
        init_scale: the angles start uniform in [−init_scale, init_scale] (default π: W uniform over this family).

    Raises:
        InadmissibleSizeError: N is not an even int >= 2 (before anything is built).
        ValueError: ``init_scale`` is not a finite number >= 0.

    Example:
        >>> import torch
        >>> cell = GivensRNN(3, 8)
        >>> out, h = cell(torch.randn(5, 2, 3))
        >>> out.shape, cell.parameter_count().recurrent_dof
        (torch.Size([5, 2, 8]), 7)
    """

    name = "givens"
    constraint = "exact"

    @classmethod
    def size_rule(cls, hidden_size: int, options: dict) -> None:
        if hidden_size < 2 or hidden_size % 2:
            raise InadmissibleSizeError(f"{cls.name}: hidden_size must be an even int >= 2 (disjoint pairs of "
                                        f"coordinates), got {hidden_size!r}")

    def __init__(self, input_size: int, hidden_size: int, *, dtype=None, device=None, init_scale: float = math.pi):
        if isinstance(init_scale, bool) or not isinstance(init_scale, (int, float)) or not 0 <= init_scale < math.inf:
            raise ValueError(f"init_scale: expected a finite number >= 0, got {init_scale!r}")
        super().__init__(input_size, hidden_size, is_complex=False)
        n = hidden_size
        self.theta_a = nn.Parameter(torch.empty(n // 2, dtype=dtype, device=device).uniform_(-init_scale, init_scale))
        self.theta_b = nn.Parameter(torch.empty(n // 2 - 1, dtype=dtype, device=device).uniform_(-init_scale,
                                                                                                  init_scale))
        self.input = nn.Linear(input_size, n, dtype=dtype, device=device)

    def recurrent_matrix(self) -> Tensor:
        n = self.hidden_size
        return rotation_layer(self.theta_b, n, 1) @ rotation_layer(self.theta_a, n, 0)

    def prepare(self) -> Tensor:
        return self.recurrent_matrix()

    def project_input(self, x: Tensor) -> Tensor:
        return self.input(x)

    def recur(self, u: Tensor, h: Tensor, w: Tensor) -> Tensor:
        return torch.tanh(h @ w.mT + u)

    def recurrent_parameters(self) -> list[nn.Parameter]:
        return [self.theta_a, self.theta_b]
