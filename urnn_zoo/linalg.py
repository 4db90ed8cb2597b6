r"""The zoo's one matrix exponential: :func:`expm`, accurate at every norm, forward and backward.

Every cell that exponentiates a generator (expRNN's ``map="expm"``, fcurnn's ``parametrization="matrix_exp"``)
goes through :func:`expm`, never through ``torch.linalg.matrix_exp`` of a single matrix (Note [matrix_exp of a
single matrix]).
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["expm"]


# Note [matrix_exp of a single matrix]
# In torch 2.13 `torch.linalg.matrix_exp` of one matrix (shape (n, n), or a batch of exactly one) is wrong in
# the 1-norm band where torch picks its degree-8 Taylor approximant, (3.4e-4, 0.050] in float64 and
# (0.051, 0.58] in float32, by an error that grows with the norm across the band. Measured on 2x2 rotations
# by θ against (cos θ, sin θ): 1.9e-10 at θ = 0.0499 in float64 (a few 1e-17 just outside the band) and
# 4e-5 at θ = 0.55 in float32 (1e-7 outside), exactly the small generators of early training and of every
# expRNN re-base. For a batch of two or more matrices the same call is correct at every norm (within a few
# ulps of the exact rotation, and within scipy.linalg.expm's own error elsewhere: tests/test_expm.py). Its
# backward is itself a matrix exponential (of the 2n x 2n block matrix [[Aᴴ, G], [0, Aᴴ]], Mathias 1996), so
# a single-matrix backward meets the same fault and a batched one does not. :func:`expm` therefore
# exponentiates a batch of at least two matrices: a lone matrix is paired with a zero matrix, whose
# exponential is the identity and whose gradient is dropped; the extra work is one more n x n exponential.


def expm(a: Tensor) -> Tensor:
    r"""The matrix exponential exp(A) of a square matrix or a batch of them, through torch's batched kernel.

    Args:
        a: (..., n, n) real or complex, any device (float32/64, complex64/128). For a skew-symmetric or
            skew-Hermitian A the result is orthogonal or unitary to rounding at every norm.

    Returns:
        exp(A), same shape, dtype and device, differentiable in ``a`` (its backward is batched as well).

    Raises:
        ValueError: ``a`` is not a (..., n, n) floating-point or complex tensor.

    Source: the scaling-and-squaring Taylor algorithm of Bader, Blanes & Casas (Mathematics 2019) as torch
    implements it, kept on the batched path (Note [matrix_exp of a single matrix]).

    Example:
        >>> import math
        >>> theta = 0.047  # inside the band where torch's single-matrix matrix_exp is off by 1.9e-10
        >>> w = expm(torch.tensor([[0.0, -theta], [theta, 0.0]], dtype=torch.float64))
        >>> exact = torch.tensor([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]],
        ...                      dtype=torch.float64)
        >>> (w - exact).abs().max().item() < 1e-15
        True
    """
    if a.dim() < 2 or a.shape[-1] != a.shape[-2] or not (a.is_floating_point() or a.is_complex()):
        raise ValueError(
            f"expm expects a floating-point or complex tensor of shape (..., n, n), got dtype {a.dtype} and "
            f"shape {tuple(a.shape)}"
        )
    flat = a.reshape(-1, *a.shape[-2:])
    if flat.shape[0] >= 2:
        return torch.linalg.matrix_exp(flat).reshape(a.shape)
    return torch.linalg.matrix_exp(torch.cat([flat, torch.zeros_like(flat)]))[:1].reshape(a.shape)
