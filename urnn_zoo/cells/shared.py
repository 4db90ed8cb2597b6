r"""Parts several cell families share: the complex input matrix :class:`ComplexInput`, the dense-step cell
:class:`DenseStepCell` and its row-convention form :class:`RowMatrixCell`, the skew generators :func:`skew_init`
of expRNN and scoRNN, and the dense unitarity measure :func:`frobenius_unitarity_error`.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
from torch import Tensor, nn

from urnn_zoo.cells.contract import RecurrentCell
from urnn_zoo.cells.execution import FusedActivation
from urnn_zoo.cells.precision import _keep_complex, complex_dtype_of
from urnn_zoo.cells.unitarity import frobenius_unitarity_error  # re-exported: shared by the dense families
from urnn_zoo.engine.recurrence import DenseMap, LinearMap

__all__ = ["ComplexInput", "DenseStepCell", "RowMatrixCell", "skew_init", "skew_of", "SKEW_INITS",
           "frobenius_unitarity_error"]


SKEW_INITS = ("henaff", "cayley")


def skew_of(raw: Tensor) -> Tensor:
    r"""The skew-symmetric A = S − Sᵀ, S the strictly upper part of the free (…, n, n) ``raw``: the generator of
    expRNN's and nnRNN's P = expm(A) and of scoRNN's Cayley map (only the strictly upper entries are learned).

    Example:
        >>> a = skew_of(torch.arange(9.0).view(3, 3))
        >>> torch.equal(a, -a.mT), a[0, 1].item(), a[1, 0].item()
        (True, 1.0, -1.0)
    """
    upper = raw.triu(1)
    return upper - upper.mT


def skew_init(n: int, init: str = "henaff", generator: torch.Generator | None = None) -> Tensor:
    r"""The block-diagonal skew generators of expRNN (``initialization.py``) and scoRNN, float64.

    A has ⌊n/2⌋ entries s_i at (2i, 2i+1) and −s_i at (2i+1, 2i). ``"henaff"``: s_i ~ U(−π, π), so exp(A) is a
    block rotation by uniform angles. ``"cayley"``: s_i = −√((1 − cos θ_i)/(1 + cos θ_i)) = −tan(θ_i/2),
    θ_i ~ U(0, π/2), the preimage of rotations by θ_i under a Cayley map (scoRNN's init).

    Args:
        n: size.
        init: ``"henaff"`` or ``"cayley"``.
        generator: for the draws.

    Returns:
        (n, n) skew-symmetric float64 tensor.

    Example:
        >>> a = skew_init(4, "henaff")
        >>> torch.equal(a, -a.T), a.abs().max().item() <= math.pi
        (True, True)
    """
    if init not in SKEW_INITS:
        raise ValueError(f"init must be one of {SKEW_INITS}, got {init!r}")
    k = n // 2
    if init == "henaff":
        s = (torch.rand(k, dtype=torch.float64, generator=generator) * 2 - 1) * math.pi
    else:
        theta = torch.rand(k, dtype=torch.float64, generator=generator) * (math.pi / 2)
        s = -torch.sqrt((1 - torch.cos(theta)) / (1 + torch.cos(theta)))
    diag = torch.zeros(max(n - 1, 0), dtype=torch.float64)
    diag[::2] = s
    a = torch.diag(diag, 1)
    return a - a.T


class ComplexInput(nn.Module):
    r"""The complex input matrix V = V_re + i·V_im of the unitary family.

    A real input reaches both parts of the complex state. V is stored as one complex (N, n_in) parameter
    (2·N·n_in reals) and applied as one real GEMM on its real-pair view
    (docs/conventions.md#the-complex-input-matrix).

    Args:
        input_size: n_in.
        hidden_size: N.
        dtype: real dtype of the parts.
        device: where the parameter lives.

    Example:
        >>> v = ComplexInput(3, 4)
        >>> v(torch.randn(5, 2, 3)).dtype
        torch.complex64
    """

    def __init__(self, input_size: int, hidden_size: int, dtype=None, device=None) -> None:
        super().__init__()
        cdtype = complex_dtype_of(dtype or torch.get_default_dtype())
        self.weight = nn.Parameter(torch.empty(hidden_size, input_size, dtype=cdtype, device=device))
        # Glorot-uniform-like bound for each part, as the uRNN codes initialise V.
        bound = math.sqrt(6.0 / (input_size + 2 * hidden_size))
        with torch.no_grad():
            torch.view_as_real(self.weight).uniform_(-bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        n, n_in = self.weight.shape
        # (N, n_in, 2) -> (n_in, N, 2) -> (n_in, 2N): columns interleave Re and Im of each unit, so the
        # product reshapes to (..., N, 2) and is viewed as complex without a copy. A contiguous right operand
        # keeps the weight gradient one plain GEMM (3.4x faster fwd+bwd at N=512 than the transposed form).
        pairs = torch.view_as_real(self.weight).permute(1, 0, 2).reshape(n_in, 2 * n)
        y = x @ pairs
        return torch.view_as_complex(y.reshape(*y.shape[:-1], n, 2))

    def _apply(self, fn, recurse=True):
        return super()._apply(_keep_complex(fn), recurse)  # Note [Precision conversion of complex cells]


class DenseStepCell(RecurrentCell):
    r"""A cell whose step is ``act(W h + u)`` with W formed once per forward (fcurnn, expRNN, scoRNN, nnRNN, oRNN).

    :meth:`prepare` returns Wᵀ (row-batched states: h_t = h_{t−1} Wᵀ); a step is one ``addmm`` and the fused
    loop gets a :class:`~urnn_zoo.engine.recurrence.DenseMap` with ``act`` as its declared activation (none for an
    ``act`` the fused loop does not have, such as leaky ReLU). Subclasses set ``act`` and the rest of the contract.
    """

    act: Callable[[Tensor], Tensor]

    def recur(self, u: Tensor, h: Tensor, wt: Tensor) -> Tensor:
        return self.act(torch.addmm(u, h, wt))

    def fused_map(self, ctx: Tensor) -> tuple[LinearMap, tuple[Tensor, ...]]:
        return DenseMap(), (ctx,)

    def fused_activation(self) -> FusedActivation | None:
        return FusedActivation.of(self.act)


# Note [Row-convention cells]
# Some original codes keep their state as a row vector and update it as h_t = σ(h_{t−1} W_row + x_t V), with a
# matrix W_row that the paper writes down (scoRNN's (I + A)⁻¹(I − A)D, nnRNN's P(Λ + T)Pᵀ). Transposing both
# sides gives the zoo's column convention h_t = σ(W h_{t−1} + V x_t) with W = W_rowᵀ, the plain transpose, never
# the conjugate one (docs/conventions.md#where-an-original-code-used-row-vectors). A batch of states is a (B, N)
# tensor of rows, so the step of DenseStepCell, h_{t−1} @ Wᵀ, is h_{t−1} @ W_row: `prepare` hands W_row to it
# untransposed, and `recurrent_matrix()` is W_rowᵀ. Keeping the code's orientation keeps its parameters, its
# initial W and its trajectory under any optimizer; the family's own Note says how its W_row relates to the paper.
class RowMatrixCell(DenseStepCell):
    r"""A :class:`DenseStepCell` whose original code multiplies row-vector states by a matrix W_row
    (Note [Row-convention cells]): a subclass implements :meth:`row_matrix`; ``prepare`` returns W_row for the
    row-batched step h @ W_row, and ``recurrent_matrix()`` returns the column map W_rowᵀ.
    """

    def row_matrix(self) -> Tensor:
        r"""W_row, the (N, N) matrix the original code multiplies its row-vector state by."""
        raise NotImplementedError

    def prepare(self) -> Tensor:
        return self.row_matrix()  # row-major states: h_t = h_{t−1} W_row, as the original

    def recurrent_matrix(self) -> Tensor:
        return self.row_matrix().mT  # the column map W = W_rowᵀ (Note [Row-convention cells])
