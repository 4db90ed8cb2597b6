r"""The adding problem (Hochreiter & Schmidhuber, Neural Computation 9(8), 1997, in the form of Arjovsky, Shah,
Bengio, ICML 2016, arXiv 1511.06464); docs/tasks.md#adding-the-adding-problem."""
from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F

from .base import Task, check_int

__all__ = ["AddingTask"]


class AddingTask(Task):
    r"""Adding: sum the two marked values of a length-``T`` sequence.

    Inputs (T, B, 2): channel 0 holds values drawn from U[0, 1); channel 1 is a marker with exactly two ones, one
    at a uniform step in [0, T//2) and one at a uniform step in [T//2, T) (one per half; scoRNN's code,
    ``SpartinStuff/scoRNN``, splits at ⌊(T−1)/2⌋ instead, oRNN's, ``zmhammedi/Orthogonal_RNN``, draws both
    anywhere). Targets (B, 1): the sum of the two marked values. Metric ``mse`` on the last step's output (the
    loss). Memoryless baseline: always answer 1, the mean of the sum, whose MSE is the variance of a sum of two
    U[0, 1] values, 1/6.

    Every split is an endless generated stream (``generated = True``), seeded as in Note [Seeds and streams]
    of :mod:`.base`.

    Args:
        T: the sequence length, ``>= 2`` (default 100).

    Example::

        >>> from urnn_zoo.tasks.base import make_task
        >>> task = make_task("adding", T=10)
        >>> x, y = next(task.batches("valid", batch_size=3, seed=1))
        >>> tuple(x.shape), tuple(y.shape)
        ((10, 3, 2), (3, 1))
    """

    name = "adding"
    options = {"T": 100}
    readout = "last"
    metric_names = ("mse",)
    generated = True
    input_size = 2
    output_size = 1

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self.T = check_int("T", self._options["T"], 2)

    def batches(self, split: str, batch_size: int, seed: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rng = self._rng(split, seed)
        batch_size = check_int("batch_size", batch_size, 1)
        half = self.T // 2
        cols = torch.arange(batch_size)
        while True:
            values = torch.from_numpy(rng.random((self.T, batch_size), dtype="float32"))
            first = torch.from_numpy(rng.integers(0, half, size=batch_size))
            second = torch.from_numpy(rng.integers(half, self.T, size=batch_size))
            markers = torch.zeros(self.T, batch_size)
            markers[first, cols] = 1.0
            markers[second, cols] = 1.0
            targets = (values[first, cols] + values[second, cols]).unsqueeze(1)
            yield torch.stack([values, markers], dim=-1), targets

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(outputs.reshape(targets.shape), targets)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():
            return {"mse": float(self.loss(outputs, targets))}

    def baseline(self) -> dict[str, float]:
        return {"mse": 1 / 6}
