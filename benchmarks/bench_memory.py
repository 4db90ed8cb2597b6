r"""Peak memory of a whole-sequence forward+backward of every cell (the workload of :mod:`.bench_cells`).

- CPU: ``PeakMemory.peakmem_forward_backward``, asv's peak resident set size of the benchmark process. It
  includes the interpreter and torch (a few hundred MB), so read differences between cells and commits,
  not absolute values.
- GPU: ``CudaMemory.track_max_memory_allocated``, ``torch.cuda.max_memory_allocated()`` over one
  forward+backward after a warm-up (parameters, input, activations kept for the backward, gradients), in
  bytes; n/a without CUDA.
"""
from __future__ import annotations

import torch

from . import common
from .common import CELLS, GPU_CELLS, SIZES


class PeakMemory:
    r"""Peak RSS of the process around one forward+backward on the CPU."""

    params = [CELLS, SIZES]
    param_names = ["cell", "N"]
    timeout = 600.0

    def setup(self, cell: str, n: int) -> None:
        self.cell = common.build_cell(cell, n, "cpu")
        self.x = common.sequence("cpu")

    def peakmem_forward_backward(self, cell: str, n: int) -> None:
        common.cell_loss(self.cell, self.x).backward()


class CudaMemory:
    r"""``torch.cuda.max_memory_allocated`` of one forward+backward on the GPU (every cell; the first one only
    in the quick grid, which is CPU-only)."""

    params = [GPU_CELLS, SIZES]
    param_names = ["cell", "N"]
    timeout = 600.0

    def setup(self, cell: str, n: int) -> None:
        self.device = common.device("cuda")
        self.cell = common.build_cell(cell, n, "cuda")
        self.x = common.sequence("cuda")
        common.warm_up(("forward_backward", cell, n, "cuda"), self.run, self.device)
        self.cell.zero_grad(set_to_none=True)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(self.device)

    def run(self) -> None:
        common.cell_loss(self.cell, self.x).backward()
        common.synchronize(self.device)

    def track_max_memory_allocated(self, cell: str, n: int) -> int:
        self.run()
        return torch.cuda.max_memory_allocated(self.device)

    track_max_memory_allocated.unit = "bytes"
