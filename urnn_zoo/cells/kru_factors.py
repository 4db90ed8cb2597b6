r"""The factors of a Kronecker-factored recurrent matrix W = W_0 ⊗ … ⊗ W_{F−1} (KRU: Jose, Cissé, Fleuret,
ICML 2018, arXiv 1705.10142): their sizes (the Cervnet rule :func:`factor_sizes`, the spec normaliser
:func:`factor_shapes`, KRU's square factors :func:`square_factor_sizes`), their initial values
(:func:`random_unitary`, :func:`init_factor`) and how a forward groups them (:func:`forms_dense`,
:func:`split_in_two`). Shared by the ``kru`` and ``kru_lstm`` families and re-exported by :mod:`urnn_zoo.kron`,
whose Kronecker products they feed.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from urnn_zoo.arguments import check, positive_int
from urnn_zoo.cells.sizes import InadmissibleSizeError

__all__ = [
    "factor_sizes", "factor_shapes", "random_unitary",
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
