r"""Accuracy and loss of every cell after a short seeded training on copy and adding.

Each class trains every cell once in ``setup_cache`` (one process; asv then reads the metrics per cell), on the
CPU in float32, N = ``GRID.train_size`` (128; 64 in the quick grid), batch 32, with the defaults of
``urnn-zoo train`` (README.md, "Training one cell on one task"): RMSprop (α 0.9) at lr 1e-3, lr 1e-4 for the
recurrent parameters of exact cells, penalty weight 1e-3 for soft cells, ``cell.on_optimizer_step()`` after every
step. The metrics are those of the task (``task.metrics``) on one fixed test batch of 500 sequences. The numbers are
regression sentinels for the cells, the tasks and the optimiser settings together, not results to cite: the
schedule (``steps`` = 300; 20 in the quick grid) is far too short to solve either task.

Tasks: copy with delay T = 10 (30 steps per sequence; memoryless loss 10·ln 8/30 = 0.69 nats, accuracy 1/8)
and adding with T = 50 (memoryless MSE 1/6).

torch and urnn_zoo are imported inside ``setup_cache`` only, so the per-cell cases that read its result start
without them (Note [Cost of a case] in :mod:`.common`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from . import common
from .common import CELLS, GRID, SEED

if TYPE_CHECKING:
    import torch

    import urnn_zoo

TRAIN_BATCH, EVAL_BATCH = 32, 500
LR, CONSTRAINED_LR, PENALTY_WEIGHT = 1e-3, 1e-4, 1e-3
COPY = ("copy", {"T": 10})
ADDING = ("adding", {"T": 50})


def make_optimizer(model: urnn_zoo.SequenceModel) -> torch.optim.Optimizer:
    r"""RMSprop with the constrained learning rate for an exact cell's recurrent parameters."""
    import torch

    cell = model.cell
    constrained = {id(p) for p in cell.recurrent_parameters()} if cell.constraint == "exact" else set()
    groups = [{"params": [p for p in model.parameters() if id(p) not in constrained], "lr": LR}]
    if constrained:
        groups.append({"params": [p for p in model.parameters() if id(p) in constrained], "lr": CONSTRAINED_LR})
    return torch.optim.RMSprop(groups, alpha=0.9)


def train(cell_name: str, task_name: str, task_options: dict, hidden: int, checkpoints) -> dict[int, dict]:
    r"""Train ``cell_name`` on the task; the test metrics after each number of steps in ``checkpoints``."""
    import torch

    import urnn_zoo
    from urnn_zoo.tasks import make_task

    task = make_task(task_name, **task_options)
    cell = common.make_cell(cell_name, task.input_size, hidden)  # seeds torch's global RNG
    model = urnn_zoo.SequenceModel(cell, task.output_size, readout=task.readout)
    optimizer = make_optimizer(model)
    test_x, test_y = next(task.batches("test", EVAL_BATCH, seed=SEED))
    stream = task.batches("train", TRAIN_BATCH, seed=SEED)
    results = {}

    def evaluate(step: int) -> None:
        if step in checkpoints:
            with torch.no_grad():
                results[step] = task.metrics(model(test_x), test_y)

    evaluate(0)
    for step in range(1, max(checkpoints) + 1):
        x, y = next(stream)
        loss = task.loss(model(x), y)
        if cell.constraint == "soft":
            loss = loss + PENALTY_WEIGHT * cell.penalty()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        cell.on_optimizer_step()
        evaluate(step)
    return results


def train_every_cell(task_name: str, task_options: dict) -> dict[str, dict]:
    r"""``{cell: {steps: metrics}}`` for every cell (see :func:`common.per_cell`)."""
    return common.per_cell(lambda name: train(name, task_name, task_options, GRID.train_size, GRID.train_steps))


def metrics_of(results: dict, cell: str, steps: int) -> dict:
    r"""The cell's metrics after ``steps`` (n/a or failed as its training was, :func:`common.per_cell`)."""
    return common.cell_result(results, cell)[steps]


class CopyTraining:
    r"""Copy (T = 10): test cross-entropy (nats) and recall accuracy after a short training."""

    params = [CELLS, GRID.train_steps]
    param_names = ["cell", "steps"]
    timeout = 1800.0

    def setup_cache(self) -> dict:
        return train_every_cell(*COPY)

    def setup(self, results: dict, cell: str, steps: int) -> None:
        self.metrics = metrics_of(results, cell, steps)

    def track_loss(self, results: dict, cell: str, steps: int) -> float:
        return self.metrics["loss"]

    def track_accuracy(self, results: dict, cell: str, steps: int) -> float:
        return self.metrics["accuracy"]

    track_loss.unit = "nats"
    track_accuracy.unit = "fraction"


class AddingTraining:
    r"""Adding (T = 50): test MSE after a short training."""

    params = [CELLS, GRID.train_steps]
    param_names = ["cell", "steps"]
    timeout = 1800.0

    def setup_cache(self) -> dict:
        return train_every_cell(*ADDING)

    def setup(self, results: dict, cell: str, steps: int) -> None:
        self.metrics = metrics_of(results, cell, steps)

    def track_mse(self, results: dict, cell: str, steps: int) -> float:
        return self.metrics["mse"]

    track_mse.unit = "mse"
