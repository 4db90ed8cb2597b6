r"""The copy-memory task (Arjovsky, Shah, Bengio, ICML 2016, arXiv 1511.06464); docs/tasks.md#copy-copy-memory."""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .base import Task, check_choice, check_int

__all__ = ["CopyTask"]

N_SYMBOLS = 10  # symbols to remember
BLANK, MARKER = 0, 9
N_INPUT = 10  # one-hot categories: 0 blank, 1..8 symbols, 9 marker
N_CLASSES = 9  # output classes: 0 blank, 1..8 symbols
FORMS = ("arjovsky", "exprnn")


class CopyTask(Task):
    r"""Copy memory: read 10 symbols, wait ``T`` steps, then write them back.

    Encoding (as in docs/tasks.md): categories 0 blank, 1..8 symbols, 9 marker; inputs one-hot (T+20, B, 10);
    targets (T+20, B) class indices 0..8: T+10 blanks, then the 10 symbols (drawn uniformly from 1..8).

    - ``form="arjovsky"`` (default; Arjovsky, Wisdom, EUNN, scoRNN): 10 symbols, T−1 blanks, the marker,
      10 blanks. The first symbol is due one step after the marker.
    - ``form="exprnn"`` (expRNN / nnRNN ``1_copying.py``): 10 symbols, T blanks, the marker, 9 blanks. The
      first symbol is due at the marker step itself, one step earlier than in the Arjovsky form. Targets are
      the same.

    Metrics: ``loss``, the mean cross-entropy in nats over all T+20 steps (the training loss), and
    ``accuracy``, the fraction of the 10 recalled symbols predicted correctly (argmax over the last 10 steps).
    Memoryless baseline: blanks with certainty, then a uniform guess among 8: ``loss`` 10·ln 8/(T+20),
    ``accuracy`` 1/8.

    Every split is an endless generated stream (``generated = True``), seeded as in Note [Seeds and streams]
    of :mod:`.base`, so the splits of one seed never share a batch.

    Args:
        T: the delay, ``>= 1`` (default 100).
        form: ``"arjovsky"`` or ``"exprnn"``.

    Example::

        >>> from urnn_zoo.tasks.base import make_task
        >>> task = make_task("copy", T=5)
        >>> x, y = next(task.batches("train", batch_size=2, seed=0))
        >>> tuple(x.shape), tuple(y.shape)
        ((25, 2, 10), (25, 2))
    """

    name = "copy"
    options = {"T": 100, "form": "arjovsky"}
    readout = "all"
    metric_names = ("loss", "accuracy")
    generated = True
    input_size = N_INPUT
    output_size = N_CLASSES

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self.T = check_int("T", self._options["T"], 1)
        self.form = check_choice("form", self._options["form"], FORMS)

    @property
    def length(self) -> int:
        r"""The sequence length, T + 20."""
        return self.T + 2 * N_SYMBOLS

    def encode(self, symbols: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Inputs and targets for given symbols.

        Args:
            symbols: int array (10, B) with values in 1..8.

        Returns:
            ``(inputs, targets)``: float32 (T+20, B, 10) one-hot, int64 (T+20, B).
        """
        symbols = np.asarray(symbols, dtype=np.int64)
        batch = symbols.shape[1]
        codes = np.full((self.length, batch), BLANK, dtype=np.int64)
        codes[:N_SYMBOLS] = symbols
        marker = self.T + N_SYMBOLS - (1 if self.form == "arjovsky" else 0)
        codes[marker] = MARKER
        targets = np.full((self.length, batch), BLANK, dtype=np.int64)
        targets[-N_SYMBOLS:] = symbols
        inputs = np.eye(N_INPUT, dtype=np.float32)[codes]
        return torch.from_numpy(inputs), torch.from_numpy(targets)

    def batches(self, split: str, batch_size: int, seed: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rng = self._rng(split, seed)
        batch_size = check_int("batch_size", batch_size, 1)
        while True:
            yield self.encode(rng.integers(1, N_CLASSES, size=(N_SYMBOLS, batch_size)))

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs.reshape(-1, N_CLASSES), targets.reshape(-1))

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():
            recalled = outputs[-N_SYMBOLS:].argmax(-1) == targets[-N_SYMBOLS:]
            return {"loss": float(self.loss(outputs, targets)), "accuracy": float(recalled.double().mean())}

    def baseline(self) -> dict[str, float]:
        return {"loss": N_SYMBOLS * math.log(8) / self.length, "accuracy": 1 / 8}
