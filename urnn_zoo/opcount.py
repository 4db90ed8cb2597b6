r"""Counting what a piece of torch code dispatches: operators (views excluded), FLOPs and bytes moved.

:class:`OperatorCounter` is a ``TorchDispatchMode`` (the mechanism of ``torch.utils.flop_counter.FlopCounterMode``)
that sees every aten operator Python and the autograd engine issue; :func:`count_operators` runs a function
under it. Work done outside aten (the ctypes kernels of :mod:`urnn_zoo.kernels`) reports itself through
:func:`record_external`. :mod:`urnn_zoo.limits` builds the cells' estimated limits on these counts.

Example:
    >>> x = torch.randn(4, 4)
    >>> count = count_operators(lambda: (x @ x).add(1).view(-1))
    >>> count.operators, count.flops, count.bytes_moved  # mm 2·4³ + add 16; each reads x once, writes 16 floats
    (2, 144, 256)
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

__all__ = ["OperatorCount", "OperatorCounter", "count_operators", "counting", "is_counted", "operator_bytes",
           "operator_flops", "record_external"]

aten = torch.ops.aten

# Note [What is counted as an operator]
# Every aten operator that reaches the dispatch mode during the forward+backward counts once per call (the
# mode sees the operators Python issues and those the autograd engine issues in the backward; the loss and
# its backward are part of the workload), except:
#   - views: operators whose schema returns a non-writing alias of an input (``OpOverload.is_view``: view,
#     as_strided, select, unbind, split, expand, detach, transpose, permute, t, alias, slice, diagonal,
#     (un)squeeze, view_as_real, view_as_complex, _conj, conj, lift_fresh, ...), and _unsafe_view,
#     _reshape_alias and unsafe_split/unsafe_chunk, views whose schema does not say so. They touch no data;
#   - operators that return no tensor (type and metadata queries such as promote_types, size, stride).
# In-place and out= operators (add_, copy_, addmm.out: their alias is written) count, and so does every
# operator called inside a custom autograd Function. Operators run inside another operator's kernel (the
# GEMMs of linalg_matrix_exp) are not seen: the mode is popped while a call is handled. Work done outside aten
# (the C kernels of urnn_zoo.kernels, one ctypes call per step of the fused complex modReLU) is invisible to
# the mode: each kernel call reports its own FLOPs and bytes through record_external (the kernel declares
# them from its loop) and counts as one operator under its own name (a call issued from Python, with the
# per-call cost of one).
_VIEWS_IN_DISGUISE = {aten._unsafe_view, aten._reshape_alias, aten.unsafe_split, aten.unsafe_chunk,
                      aten.unsafe_split_with_sizes}


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
    r"""Whether one call of the aten operator ``func`` counts as an operator (Note [What is counted as an operator]).

    Example:
        >>> is_counted(torch.ops.aten.add.Tensor), is_counted(torch.ops.aten.view.default)
        (True, False)
    """
    return not (func.is_view or func._overloadpacket in _VIEWS_IN_DISGUISE or not _returns_tensor(func._schema))


# Note [FLOPs]
# GEMM-like operators count 2mkn for an (m, k) x (k, n) product, one multiply and one add per multiply-add
# (BLAS's convention, whatever beta and alpha are), per matrix of a batch: torch.utils.flop_counter's
# formulas (flop_registry: mm, addmm, bmm, baddbmm and their out= forms, convolutions, attention), and ours
# where torch has none: the in-place addmm_, baddbmm_ (the fused KRU backward's gradient accumulators),
# addbmm(_) 2bmkn (the batch summed into one matrix), mv and addmv(_) (m, n) x (n,): 2mn, addr(_) (the outer
# product of an m- and an n-vector added in): 2mn, dot and vdot of n-vectors: 2n. Those formulas read shapes
# only, so a complex product counts like a real one; but a complex multiply-add is 4 real multiplies and 4
# real adds (the 2x2 real form of a complex number), 4x the real one, so an operator with a complex input
# or output counts 4x. Dense linear algebra, in the same units (then also x4 when complex), per matrix:
#   linalg_solve_triangular (n, n) with n x k right-hand sides: n²k;   linalg_lu_factor_ex (n, n): 2n³/3
#   (LAPACK getrf);   linalg_lu_solve: 2n²k;   _linalg_solve_ex: both;   linalg_householder_product of k
#   reflectors into an (m, n) Q: 4mnk − 2(m + n)k² + 4k³/3 (LAPACK orgqr);
#   linalg_matrix_exp (n, n): 2n³ per matrix product of torch's own algorithm (Bader, Blanes, Casas 2019:
#     Taylor degree 1, 2, 4, 8, 12 or 18 chosen by the 1-norm, 0-5 products, then s = ceil(log2(‖A‖₁/θ₁₈))
#     squarings above θ₁₂), reproduced from ATen's mexp with its thresholds; its backward is another
#     matrix_exp of a 2n x 2n block matrix, which the mode sees and counts (8x the forward's products);
#   mkldnn_rnn_layer (torch's fused LSTM): 2·T·B·(4H·I + 4H·H), its backward twice that (inputs and weights);
#   _fft_c2c of n points: 5n·log2 n real FLOPs (radix-2 Cooley-Tukey), _fft_r2c/_fft_c2r half of it,
#     already in real FLOPs (not scaled by 4).
# Efficient zero tensors need no rule: under a dispatch mode torch materialises or decomposes them before the
# mode sees an operator, so what is counted is the work that runs.
#
# Note [Elementwise FLOPs]
# An elementwise operator counts its arithmetic per output element: 1 for one operation (add, sub, mul,
# div, neg, reciprocal, a comparison, relu/clamp/threshold, sign, and a transcendental function such as
# sqrt, exp, sin, tanh, sigmoid or pow, whose hardware cost is several instructions: counting it as 1 keeps
# the count a lower bound), 2 for a multiply-add (addcmul, addcdiv, lerp; leaky_relu_backward: a comparison
# and a multiply), 3 for tanh_backward ḡ(1 − y²) and sigmoid_backward ḡy(1 − y), one more where an alpha or
# value scales an operand. A reduction counts 1 per input element (sum, mean, amax, ...; a 2-norm 2), an
# accumulating scatter (index_add, scatter_add, index_put with accumulate) 1 per added element. Complex
# operands count 4x as for GEMMs (exact for a multiply-add; a complex add is 2 real operations, a multiply
# 6), except conj_physical: one negation per complex element. Data movement and creation (copies, cat,
# gather, index_select, zeros, empty, random draws, ...: _NO_ARITHMETIC) count 0, except that a copy out of a
# conjugate or negative view (resolve_conj, resolve_neg) does that negation, 1 per element; any operator on
# integer or boolean data only counts 0. An operator with floating data that has none of these rules is listed in
# OperatorCount.uncounted (and counts 0), so a new operator on a hot path is noticed, not silently free.
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


def _householder(a: torch.Tensor, tau: torch.Tensor) -> int:
    m, n, k = a.shape[-2], a.shape[-1], tau.shape[-1]
    return round((4 * m * n * k - 2 * (m + n) * k * k + 4 * k ** 3 / 3) * _batch(a, 2))


def _fft(args: tuple, out: Any, factor: float, lengths_from_out: bool = False) -> int:
    x, dims = args[0], args[1]
    points = math.prod((out if lengths_from_out else x).shape[d] for d in dims)
    transforms = x.numel() // max(1, math.prod(x.shape[d] for d in dims))
    return round(factor * 5 * points * math.log2(points) * transforms) if points > 1 else 0


def _lstm(args: tuple, backward: bool) -> int:
    x, w_input, w_hidden = args[:3]  # (T, B, I) or (B, T, I); (4H, I); (4H, H)
    rows = x.numel() // x.shape[-1]
    return (2 if backward else 1) * 2 * rows * (w_input.numel() + w_hidden.numel())


def _batched_gemm(a: tuple) -> int:  # (self, (b, m, k), (b, k, n))
    return 2 * a[1].shape[0] * a[1].shape[1] * a[1].shape[2] * a[2].shape[2]


_LU = lambda a: 2 * a.shape[-1] ** 3 * _batch(a, 2) // 3  # noqa: E731
# Formulas on the raw call (args, kwargs, out); those in _REAL_FLOPS already count complex data in real FLOPs.
_FORMULAS: dict[Any, Callable[[tuple, dict, Any], int]] = {
    aten.addmm_: lambda a, k, o: 2 * a[1].shape[0] * a[1].shape[1] * a[2].shape[1],
    aten.baddbmm_: lambda a, k, o: _batched_gemm(a),
    aten.addbmm: lambda a, k, o: _batched_gemm(a),
    aten.addbmm_: lambda a, k, o: _batched_gemm(a),
    aten.mv: lambda a, k, o: 2 * a[0].numel(),
    aten.addmv: lambda a, k, o: 2 * a[1].numel(),
    aten.addmv_: lambda a, k, o: 2 * a[1].numel(),
    aten.addr: lambda a, k, o: 2 * a[1].numel() * a[2].numel(),
    aten.addr_: lambda a, k, o: 2 * a[1].numel() * a[2].numel(),
    aten.dot: lambda a, k, o: 2 * a[0].numel(),
    aten.vdot: lambda a, k, o: 2 * a[0].numel(),
    aten.linalg_solve_triangular: lambda a, k, o: _solve(a[0], a[1], k.get("left", True), 1),
    aten.linalg_lu_factor_ex: lambda a, k, o: _LU(a[0]),
    aten.linalg_lu_solve: lambda a, k, o: _solve(a[0], a[2], k.get("left", True), 2),
    aten._linalg_solve_ex: lambda a, k, o: _LU(a[0]) + _solve(a[0], a[1], k.get("left", True), 2),
    aten.linalg_householder_product: lambda a, k, o: _householder(a[0], a[1]),
    aten.linalg_matrix_exp: lambda a, k, o: _matrix_exp_flops(a[0]),
    aten.mkldnn_rnn_layer: lambda a, k, o: _lstm(a, False),
    aten.mkldnn_rnn_layer_backward: lambda a, k, o: _lstm(a, True),
    aten._fft_c2c: lambda a, k, o: _fft(a, o, 1.0),
    aten._fft_r2c: lambda a, k, o: _fft(a, o, 0.5),
    aten._fft_c2r: lambda a, k, o: _fft(a, o, 0.5, lengths_from_out=True),
}


def _first_tensor(values: Any) -> torch.Tensor | None:
    return next((t for t in tree_flatten(values)[0] if isinstance(t, torch.Tensor)), None)


def _scaled(k: dict, name: str) -> int:  # one more multiply where alpha/value scales an operand
    return int(k.get(name, 1) != 1)


def _elementwise(per_element: int, scale: str | None = None) -> Callable[[tuple, dict, Any], int]:
    return lambda a, k, o: (per_element + (_scaled(k, scale) if scale else 0)) * _first_tensor(o).numel()


def _per_input(per_element: int) -> Callable[[tuple, dict, Any], int]:
    return lambda a, k, o: per_element * a[0].numel()


def _added(position: int, name: str, accumulate: bool = False) -> Callable[[tuple, dict, Any], int]:
    def flops(a: tuple, k: dict, o: Any) -> int:
        if accumulate and not (a[3] if len(a) > 3 else k.get("accumulate", False)):
            return 0
        return (a[position] if len(a) > position else k[name]).numel()

    return flops


_ELEMENTWISE = {  # Note [Elementwise FLOPs]: arithmetic per output element
    1: ("neg", "neg_", "reciprocal", "reciprocal_", "div", "div_", "sqrt", "sqrt_", "rsqrt", "rsqrt_", "abs", "abs_",
        "sgn", "sgn_", "sign", "sign_", "relu", "relu_", "clamp", "clamp_", "clamp_min", "clamp_min_", "clamp_max",
        "clamp_max_", "gt", "gt_", "lt", "lt_", "ge", "ge_", "le", "le_", "eq", "eq_", "ne", "ne_", "maximum",
        "minimum", "exp", "exp_", "expm1", "log", "log_", "log1p", "sin", "sin_", "cos", "cos_", "tanh", "tanh_",
        "sigmoid", "sigmoid_", "pow", "pow_", "threshold", "threshold_", "threshold_backward", "leaky_relu",
        "leaky_relu_", "polar", "remainder", "atan2", "hypot", "erf", "square", "mul", "mul_"),
    2: ("leaky_relu_backward", "lerp", "lerp_"),
    3: ("tanh_backward", "sigmoid_backward"),
}
for _per, _names in _ELEMENTWISE.items():
    _FORMULAS.update({getattr(aten, name): _elementwise(_per) for name in _names})
del _per, _names
_FORMULAS.update({getattr(aten, name): _elementwise(1, "alpha") for name in ("add", "add_", "sub", "sub_", "rsub")})
_FORMULAS.update({getattr(aten, name): _elementwise(2, "value")
                  for name in ("addcmul", "addcmul_", "addcdiv", "addcdiv_")})
_FORMULAS.update({getattr(aten, name): _per_input(1)
                  for name in ("sum", "nansum", "mean", "amax", "amin", "max", "min", "prod", "cumsum")})
_FORMULAS.update({aten.linalg_vector_norm: _per_input(2), aten.norm: _per_input(2)})
_FORMULAS.update({aten.index_add: _added(3, "source"), aten.index_add_: _added(3, "source"),
                  aten.scatter_add: _added(3, "src"), aten.scatter_add_: _added(3, "src"),
                  aten.index_put: _added(2, "values", True), aten.index_put_: _added(2, "values", True),
                  aten._index_put_impl_: _added(2, "values", True)})
_CONJ = {aten.conj_physical, aten.conj_physical_, aten._conj_physical}  # one negation per complex element
_REAL_FLOPS = {aten._fft_c2c, aten._fft_r2c, aten._fft_c2r, *_CONJ}
_FORMULAS.update({op: (lambda a, k, o: _first_tensor(o).numel() if _first_tensor(o).is_complex() else 0)
                  for op in _CONJ})
_NO_ARITHMETIC = {getattr(aten, name) for name in (
    "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "zeros", "zeros_like", "new_zeros",
    "ones", "ones_like", "new_ones", "full", "full_like", "new_full", "fill", "fill_", "zero_", "eye", "arange",
    "linspace", "scalar_tensor", "randn", "randn_like", "rand", "rand_like", "randint", "randperm", "normal",
    "normal_", "uniform_", "bernoulli", "bernoulli_", "_efficientzerotensor", "clone", "copy", "copy_", "_to_copy",
    "lift_fresh_copy", "cat", "stack", "gather", "index", "index_select", "scatter", "scatter_", "masked_fill",
    "masked_fill_", "where", "select_backward", "slice_backward", "diagonal_backward", "unfold_backward",
    "as_strided_scatter", "select_scatter", "slice_scatter", "diagonal_scatter", "diag_embed", "tril", "tril_",
    "triu", "triu_", "constant_pad_nd", "flip", "roll", "repeat", "split_with_sizes_copy", "expand_copy",
    "view_copy", "permute_copy", "t_copy", "transpose_copy", "unsqueeze_copy", "detach_copy", "resize_",
    "embedding", "_unsafe_index", "logical_not", "bitwise_not")}
# Creation operators that allocate without writing: they move no bytes (Note [Bytes moved]).
_UNINITIALISED = {aten.empty, aten.empty_like, aten.empty_strided, aten.new_empty, aten.new_empty_strided,
                  aten.resize_}
# In-place operators that overwrite ``self`` without reading it.
_WRITE_ONLY_SELF = {aten.copy_, aten.fill_, aten.zero_, aten.normal_, aten.uniform_, aten.bernoulli_}


def _floating(leaves: list) -> bool:
    return any(isinstance(t, torch.Tensor) and (t.is_floating_point() or t.is_complex()) for t in leaves)


def _flops(func: torch._ops.OpOverload, args: tuple, kwargs: dict, out: Any) -> int | None:
    # FLOPs of one call (Notes [FLOPs], [Elementwise FLOPs]); None: floating data and no rule.
    packet = func._overloadpacket
    leaves = tree_flatten((args, kwargs, out))[0]
    if not _floating(leaves):
        return 0
    if packet in _NO_ARITHMETIC:  # a copy out of a conjugate or negative view negates each element
        lazy = any(isinstance(t, torch.Tensor) and (t.is_conj() or t.is_neg()) for t in tree_flatten((args, kwargs))[0])
        return _first_tensor(out).numel() if lazy and _first_tensor(out) is not None else 0
    if packet in flop_registry:
        flops = flop_registry[packet](*args, **kwargs, out_val=out)
    elif packet in _FORMULAS:
        flops = _FORMULAS[packet](args, kwargs, out)
    else:
        return None
    if packet not in _REAL_FLOPS and any(isinstance(t, torch.Tensor) and t.is_complex() for t in leaves):
        flops *= 4
    return int(flops)


def operator_flops(func: torch._ops.OpOverload, args: tuple, kwargs: dict, out: Any) -> int:
    r"""FLOPs of one call of ``func`` (Notes [FLOPs] and [Elementwise FLOPs]): torch's formula or ours, x4 for
    complex operands.

    Args:
        func: the aten operator. args, kwargs: its arguments. out: what it returned.

    Returns:
        Real floating-point operations; 0 for data movement, integer data, or an operator without a rule.

    Example:
        >>> a, b = torch.randn(3, 4), torch.randn(4, 5)
        >>> operator_flops(torch.ops.aten.mm.default, (a, b), {}, a @ b)
        120
        >>> c = torch.zeros(3, 5)
        >>> operator_flops(torch.ops.aten.addmm_.default, (c, a, b), {}, c.addmm_(a, b))
        120
    """
    return _flops(func, args, kwargs, out) or 0


# Note [Bytes moved]
# An operator reads each distinct tensor argument once and writes each tensor it returns, so its bytes are
# Σ touched(inputs) + Σ touched(outputs), where touched(t) is the bytes of the distinct elements t addresses
# (an expanded dimension, stride 0, is read once: the KRU step's factor expanded over the batch is P² numbers,
# not B·P²) and a tensor passed twice (x * x) is read once. An in-place operator reads and writes ``self``;
# an out= argument, and the self of copy_, fill_, zero_ and random fills, is written only; empty and its kin
# allocate without writing (0 bytes). This is the traffic a kernel cannot avoid if each operand crosses the
# memory bus once (the roofline's minimum, Williams, Waterman, Patterson, CACM 52(4) 2009); caches that hold
# an operand between operators are the bandwidth's business (urnn_zoo.limits, Note [The limit]), and the
# internal traffic of LAPACK and oneDNN kernels is not counted (a lower bound).


def _touched(t: torch.Tensor) -> int:
    if t.layout != torch.strided or t.numel() == 0:
        return t.numel() * t.element_size()
    return math.prod(size for size, stride in zip(t.shape, t.stride()) if stride != 0) * t.element_size()


def _key(t: torch.Tensor) -> tuple:
    return t.data_ptr(), tuple(t.shape), t.stride(), t.dtype


def operator_bytes(func: torch._ops.OpOverload, args: tuple, kwargs: dict, out: Any) -> int:
    r"""Bytes one call of ``func`` reads and writes (Note [Bytes moved]).

    Args:
        func: the aten operator. args, kwargs: its arguments. out: what it returned.

    Returns:
        Bytes of the distinct elements of its tensor inputs plus those of the tensors it returns.

    Example:
        >>> a, b = torch.ones(4, 8), torch.ones(8)
        >>> operator_bytes(torch.ops.aten.add.Tensor, (a, b), {}, a + b)  # 32 + 8 read, 32 written, float32
        288
        >>> operator_bytes(torch.ops.aten.add_.Tensor, (a, b), {}, a)  # self read and written
        288
    """
    packet = func._overloadpacket
    if packet in _UNINITIALISED:
        return 0
    write_only = packet in _WRITE_ONLY_SELF
    read: dict[tuple, int] = {}
    for i, arg in enumerate(func._schema.arguments):
        value = args[i] if i < len(args) and not arg.kwarg_only else kwargs.get(arg.name)
        if value is None or arg.is_out or (write_only and i == 0):
            continue
        for t in tree_flatten(value)[0]:
            if isinstance(t, torch.Tensor):
                read[_key(t)] = _touched(t)
    written = {_key(t): _touched(t) for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)}
    return sum(read.values()) + sum(written.values())


class OperatorCount(NamedTuple):
    r"""What :class:`OperatorCounter` saw: operator calls, FLOPs and bytes moved, in total and per operator name.

    ``costs`` maps the (FLOPs, bytes) of one call to how many calls had them (what a per-operator roofline
    needs, urnn_zoo.limits); ``uncounted`` names the operators on floating data that no FLOP rule covers
    (Note [Elementwise FLOPs]).
    """

    operators: int
    flops: int
    by_operator: dict[str, int]
    flops_by_operator: dict[str, int]
    bytes_moved: int
    bytes_by_operator: dict[str, int]
    costs: dict[tuple[int, int], int]
    uncounted: tuple[str, ...]


_ACTIVE: list[OperatorCounter] = []  # counters inside their `with`, innermost last (record_external)


class OperatorCounter(TorchDispatchMode):
    r"""Counts the aten operators dispatched inside it (Note [What is counted as an operator]), their FLOPs and
    bytes, and the calls of external kernels that report themselves (:func:`record_external`).

    Example:
        >>> a, b = torch.ones(2, 3), torch.ones(2, 2)
        >>> with OperatorCounter() as counter:
        ...     y = (a.t() + 1) @ b
        >>> counter.result().by_operator, counter.result().flops
        ({'aten.add': 1, 'aten.mm': 1}, 30)
    """

    def __init__(self) -> None:
        super().__init__()
        self.operators: Counter[str] = Counter()
        self.flops: Counter[str] = Counter()
        self.bytes: Counter[str] = Counter()
        self.costs: Counter[tuple[int, int]] = Counter()
        self.uncounted: set[str] = set()

    def __enter__(self):
        entered = super().__enter__()
        _ACTIVE.append(self)
        return entered

    def __exit__(self, *exc):
        _ACTIVE.remove(self)
        return super().__exit__(*exc)

    def add(self, name: str, flops: int, bytes_moved: int) -> None:
        r"""Count one call named ``name`` of ``flops`` FLOPs moving ``bytes_moved`` bytes."""
        self.operators[name] += 1
        self.flops[name] += flops
        self.bytes[name] += bytes_moved
        self.costs[flops, bytes_moved] += 1

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if is_counted(func):
            name = str(func._overloadpacket)
            flops = _flops(func, args, kwargs, out)
            if flops is None:
                self.uncounted.add(name)
            self.add(name, flops or 0, operator_bytes(func, args, kwargs, out))
        return out

    def result(self) -> OperatorCount:
        r"""The counts so far."""
        return OperatorCount(sum(self.operators.values()), sum(self.flops.values()), dict(self.operators),
                             {k: v for k, v in self.flops.items() if v}, sum(self.bytes.values()),
                             dict(self.bytes), dict(self.costs), tuple(sorted(self.uncounted)))


def record_external(name: str, flops: int, bytes_moved: int) -> None:
    r"""Report one call of work done outside aten (a ctypes kernel) to every active :class:`OperatorCounter`.

    A no-op when none is active (the cost of the check is one list test), so kernels call it on every call.

    Args:
        name: the kernel's name, e.g. ``"urnn_zoo.kernels.modrelu_forward"``.
        flops, bytes_moved: its declared FLOPs and bytes read+written for this call.

    Raises:
        ValueError: a negative count.

    Example:
        >>> with OperatorCounter() as counter:
        ...     record_external("my_kernel", 10, 80)
        >>> counter.result().by_operator, counter.result().flops, counter.result().bytes_moved
        ({'my_kernel': 1}, 10, 80)
    """
    if flops < 0 or bytes_moved < 0:
        raise ValueError(f"expected non-negative FLOPs and bytes from {name!r}, got flops={flops} and "
                         f"bytes_moved={bytes_moved}")
    for counter in _ACTIVE:
        counter.add(name, flops, bytes_moved)


def counting() -> bool:
    r"""Whether an :class:`OperatorCounter` is active: an external kernel computes its cost only then.

    Example:
        >>> counting()
        False
    """
    return bool(_ACTIVE)


def count_operators(fn: Callable[[], object]) -> OperatorCount:
    r"""Operators, FLOPs and bytes of one call of ``fn`` (forward and, if ``fn`` runs one, backward).

    Example:
        >>> count_operators(lambda: torch.ones(4) + torch.ones(4)).by_operator
        {'aten.ones': 2, 'aten.add': 1}
    """
    with OperatorCounter() as counter:
        fn()
    return counter.result()
