r"""scoRNN: the scaled Cayley orthogonal RNN (Helfrich, Willmott, Ye, ICML 2018, arXiv 1707.09520).

h_t = modReLU(W h_{t−1} + V x_t), W = ((I + A)⁻¹(I − A)·D)ᵀ with A skew-symmetric and D a fixed diagonal of
±1 with ρ entries −1, real throughout: the original code forms (I + A)⁻¹(I − A)·D and multiplies row vectors
by it (Note [scoRNN orientation]).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from urnn_zoo.activations import ModReLU
from urnn_zoo.cells.shared import RowMatrixCell, skew_init, skew_of
from urnn_zoo.cells.sizes import check_count

__all__ = ["ScoRNN", "scaled_cayley", "scaling_diagonal"]

# Note [scoRNN orientation]
# The paper writes W = (I + A)⁻¹(I − A)D; the code (SpartinStuff/scoRNN, `makeW` and `scoRNNCell`) forms that
# same matrix, call it W_row, and multiplies row vectors by it, state·W_row. We keep the code (Note [Row-convention
# cells] in urnn_zoo.cells.shared): the step applies W_row to row-batched states, and the map applied to column
# vectors, `recurrent_matrix()`, is W_rowᵀ = D(I + A)(I − A)⁻¹, with D applied last. Same parameter A (the code stores the full skew matrix,
# we its strictly upper part), same D, same initial W and the same trajectory under any optimizer
# (tests/test_original_maps.py). (Applying the paper's W to column vectors instead, D first, spans the same
# set of matrices, Cay(A)·D = D·Cay(DAD), but runs the original on other coordinates of A.)

# Note [scoRNN's update rule is gradient descent on A]
# scoRNN does not backpropagate through the Cayley transform: it takes G = ∂L/∂W_row for its row-form
# W_row = (I + A)⁻¹(I − A)D and updates A with the closed form ∇_A = Vᵀ − V, V = (I + A)⁻ᵀ G (D + W_rowᵀ)
# (``Cayley_Transform_Deriv``), fed to RMSprop/Adam on the full matrix A, which keeps it skew. From
# dW_row = −(I + A)⁻¹ dA (W_row + D), the gradient of L with respect to a free A is −V, so with A = S − Sᵀ,
# S the strictly upper part of our free parameter, ∂L/∂S = triu(Vᵀ − V, 1): the same entries as ∇_A. Any
# elementwise optimizer (SGD, RMSprop, Adam) therefore moves A exactly as scoRNN's rule does, and autograd
# through the Cayley transform here is equivalent to it (tested against the closed form in
# tests/test_scornn.py). The lower part of the parameter gets zero gradient and stays 0.


def scaling_diagonal(n: int, rho: int) -> Tensor:
    r"""The diagonal of D: n − ρ ones, then ρ minus ones (the order of the original scripts).

    Example:
        >>> scaling_diagonal(4, 1)
        tensor([ 1.,  1.,  1., -1.], dtype=torch.float64)
    """
    return torch.cat([torch.ones(n - rho, dtype=torch.float64), -torch.ones(rho, dtype=torch.float64)])


def scaled_cayley(a: Tensor, d: Tensor) -> Tensor:
    r"""scoRNN's W_row = (I + A)⁻¹(I − A)·diag(d) (paper eq. for W; code ``makeW``), by one dense solve.

    The cell applies it to row vectors, as the code does: its column map is the transpose.

    Args:
        a: (n, n) skew-symmetric (I + A is then invertible: its eigenvalues are 1 + iλ).
        d: (n,) the diagonal of D.

    Returns:
        The orthogonal (n, n) W, differentiable in ``a``.

    Example:
        >>> a = torch.tensor([[0.0, 0.5], [-0.5, 0.0]], dtype=torch.float64)
        >>> w = scaled_cayley(a, torch.tensor([1.0, -1.0], dtype=torch.float64))
        >>> torch.allclose(w.T @ w, torch.eye(2, dtype=torch.float64)), round(torch.linalg.det(w).item(), 12)
        (True, -1.0)
    """
    eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
    return torch.linalg.solve(eye + a, eye - a) * d


class ScoRNN(RowMatrixCell):
    r"""scoRNN: an orthogonal W by the Cayley transform of a skew A, scaled by a fixed ±1 diagonal.

    As in Helfrich et al.'s code, the state is multiplied on the right by W_row = (I + A)⁻¹(I − A)·D, so
    ``recurrent_matrix()`` (the column map) is W_rowᵀ = D(I + A)(I − A)⁻¹ (Note [scoRNN orientation]).

    Args:
        input_size: n_in.
        hidden_size: N.
        dtype, device: of the parameters.
        rho: number of −1 entries of D, 0 ≤ ρ ≤ N (None, the default: N // 2). det W = (−1)^ρ. D is a
            buffer, never trained; the Cayley transform alone reaches only matrices without eigenvalue −1, so ρ
            picks which ones W can approach.

    A is held as the strictly upper part of a free N x N parameter (N² stored, N(N−1)/2 used), initialised as
    the code does (blocks −tan(θ/2), θ ~ U(0, π/2)); W is formed once per forward by a dense solve. modReLU's
    bias (0 at init, as the original) is the only bias; V ~ U(±0.01) without bias.

    Example:
        >>> cell = ScoRNN(3, 6)
        >>> round(torch.linalg.det(cell.recurrent_matrix()).item(), 6)  # ρ = 3
        -1.0
    """

    name = "scornn"
    constraint = "exact"

    @classmethod
    def size_rule(cls, hidden_size: int, options: dict) -> None:
        r"""rho entries −1 of D, 0 <= rho <= N (None: rho = N // 2)."""
        check_count("rho", "number of −1 entries of D", options["rho"], 0, hidden_size)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        *,
        dtype=None,
        device=None,
        rho: int | None = None,
    ) -> None:
        super().__init__(input_size, hidden_size, is_complex=False, rho=rho)
        n = hidden_size
        rho = n // 2 if rho is None else rho
        dtype = dtype or torch.get_default_dtype()
        self.rho = rho
        self.raw_skew = nn.Parameter(skew_init(n, "cayley").triu(1).to(dtype=dtype, device=device))
        self.register_buffer("d", scaling_diagonal(n, rho).to(dtype=dtype, device=device))
        self.input = nn.Linear(input_size, n, bias=False, dtype=dtype, device=device)
        nn.init.uniform_(self.input.weight, -0.01, 0.01)
        self.act = ModReLU(n, bias_init=0.0, dtype=dtype, device=device)

    def skew(self) -> Tensor:
        r"""A = S − Sᵀ with S the strictly upper part of the free parameter."""
        return skew_of(self.raw_skew)

    def row_matrix(self) -> Tensor:
        r"""W_row = (I + A)⁻¹(I − A)·D, the matrix the original multiplies its row-vector state by."""
        return scaled_cayley(self.skew(), self.d)

    def project_input(self, x: Tensor) -> Tensor:
        return self.input(x)

    def recurrent_parameters(self) -> list[nn.Parameter]:
        return [self.raw_skew]

    def recurrent_dof(self) -> int:
        return self.hidden_size * (self.hidden_size - 1) // 2

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rho={self.rho}"
