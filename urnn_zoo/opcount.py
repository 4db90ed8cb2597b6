r"""Counting what a piece of torch code dispatches: operators (views excluded) and FLOPs (complex x4).

:class:`OperatorCounter` is a ``TorchDispatchMode`` (the mechanism of ``torch.utils.flop_counter.FlopCounterMode``)
that sees every aten operator Python and the autograd engine issue; :func:`count_operators` runs a function
under it. :mod:`urnn_zoo.limits` builds the cells' estimated limits on these counts.

Example:
    >>> x = torch.randn(4, 4)
    >>> count = count_operators(lambda: (x @ x).add(1).view(-1))
    >>> count.operators, count.flops
    (2, 128)
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.flop_counter import flop_registry

__all__ = ["OperatorCount", "OperatorCounter", "count_operators", "is_counted", "operator_flops"]

aten = torch.ops.aten

# Note [What is counted as an operator]
# Every aten operator that reaches the dispatch mode during the forward+backward counts once per call (the
# mode sees the operators Python issues and those the autograd engine issues in the backward; the loss and
# its backward are part of the workload), except:
#   - views: operators whose schema returns a non-writing alias of an input (``OpOverload.is_view``: view,
#     as_strided, select, unbind, split, expand, detach, transpose, permute, t, alias, slice, diagonal,
#     (un)squeeze, view_as_real, view_as_complex, _conj, conj, lift_fresh, ...), and _unsafe_view and
#     _reshape_alias, views whose schema does not say so. They touch no data (metadata only);
#   - operators that return no tensor (type and metadata queries such as promote_types, size, stride).
# In-place and out= operators (add_, copy_, addmm.out: their alias is written) count, and so does every
# operator called inside a custom autograd Function. Operators run inside another operator's kernel (the
# GEMMs of linalg_matrix_exp) are not seen: the mode is popped while a call is handled. Nor is work done outside
# aten: the C kernels of urnn_zoo.kernels (the complex modReLU step of the fused recurrence, one call per step)
# count no operator and no FLOP, so a cell that uses them has a lower limit and a larger distance than its
# elementwise work deserves.
_VIEWS_IN_DISGUISE = {aten._unsafe_view, aten._reshape_alias}


def _returns_tensor(schema: torch.FunctionSchema) -> bool:
    for ret in schema.returns:
        kind = ret.type
        if isinstance(kind, torch.OptionalType):
            kind = kind.getElementType()
        if isinstance(kind, torch.ListType):
            kind = kind.getElementType()
        if isinstance(kind, torch.TensorType):
            return True
    return False


def is_counted(func: torch._ops.OpOverload) -> bool:
    r"""Whether one call of the aten operator ``func`` counts as an operator (Note [What is counted ...]).

    Example:
        >>> is_counted(torch.ops.aten.add.Tensor), is_counted(torch.ops.aten.view.default)
        (True, False)
    """
    return not (func.is_view or func._overloadpacket in _VIEWS_IN_DISGUISE or not _returns_tensor(func._schema))


# Note [FLOPs]
# GEMM-like operators are counted with torch.utils.flop_counter's formulas (its flop_registry: mm, addmm,
# bmm, baddbmm, convolutions, attention): 2mkn for an (m, k) x (k, n) product, one multiply and one add per
# multiply-add. Those formulas read shapes only, so a complex product counts like a real one; but a complex
# multiply-add is 4 real multiplies and 4 real adds (the 2x2 real form of a complex number), 4x the real
# one, so an operator with a complex input or output counts 4x. torch has no formula for the dense linear
# algebra some cells use; these count in the same units (then also x4 when complex), per matrix of a batch:
#   mv, addmv (m, n) x (n,): 2mn;   linalg_solve_triangular (n, n) with n x k right-hand sides: n²k;
#   linalg_lu_factor_ex (n, n): 2n³/3 (LAPACK getrf);   linalg_lu_solve: 2n²k;   _linalg_solve_ex: both;
#   linalg_matrix_exp (n, n): 2n³ per matrix product of torch's own algorithm (Bader, Blanes, Casas 2019:
#     Taylor degree 1, 2, 4, 8, 12 or 18 chosen by the 1-norm, 0-5 products, then s = ceil(log2(‖A‖₁/θ₁₈))
#     squarings above θ₁₂), reproduced from ATen's mexp with its thresholds; its backward is another
#     matrix_exp of a 2n x 2n block matrix, which the mode sees and counts (8x the forward's products);
#   mkldnn_rnn_layer (torch's fused LSTM): 2·T·B·(4H·I + 4H·H), its backward twice that (inputs and weights);
#   _fft_c2c of n points: 5n·log2 n real FLOPs (radix-2 Cooley-Tukey), _fft_r2c/_fft_c2r half of it,
#     already in real FLOPs (not scaled by 4).
# Elementwise operators and reductions count no FLOPs (as in torch's counter): their cost at these sizes is
# close to the per-operator overhead, which the limit charges them instead.
_MEXP_PRODUCTS = (0, 1, 2, 3, 4, 5)  # matrix products of Taylor degrees 1, 2, 4, 8, 12, 18
_MEXP_THETAS = {  # ATen's mexp thresholds on the 1-norm, for those degrees
    torch.float32: (1.192092800768788e-07, 5.978858893805233e-04, 5.116619363445086e-02, 5.800524627688768e-01,
                    1.461661507209034e+00, 3.010066362817634e+00),
    torch.float64: (2.220446049250313e-16, 2.580956802971767e-08, 3.397168839976962e-04, 4.991228871115323e-02,
                    2.996158913811580e-01, 1.090863719290036e+00),
}


def _batch(t: torch.Tensor, core: int) -> int:
    return math.prod(t.shape[:-core]) if t.dim() > core else 1


def _matrix_exp_flops(a: torch.Tensor) -> int:
    n = a.shape[-1]
    if n <= 1:
        return 0
    thetas = _MEXP_THETAS[torch.float64 if a.dtype in (torch.float64, torch.complex128) else torch.float32]
    products = 0
    for norm in a.detach().abs().sum(-2).amax(-1).reshape(-1).tolist():
        degree = next((i for i in range(5) if norm <= thetas[i]), 5)
        finite = math.isfinite(norm)
        squarings = max(0, math.ceil(math.log2(norm / thetas[5]))) if degree == 5 and finite else 0
        products += _MEXP_PRODUCTS[degree] + squarings
    return 2 * n ** 3 * products


def _solve(a: torch.Tensor, b: torch.Tensor, left: bool, per_entry: int) -> int:
    # per_entry x n² x k for (n, n) systems with k right-hand sides (b a vector: k = 1), batches broadcast.
    vector = b.dim() == a.dim() - 1
    k = 1 if vector else b.shape[-1] if left else b.shape[-2]
    return per_entry * a.shape[-1] ** 2 * k * max(_batch(a, 2), _batch(b, 1 if vector else 2))


def _fft(args: tuple, out: Any, factor: float, lengths_from_out: bool = False) -> int:
    x, dims = args[0], args[1]
    points = math.prod((out if lengths_from_out else x).shape[d] for d in dims)
    transforms = x.numel() // max(1, math.prod(x.shape[d] for d in dims))
    return round(factor * 5 * points * math.log2(points) * transforms) if points > 1 else 0


def _lstm(args: tuple, backward: bool) -> int:
    x, w_input, w_hidden = args[:3]  # (T, B, I) or (B, T, I); (4H, I); (4H, H)
    rows = x.numel() // x.shape[-1]
    return (2 if backward else 1) * 2 * rows * (w_input.numel() + w_hidden.numel())


_LU = lambda a: 2 * a.shape[-1] ** 3 * _batch(a, 2) // 3  # noqa: E731
# Formulas on the raw call (args, kwargs, out); those in _REAL_FLOPS already count complex data in real FLOPs.
_FORMULAS: dict[Any, Callable[[tuple, dict, Any], int]] = {
    aten.mv: lambda a, k, o: 2 * a[0].numel(),
    aten.addmv: lambda a, k, o: 2 * a[1].numel(),
    aten.linalg_solve_triangular: lambda a, k, o: _solve(a[0], a[1], k.get("left", True), 1),
    aten.linalg_lu_factor_ex: lambda a, k, o: _LU(a[0]),
    aten.linalg_lu_solve: lambda a, k, o: _solve(a[0], a[2], k.get("left", True), 2),
    aten._linalg_solve_ex: lambda a, k, o: _LU(a[0]) + _solve(a[0], a[1], k.get("left", True), 2),
    aten.linalg_matrix_exp: lambda a, k, o: _matrix_exp_flops(a[0]),
    aten.mkldnn_rnn_layer: lambda a, k, o: _lstm(a, False),
    aten.mkldnn_rnn_layer_backward: lambda a, k, o: _lstm(a, True),
    aten._fft_c2c: lambda a, k, o: _fft(a, o, 1.0),
    aten._fft_r2c: lambda a, k, o: _fft(a, o, 0.5),
    aten._fft_c2r: lambda a, k, o: _fft(a, o, 0.5, lengths_from_out=True),
}
_REAL_FLOPS = {aten._fft_c2c, aten._fft_r2c, aten._fft_c2r}


def operator_flops(func: torch._ops.OpOverload, args: tuple, kwargs: dict, out: Any) -> int:
    r"""FLOPs of one call of ``func`` (Note [FLOPs]): torch's formula or ours, x4 for complex operands.

    Args:
        func: the aten operator. args, kwargs: its arguments. out: what it returned.

    Returns:
        Real floating-point operations; 0 for an operator without a formula (elementwise, reductions, copies).

    Example:
        >>> a, b = torch.randn(3, 4), torch.randn(4, 5)
        >>> operator_flops(torch.ops.aten.mm.default, (a, b), {}, a @ b)
        120
    """
    packet = func._overloadpacket
    if packet in flop_registry:
        flops = flop_registry[packet](*args, **kwargs, out_val=out)
    elif packet in _FORMULAS:
        flops = _FORMULAS[packet](args, kwargs, out)
    else:
        return 0
    if packet not in _REAL_FLOPS:
        leaves = tree_flatten((args, kwargs, out))[0]
        if any(isinstance(t, torch.Tensor) and t.is_complex() for t in leaves):
            flops *= 4
    return int(flops)


class OperatorCount(NamedTuple):
    r"""What :class:`OperatorCounter` saw: operator calls and FLOPs, in total and per operator name."""

    operators: int
    flops: int
    by_operator: dict[str, int]
    flops_by_operator: dict[str, int]


class OperatorCounter(TorchDispatchMode):
    r"""Counts the aten operators dispatched inside it (Note [What is counted as an operator]) and their FLOPs.

    Example:
        >>> a, b = torch.ones(2, 3), torch.ones(2, 2)
        >>> with OperatorCounter() as counter:
        ...     y = (a.t() + 1) @ b
        >>> counter.result().by_operator, counter.result().flops
        ({'aten.add': 1, 'aten.mm': 1}, 24)
    """

    def __init__(self) -> None:
        super().__init__()
        self.operators: Counter[str] = Counter()
        self.flops: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if is_counted(func):
            name = str(func._overloadpacket)
            self.operators[name] += 1
            flops = operator_flops(func, args, kwargs, out)
            if flops:
                self.flops[name] += flops
        return out

    def result(self) -> OperatorCount:
        r"""The counts so far."""
        return OperatorCount(sum(self.operators.values()), sum(self.flops.values()), dict(self.operators),
                             dict(self.flops))


def count_operators(fn: Callable[[], object]) -> OperatorCount:
    r"""Operators and FLOPs of one call of ``fn`` (forward and, if ``fn`` runs one, backward).

    Example:
        >>> count_operators(lambda: torch.ones(4) + torch.ones(4)).by_operator
        {'aten.ones': 2, 'aten.add': 1}
    """
    with OperatorCounter() as counter:
        fn()
    return counter.result()
