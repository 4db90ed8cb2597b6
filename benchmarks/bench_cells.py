r"""Speed of every registered cell: a whole sequence forward, forward+backward, and one step.

Workload (:mod:`.common`): B = 32, T = 100, 10 inputs, float32, the workload's options (defaults, KRU at its factor table), parametrised
by cell, hidden size N and device. Names in the results: ``bench_cells.CellForward.time_forward``,
``bench_cells.CellForwardBackward.time_forward_backward``, ``bench_cells.CellStep.time_step``.
"""
from __future__ import annotations

import torch

from . import common
from .common import CELLS, DEVICES, SIZES


class CellCase(common.TimeCase):
    r"""One cell on one device with the fixed input sequence; built and warmed up once per process.

    Subclasses define :meth:`run`, the measured work (ending with a device synchronise).
    """

    params = [CELLS, SIZES, DEVICES]
    param_names = ["cell", "N", "device"]
    kind = ""

    def setup(self, cell: str, n: int, device: str) -> None:
        self.device = common.device(device)
        self.cell = common.build_cell(cell, n, device)
        self.x = common.sequence(device)
        self.prepare()
        common.warm_up((self.kind, cell, n, device), self.run, self.device)
        self.cell.zero_grad(set_to_none=True)

    def prepare(self) -> None:
        r"""Per-kind state beyond the cell and the input (called by ``setup``)."""

    def run(self) -> None:
        raise NotImplementedError


class CellForward(CellCase):
    r"""Inference over a whole sequence (no autograd graph)."""

    kind = "forward"

    def run(self) -> None:
        with torch.no_grad():
            self.cell(self.x)
        common.synchronize(self.device)

    def time_forward(self, cell: str, n: int, device: str) -> None:
        self.run()


class CellForwardBackward(CellCase):
    r"""Training cost of a whole sequence: forward, ``out.pow(2).mean()``, backward."""

    kind = "forward_backward"

    def run(self) -> None:
        common.cell_loss(self.cell, self.x).backward()
        common.synchronize(self.device)

    def time_forward_backward(self, cell: str, n: int, device: str) -> None:
        self.run()


class CellStep(CellCase):
    r"""One ``cell.step`` from the initial state, without autograd; includes what ``prepare`` materialises
    (a Cayley transform or matrix exponential is paid on every step call)."""

    kind = "step"

    def prepare(self) -> None:
        self.x_t = self.x[0]
        self.state = self.cell.initial_state(self.x_t.shape[0])

    def run(self) -> None:
        with torch.no_grad():
            self.cell.step(self.x_t, self.state)
        common.synchronize(self.device)

    def time_step(self, cell: str, n: int, device: str) -> None:
        self.run()
