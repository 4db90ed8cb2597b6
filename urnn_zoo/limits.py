r"""How far each cell is from its estimated limit: a per-operator roofline plus per-operator overhead.

For one workload (:mod:`urnn_zoo.workload`: forward+backward of a whole sequence batch, loss
``out.pow(2).mean()``; by default the asv suite's B = 32, T = 100, 10 inputs, float32, KRU at the factors of
:data:`~urnn_zoo.workload.KRU_FACTORS`), the limit of a cell is

    limit = Σ_operators max(FLOPs / measured GEMM FLOP/s, bytes / measured bytes/s)
            + operators x (measured seconds per operator),

the counts taken from one forward+backward by :func:`urnn_zoo.opcount.count_operators` (Note [The limit]),
and its distance is measured seconds / limit.

Example::

    urnn-zoo limits --hidden 512 1024

    >>> from urnn_zoo.limits import limits_table                              # doctest: +SKIP
    >>> limits_table(["kru", "lstm"], (512,))[["cell", "N", "limit_s", "measured_s", "distance"]]  # doctest: +SKIP
"""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from urnn_zoo import workload
from urnn_zoo.opcount import count_operators
from urnn_zoo.workload import KRU_FACTORS, workload_options

__all__ = ["COLUMNS", "KRU_FACTORS", "cell_limit", "gemm_throughput", "limit_rows", "limit_seconds", "limits_table",
           "memory_bandwidth", "operator_overhead", "roofline_seconds", "workload_options"]

COLUMNS = ("cell", "N", "flops", "bytes", "ops_per_step", "gemm_flops_per_s", "bytes_per_s", "op_overhead_s",
           "limit_s", "measured_s", "distance", "error")


# Note [The limit]
# Each operator is a kernel bounded by the roofline (Williams, Waterman, Patterson, "Roofline: an insightful
# visual performance model for multicore architectures", CACM 52(4), 2009): it needs at least
# max(F / G, Q / M) seconds for its F FLOPs and Q bytes moved (urnn_zoo.opcount, Notes [FLOPs], [Elementwise
# FLOPs], [Bytes moved]), since its arithmetic and its memory traffic can overlap but neither can go faster
# than its peak. The limit takes that max per operator and sums it over operators, which run one after
# another: Σ max(F_i / G, Q_i / M) is at least max(ΣF / G, ΣQ / M) (the roofline of the totals, which would let
# a memory-bound step hide under a compute-bound GEMM that runs at another time) and at most ΣF / G + ΣQ / M
# (no overlap at all, which no kernel needs). To that it adds operators x c, the dispatch cost: on the CPU the
# thread that issues an operator also runs its kernel, so the two are serial and add up; on a CUDA device
# kernels run asynchronously while Python issues the next ones, so there the limit is max(roofline,
# operators x c).
#   G: FLOP/s of torch.mm on a real float32 (B·T, N) x (N, N) product at the row's N, best of several calls:
#     the largest GEMM of the workload's shape (the input projection, the fused recurrence's parameter
#     gradients over all T·B rows, and at the rate of the N x N x N products of expm and Cayley). It is the
#     fastest rate a FLOP of this workload can have; a step's (B, N) x (N, N) product runs slower (measured
#     on 2 idle CPU cores: 83 against 173 GFLOP/s at N = 512, 133 against 162 at N = 1024; far slower on a
#     busy machine), and that loss is part of what the distance measures.
#   M: bytes/s (read + written) of copying a float32 tensor, best call at each of the sizes from one step's
#     (B, N) state to the whole (T·B, 2N) sequence of a complex one, and the fastest of those sizes: the
#     fastest rate a byte of this workload can move. A step's tensors (B·N complex: 128 KiB at N = 512) stay in
#     the CPU's L2 cache and copy several times faster than a tensor larger than the cache (measured on this
#     machine class: about 100 GB/s at 512 KiB against 15-30 GB/s at 16 MiB and up); charging every byte at
#     the rate of a large copy would put the limit above the time the fused steps take.
#   c: seconds per call of torch.add on two 8-element tensors without autograd, the median over blocks of
#     calls: the least an operator issued from Python costs (dispatch, allocation; about 1-2 µs on the CPU).
#     An operator recorded by autograd costs about twice that, one issued by the autograd engine less. A
#     kernel's own call (the C modReLU step) counts as one operator too.
# So the limit is close to a lower bound: a cell at distance 1 moves each operand once at cache speed, runs
# its GEMMs at full rate and pays only unavoidable dispatch. Not a strict one: a wider GEMM than (N, N) can
# beat G (the fused LSTM's input-side (T·B, n_in) x (n_in, 4N) and 4N-wide recurrent products), so lstm can
# land near or just below 1. Not modelled: the internal traffic and non-GEMM work of LU, FFT and oneDNN
# kernels, transcendental functions costing more than one FLOP, and the intra-op thread start-up of small
# operators. Measured time: the best of k forward+backward calls after warm-up (first GEMMs, allocator, oneDNN
# kernels), each from zeroed gradients. All numbers depend on the machine and its load (torch keeps its
# default thread count): compare rows measured together.


def roofline_seconds(costs: Mapping[tuple[int, int], int], gemm_flops_per_s: float, bytes_per_s: float) -> float:
    r"""Σ over operator calls of max(FLOPs / ``gemm_flops_per_s``, bytes / ``bytes_per_s``) (Note [The limit]).

    Args:
        costs: ``{(flops, bytes) of one call: number of calls}`` (``OperatorCount.costs``).
        gemm_flops_per_s, bytes_per_s: the machine's rates.

    Raises:
        ValueError: a rate that is not positive.

    Example:
        >>> roofline_seconds({(2e9, 1e6): 1, (0, 4e8): 10}, 1e10, 1e9)  # a GEMM at 0.2 s, ten copies at 0.4 s
        4.2
    """
    if not (gemm_flops_per_s > 0 and bytes_per_s > 0):
        raise ValueError(f"expected positive rates, got gemm_flops_per_s={gemm_flops_per_s} and "
                         f"bytes_per_s={bytes_per_s}")
    return sum(calls * max(flops / gemm_flops_per_s, moved / bytes_per_s) for (flops, moved), calls in costs.items())


def limit_seconds(costs: Mapping[tuple[int, int], int], operators: int, gemm_flops_per_s: float,
                  bytes_per_s: float, op_overhead_s: float, *, overlapped: bool = False) -> float:
    r"""The estimated limit: :func:`roofline_seconds` plus ``operators * op_overhead_s`` (Note [The limit]).

    Args:
        costs: ``{(flops, bytes): calls}`` as in :func:`roofline_seconds`. operators: operator calls.
        gemm_flops_per_s, bytes_per_s, op_overhead_s: the machine's rates and dispatch cost.
        overlapped: dispatch overlaps the kernels (a CUDA device): the max of the two terms, not their sum.

    Example:
        >>> limit_seconds({(2e9, 1e6): 1}, 1000, 1e10, 1e9, 2e-6)
        0.202
    """
    roofline, dispatch = roofline_seconds(costs, gemm_flops_per_s, bytes_per_s), operators * op_overhead_s
    return max(roofline, dispatch) if overlapped else roofline + dispatch


def gemm_throughput(n: int, rows: int = 3200, *, device: str = "cpu", repeats: int = 10,
                    min_seconds: float = 0.5) -> float:
    r"""Measured FLOP/s of a real float32 ``(rows, n) x (n, n)`` ``torch.mm``, from its fastest call.

    Args:
        n: the hidden size N. rows: B·T of the workload (default 32 x 100). device: where to run.
        repeats: at least this many timed calls, after two warm-up calls; more (up to 1000) until they
            add up to ``min_seconds``, so that a small product gets many chances on a busy machine.

    Returns:
        ``2·rows·n² / seconds`` of the fastest call.

    Example:
        >>> gemm_throughput(64, 64, repeats=3, min_seconds=0) > 0
        True
    """
    dev = torch.device(device)
    gen = torch.Generator().manual_seed(0)
    a, w = (torch.randn(r, n, generator=gen).to(dev) for r in (rows, n))
    best, spent, calls = math.inf, 0.0, 0
    for _ in range(2):
        torch.mm(a, w)
    while calls < repeats or (spent < min_seconds and calls < 1000):
        workload.synchronize(dev)
        tick = time.perf_counter()
        torch.mm(a, w)
        workload.synchronize(dev)
        seconds = time.perf_counter() - tick
        best, spent, calls = min(best, seconds), spent + seconds, calls + 1
    return 2 * rows * n * n / best


def memory_bandwidth(n: int, batch: int = 32, length: int = 100, *, device: str = "cpu", repeats: int = 10,
                     min_seconds: float = 0.5) -> float:
    r"""Measured bytes/s (read + written) of ``Tensor.copy_`` on float32 tensors, at the fastest of the sizes
    from one step's ``batch·n`` numbers up to the whole sequence's ``2·length·batch·n`` (Note [The limit]).

    Args:
        n: the hidden size N. batch, length: B and T of the workload. device: where to run.
        repeats: at least this many timed copies per size, after one warm-up copy; more (up to 1000) until
            the sizes' copies add up to ``min_seconds``.

    Returns:
        ``2·bytes / seconds`` of the fastest call, over the doubling sizes.

    Raises:
        ValueError: a size or ``repeats`` below 1, before measuring.

    Example:
        >>> memory_bandwidth(8, 2, 4, repeats=2, min_seconds=0) > 0
        True
    """
    if min(n, batch, length, repeats) < 1:
        raise ValueError(f"expected n, batch, length and repeats of at least 1, got n={n}, batch={batch}, "
                         f"length={length}, repeats={repeats}")
    dev = torch.device(device)
    sizes, size = [], batch * n
    while size < 2 * length * batch * n:
        sizes.append(size)
        size *= 2
    sizes.append(2 * length * batch * n)
    best_rate = 0.0
    for numel in sizes:
        src, dst = torch.ones(numel, device=dev), torch.empty(numel, device=dev)
        dst.copy_(src)
        best, spent, calls = math.inf, 0.0, 0
        while calls < repeats or (spent < min_seconds / len(sizes) and calls < 1000):
            workload.synchronize(dev)
            tick = time.perf_counter()
            dst.copy_(src)
            workload.synchronize(dev)
            seconds = time.perf_counter() - tick
            best, spent, calls = min(best, seconds), spent + seconds, calls + 1
        best_rate = max(best_rate, 2 * numel * src.element_size() / best)
    return best_rate


def operator_overhead(*, device: str = "cpu", calls: int = 100, blocks: int = 101) -> float:
    r"""Measured seconds per call of ``torch.add`` on two 8-element float32 tensors, without autograd.

    Args:
        device: where to run. calls: calls per timed block. blocks: timed blocks (after one warm-up block).

    Returns:
        The median over blocks of the block's time / ``calls``.

    Example:
        >>> 0 < operator_overhead(calls=10, blocks=5) < 1e-3
        True
    """
    dev = torch.device(device)
    a, b = torch.ones(8, device=dev), torch.ones(8, device=dev)
    per_call = []
    with torch.no_grad():
        for i in range(blocks + 1):
            workload.synchronize(dev)
            tick = time.perf_counter()
            for _ in range(calls):
                torch.add(a, b)
            workload.synchronize(dev)
            if i:
                per_call.append((time.perf_counter() - tick) / calls)
    return statistics.median(per_call)


def cell_limit(cell: str, hidden: int, *, options: dict[str, Any] | None = None, batch: int = workload.BATCH,
               length: int = workload.LENGTH, input_size: int = workload.INPUT_SIZE, repeats: int = 3,
               device: str = "cpu", seed: int = workload.SEED,
               gemm_flops_per_s: float | None = None, bytes_per_s: float | None = None,
               op_overhead_s: float | None = None) -> dict[str, Any]:
    r"""One row of the limits table: counts, limit, measured time and distance of one cell (Note [The limit]).

    Args:
        cell: a registered name. hidden: N. options: cell options (default
            :func:`urnn_zoo.workload.workload_options`).
        batch, length, input_size: the workload (B, T, n_in), float32, loss ``out.pow(2).mean()``.
        repeats: timed forward+backward calls (the best counts), after one warm-up and the counted call.
        device: where to run. seed: seeds the cell's init and the input.
        gemm_flops_per_s, bytes_per_s, op_overhead_s: measured rates to use (``None``: measure them here).

    Returns:
        A dict with the keys of :data:`COLUMNS` (``error`` empty).

    Raises:
        InadmissibleSizeError: the cell rejects N with these options (before anything is built or measured).
        ValueError: unknown cell, or options the cell rejects (its own message).

    Example:
        >>> row = cell_limit("rnn", 8, batch=2, length=3, repeats=1, gemm_flops_per_s=1e9, bytes_per_s=1e10,
        ...                  op_overhead_s=1e-6)
        >>> row["ops_per_step"] > 0 and row["distance"] > 0
        True
    """
    dev = torch.device(device)
    model = workload.build_cell(cell, hidden, input_size=input_size, options=options, seed=seed, device=dev)
    step = workload.forward_backward(model, workload.sequence(length, batch, input_size, seed=seed, device=dev))

    def once() -> None:
        step()
        workload.synchronize(dev)

    once()  # warm-up: first GEMMs, allocator, oneDNN kernels, matrix exponentials
    counted = count_operators(once)  # also the second warm-up
    seconds = math.inf
    for _ in range(repeats):
        tick = time.perf_counter()
        once()
        seconds = min(seconds, time.perf_counter() - tick)
    model.zero_grad(set_to_none=True)
    gemm = gemm_throughput(hidden, batch * length, device=device) if gemm_flops_per_s is None else gemm_flops_per_s
    bandwidth = memory_bandwidth(hidden, batch, length, device=device) if bytes_per_s is None else bytes_per_s
    overhead = operator_overhead(device=device) if op_overhead_s is None else op_overhead_s
    limit = limit_seconds(counted.costs, counted.operators, gemm, bandwidth, overhead, overlapped=dev.type == "cuda")
    return dict(cell=cell, N=hidden, flops=counted.flops, bytes=counted.bytes_moved,
                ops_per_step=counted.operators / length, gemm_flops_per_s=gemm, bytes_per_s=bandwidth,
                op_overhead_s=overhead, limit_s=limit, measured_s=seconds, distance=seconds / limit, error="")


def limit_rows(cells: Iterable[str] | None = None, hidden: Sequence[int] = (512, 1024), *,
               batch: int = workload.BATCH, length: int = workload.LENGTH, input_size: int = workload.INPUT_SIZE,
               repeats: int = 3, device: str = "cpu",
               log: Callable[[str], object] | None = None) -> list[dict[str, Any]]:
    r"""Rows of :func:`cell_limit` for every (cell, N), N by N; the rates are measured once (overhead) and
    once per N (GEMM, bandwidth). A cell that rejects N (:meth:`~urnn_zoo.cells.base.RecurrentCell.check_size`,
    asked before it is built or measured) or fails gets a row of NaNs and the error.

    Args:
        cells: registered names (default: all of ``urnn_zoo.cell_names()``). hidden: the sizes N.
        batch, length, input_size, repeats, device: as in :func:`cell_limit`.
        log: a ``print``-like callable for one progress line per row (optional).

    Returns:
        Dicts with the keys of :data:`COLUMNS`, sorted by N, then cell as given.

    Raises:
        ValueError: an unknown cell name (listing the registered ones), or a size or ``repeats`` below 1,
            before measuring.
    """
    from urnn_zoo.cells.base import cell_class, cell_names

    cells = list(cell_names() if cells is None else cells)
    for name in cells:
        cell_class(name)
    sizes = dict(batch=batch, length=length, input_size=input_size, repeats=repeats)
    bad = [f"hidden={n}" for n in hidden if int(n) < 1] + [f"{k}={v}" for k, v in sizes.items() if int(v) < 1]
    if bad:
        raise ValueError(f"sizes and repeats must be positive ints, got {', '.join(bad)}")
    overhead = operator_overhead(device=device)
    rows = []
    for n in hidden:
        gemm = gemm_throughput(n, batch * length, device=device)
        bandwidth = memory_bandwidth(n, batch, length, device=device)
        rates = dict(gemm_flops_per_s=gemm, bytes_per_s=bandwidth, op_overhead_s=overhead)
        for name in cells:
            try:
                cell_class(name).check_size(n, **workload_options(name, n))  # before building or measuring
                row = cell_limit(name, n, batch=batch, length=length, input_size=input_size, repeats=repeats,
                                 device=device, **rates)
            except Exception as exc:  # InadmissibleSizeError, or a failing cell: a row that says so
                row = dict.fromkeys(COLUMNS, math.nan) | dict(cell=name, N=n, **rates,
                                                              error=f"{type(exc).__name__}: {exc}")
            rows.append(row)
            if log:
                shown = (f"limit {row['limit_s'] * 1e3:.3g} ms, measured {row['measured_s'] * 1e3:.3g} ms"
                         if not row["error"] else row["error"])
                log(f"limits {name} N={n}: {shown}")
    return rows


def limits_table(cells: Iterable[str] | None = None, hidden: Sequence[int] = (512, 1024), **kwargs: Any):
    r""":func:`limit_rows` as a pandas DataFrame, one row per (cell, N), columns :data:`COLUMNS`.

    Args:
        cells, hidden: as in :func:`limit_rows`. **kwargs: its other arguments.

    Returns:
        ``pandas.DataFrame`` with cell, N, flops and bytes (moved, read + written; forward+backward of one
        sequence batch), ops_per_step (operators / T), gemm_flops_per_s, bytes_per_s, op_overhead_s, limit_s,
        measured_s, distance (measured / limit) and error (empty where the row was measured; the numbers of a
        failed row are missing).

    Example::

        >>> limits_table(["rnn"], (8,), batch=2, length=3, repeats=1).loc[0, "distance"] > 0  # doctest: +SKIP
        True
    """
    import pandas as pd

    table = pd.DataFrame(limit_rows(cells, hidden, **kwargs), columns=list(COLUMNS))
    # the counts stay ints beside the NaNs of a failed row
    return table.astype({"N": "Int64", "flops": "Int64", "bytes": "Int64"})
