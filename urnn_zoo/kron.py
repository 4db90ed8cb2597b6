r"""Kronecker algebra for Kronecker-factored recurrent matrices (KRU: Jose, Cissé, Fleuret, ICML 2018,
arXiv 1705.10142); the index convention is in docs/conventions.md#kronecker-products.

W = W_0 ⊗ W_1 ⊗ … ⊗ W_{F-1} with W_f of shape (P_f, Q_f) maps ℂ^{∏Q_f} to ℂ^{∏P_f}. Everything here
works on the factors without forming W, except :func:`kron_dense`, the reference.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from urnn_zoo.arguments import check, positive_int
from urnn_zoo.cells.base import InadmissibleSizeError

__all__ = [
    "factor_sizes", "factor_shapes", "kron_apply", "kron_dense", "kron_penalty",
    "kron_unitarity_error", "random_unitary",
    "square_factor_sizes", "init_factor", "forms_dense", "split_in_two",
    "FACTOR_INITS", "STRATEGIES", "IDENTITY_NOISE_STD", "AUTO_DENSE_MAX_N",
]


def _positive_int(value: object, what: str, where: str = "") -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise ValueError(f"{what} must be a positive int, got {value!r} ({type(value).__name__}){where}")
    value = int(value.__index__())
    if value < 1:
        raise ValueError(f"{what} must be a positive int, got {value}{where}")
    return value


def factor_sizes(n: int, max_factors: int) -> list[int]:
    r"""Square factor sizes for an ``n x n`` Kronecker product by the Cervnet rule.

    Factor ``n`` into primes; while more than ``max_factors`` remain, multiply the two smallest
    and re-sort. This is the rule of ``get_factor_sizes`` in ``KroneckerForwardBackward.cu`` of Cervnet, the
    KRU authors' Kronecker kernels (GitHub ``cijose/garage``), and the paper's parametrisation rule, not a
    speed rule (docs/parameter-counting.md#factor-sizes).

    Args:
        n: the size N of the product, at least 1.
        max_factors: the most factors wanted, at least 1.

    Returns:
        The sizes, sorted ascending, with product ``n`` (``[1]`` for ``n = 1``).

    Example:
        >>> factor_sizes(411, 2), factor_sizes(1024, 2), factor_sizes(45, 3)
        ([3, 137], [16, 64], [3, 3, 5])
    """
    n = _positive_int(n, "n")
    max_factors = _positive_int(max_factors, "max_factors")
    sizes, rest, p = [], n, 2
    while p * p <= rest:
        while rest % p == 0:
            sizes.append(p)
            rest //= p
        p += 1
    if rest > 1 or not sizes:
        sizes.append(rest)
    while len(sizes) > max_factors:
        sizes = sorted([sizes[0] * sizes[1], *sizes[2:]])
    return sizes


def factor_shapes(factors: Sequence[int | tuple[int, int]], n: int | None = None) -> list[tuple[int, int]]:
    r"""Normalise a factor spec: an int ``k`` means a square ``k x k`` factor, a pair ``(P, Q)`` a
    rectangular one.

    Args:
        factors: a non-empty sequence of ints and/or ``(P, Q)`` pairs.
        n: if given, the required products ``∏P_f = ∏Q_f = n``.

    Returns:
        A list of ``(P, Q)`` tuples.

    Example:
        >>> factor_shapes([2, (3, 4)])
        [(2, 2), (3, 4)]
    """
    if isinstance(factors, (str, bytes)) or not isinstance(factors, Sequence) or len(factors) == 0:
        raise ValueError(f"factors must be a non-empty list of ints or (P, Q) pairs, got {factors!r}")
    shapes = []
    for f, spec in enumerate(factors):
        if isinstance(spec, Sequence) and not isinstance(spec, (str, bytes)):
            if len(spec) != 2:
                raise ValueError(f"factor {f} of factors={factors!r} must be an int or a (P, Q) pair, got {spec!r}")
            shapes.append((_positive_int(spec[0], f"P of factor {f}", f" (in factors={factors!r})"),
                           _positive_int(spec[1], f"Q of factor {f}", f" (in factors={factors!r})")))
        else:
            k = _positive_int(spec, f"factor {f}", f" (in factors={factors!r})")
            shapes.append((k, k))
    if n is not None:
        rows, cols = math.prod(p for p, _ in shapes), math.prod(q for _, q in shapes)
        if rows != n or cols != n:
            raise ValueError(
                f"factors {factors!r} must have ∏P = ∏Q = n = {n}, got ∏P = {rows} and ∏Q = {cols}"
            )
    return shapes


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


def random_unitary(
    n: int, *, dtype: torch.dtype, generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    r"""A Haar-random ``n x n`` unitary (orthogonal when ``dtype`` is real).

    QR of a Gaussian matrix with the phases fixed, ``Q · diag(sgn R_ii)``, so the law is Haar
    (Mezzadri 2007). The entries are drawn on the generator's device, then moved to ``device``.

    Args:
        n: the size, at least 1.
        dtype: a floating or complex dtype.
        generator: the random source; torch's global one if None.
        device: where the result lives; the generator's device (or CPU) if None.

    Returns:
        An ``(n, n)`` tensor ``U`` with ``U^H U = I`` to rounding.

    Example:
        >>> u = random_unitary(4, dtype=torch.complex128, generator=torch.Generator().manual_seed(0))
        >>> torch.allclose(u.mH @ u, torch.eye(4, dtype=torch.complex128))
        True
    """
    n = _positive_int(n, "n")
    if not (dtype.is_floating_point or dtype.is_complex):
        raise ValueError(f"dtype must be a floating or complex dtype, got {dtype}")
    source = generator.device if generator is not None else device
    q, r = torch.linalg.qr(torch.randn(n, n, dtype=dtype, generator=generator, device=source))
    u = q * torch.sgn(r.diagonal()).unsqueeze(0)
    return u if device is None else u.to(device)


# ----------------------------------------------------------------------------------------------------------
# KRU's square factors: their sizes, initial values and compute strategy (shared by the kru and kru_lstm families).
# ----------------------------------------------------------------------------------------------------------

FACTOR_INITS = ("unitary", "identity", "identity_noise")
STRATEGIES = ("auto", "factored", "dense")
IDENTITY_NOISE_STD = 1e-2

# Note [KRU compute strategy]
# The parametrisation (the factors) and the compute strategy are independent
# (docs/performance.md#compute-strategies). Per forward we either form the dense W once and apply one GEMM per
# step ("dense"), or multiply adjacent factors once into two balanced groups A ⊗ B and apply them per step as two
# matmuls ("factored", cost N·(P_A + P_B) instead of N²; urnn_zoo.cells.kru.KroneckerPairMap). One contraction
# per 2x2 factor per step never wins: the per-step cost is operator overhead, not arithmetic (6–10 µs per operator
# on the 2-core CPU class). Both strategies run in the fused loop of urnn_zoo.engine.recurrence. "auto" takes dense
# up to this N, measured on the 2-core CPU class (torch 2.13, complex64, B=32, T=100, input 10, forward+backward, 2 threads,
# best of 5, ms dense/factored): 20.2/23.4 at N=64 [8, 8], 29.7/29.8 at N=128 [8, 16], 65.2/60.0 at N=256
# [16, 16], 186/74 at N=512 [16, 32] (before the fused loop: 65.5/80.0 at 128, 112.9/97.6 at 256, 272.8/124.7 at
# 512). The asv benchmark `bench_kru.KRUStrategy.track_auto_over_best` re-measures the choice against the
# better of the two.
AUTO_DENSE_MAX_N = 128


def square_factor_sizes(hidden_size: int, factors: Sequence | None, num_factors: int) -> list[int]:
    r"""The sizes P_f of KRU's square factors, explicit or from the Cervnet rule.

    Args:
        hidden_size: N.
        factors: ``[k, ...]`` or ``[(P, Q), ...]`` with P = Q and ∏P = N, or None.
        num_factors: maximum number of factors F for the rule (used when ``factors`` is None).

    Returns:
        ``[P_0, ..., P_{F−1}]``.

    Raises:
        InadmissibleSizeError: ``factors`` has a rectangular factor, or sizes whose product is not N.
        ValueError: ``num_factors`` is not an int >= 1, or ``factors`` is not a list of ints and (P, Q) pairs
            (each message names the option).

    Example:
        >>> square_factor_sizes(128, None, 2), square_factor_sizes(12, [(3, 3), 4], 2)
        ([8, 16], [3, 4])
    """
    num_factors = check(num_factors, positive_int, "num_factors")  # the rule's own name is max_factors
    if factors is None:
        return factor_sizes(hidden_size, num_factors)
    shapes = factor_shapes(factors)
    rect = [s for s in shapes if s[0] != s[1]]
    if rect:
        raise InadmissibleSizeError(
            f"KRU needs square factors (a rectangular factor makes W rank-deficient, never unitary); "
            f"got rectangular {rect} in factors={list(factors)!r}"
        )
    sizes = [p for p, _ in shapes]
    if math.prod(sizes) != hidden_size:
        raise InadmissibleSizeError(
            f"factors {list(factors)!r} must have ∏P = n = {hidden_size} (the hidden size), got ∏P = {math.prod(sizes)}"
        )
    return sizes


def init_factor(size: int, init: str, dtype: torch.dtype, generator: torch.Generator | None = None) -> Tensor:
    r"""One factor's initial value: Haar-random unitary, identity, or identity plus N(0, 0.01²) noise.

    Example:
        >>> init_factor(2, "identity", torch.complex64)
        tensor([[1.+0.j, 0.+0.j],
                [0.+0.j, 1.+0.j]])
    """
    if init not in FACTOR_INITS:
        raise ValueError(f"init must be one of {FACTOR_INITS}, got {init!r}")
    if init == "unitary":
        return random_unitary(size, dtype=dtype, generator=generator)
    eye = torch.eye(size, dtype=dtype)
    if init == "identity":
        return eye
    return eye + IDENTITY_NOISE_STD * torch.randn(size, size, dtype=dtype, generator=generator)


def forms_dense(strategy: str, sizes: Sequence[int]) -> bool:
    r"""Whether a forward with this strategy forms W densely (Note [KRU compute strategy]).

    Example:
        >>> forms_dense("auto", [8, 16]), forms_dense("auto", [16, 32]), forms_dense("factored", [7])
        (True, False, True)
    """
    if len(sizes) == 1:  # one factor is the dense matrix
        return True
    if strategy == "auto":
        return math.prod(sizes) <= AUTO_DENSE_MAX_N
    return strategy == "dense"


def split_in_two(sizes: Sequence[int]) -> int:
    r"""Where to cut the factor list into two adjacent groups with the most balanced products.

    Applying A ⊗ B costs N·(P_A + P_B) per row, smallest when P_A and P_B are closest.

    Example:
        >>> split_in_two([2] * 9), split_in_two([3, 137])
        (4, 1)
    """
    if len(sizes) < 2:
        return len(sizes)
    logs = [math.log(s) for s in sizes]
    total = sum(logs)
    return min(range(1, len(sizes)), key=lambda k: abs(2 * sum(logs[:k]) - total))
