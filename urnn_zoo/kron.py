r"""Kronecker algebra for Kronecker-factored recurrent matrices (KRU: Jose, Cissé, Fleuret, ICML 2018,
arXiv 1705.10142); the index convention is in docs/conventions.md#kronecker-products.

W = W_0 ⊗ W_1 ⊗ … ⊗ W_{F-1} with W_f of shape (P_f, Q_f) maps ℂ^{∏Q_f} to ℂ^{∏P_f}. Everything here
works on the factors without forming W, except :func:`kron_dense`, the reference. How big the factors are, how
they start and how a forward groups them is :mod:`urnn_zoo.cells.kru_factors` (re-exported here).
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

# The factors' sizes, initial values and grouping (and Note [KRU compute strategy]) live in
# urnn_zoo.cells.kru_factors; their names stay importable from here.
from urnn_zoo.cells.kru_factors import (AUTO_DENSE_MAX_N, FACTOR_INITS, IDENTITY_NOISE_STD, STRATEGIES,  # noqa: F401
                                        factor_shapes, factor_sizes, forms_dense, init_factor, random_unitary,
                                        split_in_two, square_factor_sizes)

__all__ = [
    "factor_sizes", "factor_shapes", "kron_apply", "kron_dense", "kron_penalty",
    "kron_unitarity_error", "random_unitary",
    "square_factor_sizes", "init_factor", "forms_dense", "split_in_two",
    "FACTOR_INITS", "STRATEGIES", "IDENTITY_NOISE_STD", "AUTO_DENSE_MAX_N",
]


def _promoted(factors: Sequence[Tensor], *others: Tensor) -> list[Tensor]:
    if len(factors) == 0:
        raise ValueError("expected at least one Kronecker factor, got none")
    for f, w in enumerate(factors):
        if w.dim() != 2 or w.numel() == 0:
            raise ValueError(f"factor {f} must be a non-empty matrix (2-D), got shape {tuple(w.shape)}")
    tensors = [*factors, *others]
    dtype = functools.reduce(torch.promote_types, (t.dtype for t in tensors))
    return [t if t.dtype == dtype else t.to(dtype) for t in tensors]


# Note [Mode-contraction identity]
# Flatten X ∈ ℂ^{Q_0×…×Q_{F-1}} row-major into x. Then (W_0 ⊗ … ⊗ W_{F-1}) x is the row-major flattening of
# X multiplied along mode f by W_f for every f (for two factors: (A ⊗ B) vec_row(X) = vec_row(A X Bᵀ)), which
# is torch.kron's index order. Each mode product is one GEMM if the mode leads the buffer: hold the batch
# as layout (Q_0, …, Q_{F-1}, M) (one transposing copy), view it as a (Q_0, rest) matrix X and take
# Y = Xᵀ W_0ᵀ (F.linear on a transposed view, no copy), of layout (Q_1, …, Q_{F-1}, M, P_0): mode 1 now
# leads, so repeat. After F steps the layout is (M, P_0, …, P_{F-1}), the answer. Measured on CPU (B=50,
# complex64, forward+backward) this beats Cervnet's batched (P_f×Q_f)·(Q_f×S_f) loop (``cpu_kronecker_forward``
# in ``cijose/garage``'s KroneckerForwardBackward.cu) by up to 2.3x for 2x2 factors and ties it for two large
# factors. Cost Σ_f (∏_{j<f}P_j)·P_f·Q_f·(∏_{j>f}Q_j).


def kron_apply(factors: Sequence[Tensor], x: Tensor) -> Tensor:
    r"""Apply ``W = W_0 ⊗ … ⊗ W_{F-1}`` to every row of ``x`` (column-vector convention) without forming W.

    Args:
        factors: matrices ``W_f`` of shape ``(P_f, Q_f)``, real or complex; mixed dtypes promote.
        x: a tensor of shape ``(..., ∏Q_f)``.

    Returns:
        ``y`` of shape ``(..., ∏P_f)`` with ``y[..., :] = W @ x[..., :]``.

    Example:
        >>> a, b, x = torch.randn(2, 3), torch.randn(4, 5), torch.randn(7, 15)
        >>> torch.allclose(kron_apply([a, b], x), x @ torch.kron(a, b).T, atol=1e-5)
        True
    """
    *factors, x = _promoted(factors, x)
    cols = [w.shape[1] for w in factors]
    if x.dim() == 0 or x.shape[-1] != math.prod(cols):
        raise ValueError(
            f"x must have last dimension ∏Q_f = {math.prod(cols)} for factor shapes "
            f"{[tuple(w.shape) for w in factors]}, got x of shape {tuple(x.shape)}"
        )
    if len(factors) == 1:
        return torch.nn.functional.linear(x, factors[0])
    batch, n = x.shape[:-1], x.shape[-1]
    size = math.prod(batch) * n  # elements in the buffer y
    y = x.reshape(size // n, n).mT  # layout (Q_0, …, Q_{F-1}, M), copied by the first reshape below
    for w in factors:
        y = torch.nn.functional.linear(y.reshape(w.shape[1], size // w.shape[1]).mT, w)
        size = size // w.shape[1] * w.shape[0]
    return y.reshape(*batch, math.prod(w.shape[0] for w in factors))


def kron_dense(factors: Sequence[Tensor]) -> Tensor:
    r"""The dense product ``W_0 ⊗ … ⊗ W_{F-1}``, in torch.kron's index order (that of :func:`kron_apply`).

    Args:
        factors: matrices ``W_f`` of shape ``(P_f, Q_f)``; mixed dtypes promote.

    Returns:
        A ``(∏P_f, ∏Q_f)`` matrix.

    Example:
        >>> kron_dense([torch.eye(2), torch.ones(1, 3)]).shape
        torch.Size([2, 6])
    """
    return functools.reduce(_kron2, _promoted(factors))


# Note [Why not torch.kron]
# torch 2.13's torch.kron raises "view size is not compatible" on transposed inputs (e.g. a factor's .mH),
# so the pairwise product is a broadcast outer product, (A ⊗ B)[i·P_B + k, j·Q_B + l] = A[i, j]·B[k, l],
# which is torch.kron's index order and works for any strides.
def _kron2(a: Tensor, b: Tensor) -> Tensor:
    return (a[:, None, :, None] * b[None, :, None, :]).reshape(a.shape[0] * b.shape[0], a.shape[1] * b.shape[1])


def _sqnorm(t: Tensor) -> Tensor:
    # |z|² without torch.abs, whose complex gradient is NaN at 0 (docs/conventions.md#modrelu).
    return torch.view_as_real(t).square().sum() if t.is_complex() else t.square().sum()


def _gram_and_error(w: Tensor) -> tuple[Tensor, Tensor]:
    gram = w.mH @ w
    return gram, gram - torch.eye(w.shape[1], dtype=w.dtype, device=w.device)


def kron_penalty(factors: Sequence[Tensor]) -> Tensor:
    r"""KRU's soft unitary penalty ``Σ_f ‖W_f^H W_f − I_{Q_f}‖_F²``.

    The penalty of Jose, Cissé, Fleuret (ICML 2018, arXiv 1705.10142), which the trainer adds to the loss
    times λ (docs/families.md#kru).

    Args:
        factors: matrices ``W_f`` of shape ``(P_f, Q_f)``.

    Returns:
        A real scalar tensor, differentiable in the factors. Cost ``Σ_f P_f·Q_f²``.

    Example:
        >>> float(kron_penalty([torch.eye(2), 2 * torch.eye(3)]))
        27.0
    """
    return functools.reduce(torch.add, (_sqnorm(_gram_and_error(w)[1]) for w in _promoted(factors)))


# Note [Stable closed-form unitarity error]
# With G_f = W_f^H W_f, (⊗W_f)^H(⊗W_f) = ⊗G_f, so the error is ‖⊗G_f − I‖_F. Expanding
# ∏‖G_f‖² − 2·Re ∏tr G_f + N cancels catastrophically near unitarity (floor ≈ sqrt(N·eps)). Instead carry
# the small D = (⊗_{j<f} G_j) − I_n and E_f = G_f − I. Since ⊗_{j≤f} G_j = (D + I_n) ⊗ G_f,
#     D' = D ⊗ G_f + I_n ⊗ E_f,
# and with ⟨A, B⟩ = tr(A^H B), ‖A ⊗ B‖² = ‖A‖²‖B‖², ⟨A ⊗ B, C ⊗ D⟩ = ⟨A, C⟩⟨B, D⟩, ‖I_n‖² = n:
#     ‖D'‖² = ‖D‖²·‖G_f‖² + n·‖E_f‖² + 2·Re(conj(tr D)·tr(G_f^H E_f)),   tr D' = tr D·tr G_f + n·tr E_f.
# G_f is Hermitian, so tr(G_f^H E_f) = tr(G_f E_f) = tr E_f + ‖E_f‖², and tr D, tr E_f are real. Near
# unitarity every term is small, so rounding is relative to the error itself (~1e-15 in float64).


def kron_unitarity_error(factors: Sequence[Tensor]) -> Tensor:
    r"""``‖W^H W − I‖_F`` for ``W = ⊗W_f``, in closed form and stable near unitarity.

    Args:
        factors: matrices ``W_f`` of shape ``(P_f, Q_f)``.

    Returns:
        A real scalar tensor (differentiable away from exact unitarity). Cost ``Σ_f P_f·Q_f²``.

    Example:
        >>> float(kron_unitarity_error([torch.eye(2, dtype=torch.float64), torch.eye(3, dtype=torch.float64)]))
        0.0
    """
    sq, tr, n = None, None, 1
    for w in _promoted(factors):
        gram, err = _gram_and_error(w)
        err_sq, err_tr = _sqnorm(err), err.diagonal().real.sum()
        if sq is None:
            sq, tr = err_sq, err_tr
        else:
            sq = sq * _sqnorm(gram) + n * err_sq + 2 * tr * (err_tr + err_sq)
            tr = tr * gram.diagonal().real.sum() + n * err_tr
        n *= w.shape[1]
    return sq.clamp(min=0).sqrt()


