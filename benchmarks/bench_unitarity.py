r"""Drift from unitarity: ‖W^H W − I‖_F of every cell after k optimizer steps, in float32.

``setup_cache`` trains every cell once on the CPU on a fixed regression objective (a seeded input of 20 steps x
batch 32 x 10 inputs, a seeded target per sequence, MSE of a linear head on the last output), N =
``GRID.train_size``, with Adam at lr 1e-3 on every parameter (a stress test: the trainer's default gives
constrained parameters 1e-4), calling ``cell.on_optimizer_step()`` after every step, and reads
``cell.unitarity_error()`` after ``steps`` = 0, 10 and 100 steps (10 in the quick grid). Exact cells should stay
at float32 rounding; soft (``kru``) and unconstrained cells (``lstm``, ``rnn``) are tracked too, so a change
in how far they drift shows up as well. torch is imported inside ``setup_cache`` only (Note [Cost of a case]
in :mod:`.common`).
"""
from __future__ import annotations

from . import common
from .common import BATCH, CELLS, GRID, INPUT, SEED

DRIFT_LEN, DRIFT_LR = 20, 1e-3


def drift(cell_name: str, hidden: int, checkpoints) -> dict[int, float]:
    r"""``{k: unitarity error after k Adam steps}`` for ``k`` in ``checkpoints``."""
    import torch

    import urnn_zoo

    cell = common.make_cell(cell_name, INPUT, hidden)  # float32, seeds torch's global RNG
    model = urnn_zoo.SequenceModel(cell, 1, readout="last")
    x = common.sequence("cpu", DRIFT_LEN, BATCH, INPUT)
    y = torch.randn(BATCH, 1, generator=torch.Generator().manual_seed(SEED + 1))
    optimizer = torch.optim.Adam(model.parameters(), lr=DRIFT_LR)
    errors = {}
    for step in range(max(checkpoints) + 1):
        if step in checkpoints:
            errors[step] = float(cell.unitarity_error())
        if step == max(checkpoints):
            break
        loss = torch.nn.functional.mse_loss(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        cell.on_optimizer_step()
    return errors


class UnitarityDrift:
    r"""``cell.unitarity_error()`` after ``steps`` Adam steps, float32."""

    params = [CELLS, [GRID.train_size], GRID.drift_steps]
    param_names = ["cell", "N", "steps"]
    timeout = 1800.0

    def setup_cache(self) -> dict:
        return common.per_cell(lambda name: drift(name, GRID.train_size, GRID.drift_steps))

    def setup(self, errors: dict, cell: str, n: int, steps: int) -> None:
        self.errors = common.cell_result(errors, cell)

    def track_unitarity_error(self, errors: dict, cell: str, n: int, steps: int) -> float:
        return self.errors[steps]

    track_unitarity_error.unit = "Frobenius norm"
