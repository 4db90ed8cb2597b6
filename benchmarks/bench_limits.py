r"""Every cell's distance to its estimated limit, so that a change in a cell's overheads shows up.

``CellLimit.track_distance`` (measured forward+backward seconds / limit), ``track_limit`` (the limit, seconds),
``track_ops_per_step`` (operators of one forward+backward / T) and ``track_bytes_per_step`` (bytes they read and
write / T) come from :func:`urnn_zoo.limits.cell_limit`: limit = Σ over operators of max(FLOPs / measured GEMM
FLOP/s, bytes / measured copy bytes/s) + operators x measured seconds per operator (Note [The limit] there). The
workload is the suite's (:mod:`urnn_zoo.workload`: B = 32, T = 100, 10 inputs, float32, loss
``out.pow(2).mean()``) on the CPU, at N = 512 and 1024 with :func:`urnn_zoo.workload.workload_options` (KRU:
factors 16x32 and 32x32); the quick grid keeps one small N (64, default options).

Every row is measured once in ``setup_cache`` (the only place torch is imported, Note [Cost of a case] in
:mod:`.common`): the operator overhead once, the GEMM rate and the bandwidth once per N, then each cell.
``ops_per_step`` and ``bytes_per_step`` are deterministic; the limit and the distance carry the machine's timing
noise.
"""
from __future__ import annotations

from . import common
from .common import BATCH, CELLS, INPUT, QUICK, SEQ_LEN

SIZES = (64,) if QUICK else (512, 1024)


def rows() -> dict[str, object]:
    r"""``{cell: {N: row of cell_limit, or the error message of a size the family rejects}}`` (CPU)."""
    from urnn_zoo.limits import gemm_throughput, memory_bandwidth, operator_overhead

    overhead = operator_overhead()
    gemm = {n: gemm_throughput(n, BATCH * SEQ_LEN) for n in SIZES}
    bandwidth = {n: memory_bandwidth(n, BATCH, SEQ_LEN) for n in SIZES}
    return common.per_cell(lambda name: {n: _row(name, n, gemm[n], bandwidth[n], overhead) for n in SIZES})


def _row(name: str, n: int, gemm: float, bandwidth: float, overhead: float) -> dict | str:
    from urnn_zoo.cells.base import InadmissibleSizeError, cell_class
    from urnn_zoo.limits import cell_limit

    try:
        cell_class(name).check_size(n, **common.workload.workload_options(name, n))
    except InadmissibleSizeError as err:  # a size the family rejects: n/a for that N only, nothing built
        return f"{name} does not accept N={n}: {err}"
    return cell_limit(name, n, batch=BATCH, length=SEQ_LEN, input_size=INPUT, repeats=3, seed=common.SEED,
                      gemm_flops_per_s=gemm, bytes_per_s=bandwidth, op_overhead_s=overhead)


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

    def track_limit(self, results: dict, cell: str, n: int) -> float:
        return self.row["limit_s"]

    track_limit.unit = "seconds"

    def track_ops_per_step(self, results: dict, cell: str, n: int) -> float:
        return self.row["ops_per_step"]

    track_ops_per_step.unit = "operators"

    def track_bytes_per_step(self, results: dict, cell: str, n: int) -> float:
        return self.row["bytes"] / SEQ_LEN

    track_bytes_per_step.unit = "bytes"
