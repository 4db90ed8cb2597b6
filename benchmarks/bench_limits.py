r"""Every cell's distance to its estimated limit, so that a change in a cell's overheads shows up.

``CellLimit.track_distance`` (measured forward+backward seconds / limit: the best round),
``track_distance_median`` and ``track_distance_spread`` (the median round and the spread of the rounds: Note [Best
of interleaved runs] in :mod:`.common`, with the limit as a constant denominator), ``track_limit`` (the limit,
seconds), ``track_ops_per_step`` (operators of one forward+backward / T) and ``track_bytes_per_step`` (bytes they
read and write / T). The limit and the counts come from :func:`urnn_zoo.limits.cell_limit`: limit = Σ over
operators of max(FLOPs / measured GEMM FLOP/s, bytes / measured copy bytes/s) + operators x measured seconds per
operator (Note [The limit] there); the measured seconds from :func:`.common.round_times` (at least 7 rounds in
the full grid), timing the same workload's cell. Goal: every cell within 2x of its limit at N = 512 and 1024,
by the median (:data:`LIMIT_GOAL`). The
workload is the suite's (:mod:`urnn_zoo.workload`: B = 32, T = 100, 10 inputs, float32, loss
``out.pow(2).mean()``) on the CPU, at N = 512 and 1024 with :func:`urnn_zoo.workload.workload_options` (KRU:
factors 16x32 and 32x32); the quick grid keeps one small N (64, default options).

Every row is measured once in ``setup_cache`` (the only place torch is imported, Note [Cost of a case] in
:mod:`.common`): the operator overhead once, the GEMM rate and the bandwidth once per N, then each cell.
``ops_per_step`` and ``bytes_per_step`` are deterministic; the limit and the distance carry the machine's timing
noise.
"""
from __future__ import annotations

from collections.abc import Sequence

from . import common
from .common import BATCH, CELLS, INPUT, QUICK, SEQ_LEN

SIZES = (64,) if QUICK else (512, 1024)
# Goal, by the median: every cell's measured time at most this many times its limit, at N in LIMIT_GOAL_SIZES.
LIMIT_GOAL = 2.0
LIMIT_GOAL_SIZES = (512, 1024)


def rows(sizes: Sequence[int] = SIZES, cells: Sequence[str] = CELLS, *, budget: float = common.BUDGET_S,
         rounds: tuple[int, int] = common.ROUNDS) -> dict[str, object]:
    r"""``{cell: {N: row, or the error message of a size the family rejects}}`` (CPU, torch's thread count).

    A row is :func:`urnn_zoo.limits.cell_limit`'s, with ``measured_s`` and ``distance`` from the best of
    :func:`.common.round_times` rounds of the workload's forward+backward, and ``distance_median``,
    ``distance_spread`` and ``rounds`` added (:class:`.common.Ratio` of the rounds' times over the limit).
    A cell whose run raises gets :func:`.common.per_case`'s failure entry.
    """
    from urnn_zoo.limits import gemm_throughput, memory_bandwidth, operator_overhead

    overhead = operator_overhead()
    gemm = {n: gemm_throughput(n, BATCH * SEQ_LEN) for n in sizes}
    bandwidth = {n: memory_bandwidth(n, BATCH, SEQ_LEN) for n in sizes}
    return common.per_case(lambda name: {n: _row(name, n, gemm[n], bandwidth[n], overhead, budget, rounds)
                                         for n in sizes}, cells)


def _row(name: str, n: int, gemm: float, bandwidth: float, overhead: float, budget: float,
         rounds: tuple[int, int]) -> dict | str:
    from urnn_zoo.cells.base import InadmissibleSizeError, cell_class
    from urnn_zoo.limits import cell_limit

    try:
        cell_class(name).check_size(n, **common.workload.workload_options(name, n))
    except InadmissibleSizeError as err:  # a size the family rejects: n/a for that N only, nothing built
        return f"{name} does not accept N={n}: {err}"
    # cell_limit counts the operators and computes the limit (its one timed call is replaced by the rounds below).
    row = cell_limit(name, n, batch=BATCH, length=SEQ_LEN, input_size=INPUT, repeats=1, seed=common.SEED,
                     gemm_flops_per_s=gemm, bytes_per_s=bandwidth, op_overhead_s=overhead)
    run = common.training_step(common.build_cell(name, n, "cpu"), common.sequence("cpu"))
    common.warmed(("limit", name, n), [run])
    (times,) = common.round_times([run], budget, rounds)
    distance = common.Ratio.of([times, [row["limit_s"]] * len(times)])
    return {**row, "measured_s": min(times), "distance": distance.best, "distance_median": distance.median,
            "distance_spread": distance.spread, "rounds": distance.rounds}


class CellLimit:
    r"""One cell at one N on the CPU: its distance to the limit, the limit, its operators and bytes per step."""

    params = [CELLS, SIZES]
    param_names = ["cell", "N"]
    timeout = 1800.0

    def setup_cache(self) -> dict:
        return rows()

    def setup(self, results: dict, cell: str, n: int) -> None:
        self.row = common.cell_result(results, cell)[n]
        if isinstance(self.row, str):
            raise NotImplementedError(self.row)

    def track_distance(self, results: dict, cell: str, n: int) -> float:
        return self.row["distance"]

    track_distance.unit = "measured/limit"

    def track_distance_median(self, results: dict, cell: str, n: int) -> float:
        return self.row["distance_median"]

    track_distance_median.unit = "measured/limit"

    def track_distance_spread(self, results: dict, cell: str, n: int) -> float:
        return self.row["distance_spread"]

    track_distance_spread.unit = "ratio"

    def track_limit(self, results: dict, cell: str, n: int) -> float:
        return self.row["limit_s"]

    track_limit.unit = "seconds"

    def track_ops_per_step(self, results: dict, cell: str, n: int) -> float:
        return self.row["ops_per_step"]

    track_ops_per_step.unit = "operators"

    def track_bytes_per_step(self, results: dict, cell: str, n: int) -> float:
        return self.row["bytes"] / SEQ_LEN

    track_bytes_per_step.unit = "bytes"
