r"""Polyphonic music modelling on 88-key piano rolls (Boulanger-Lewandowski, Bengio, Vincent, ICML 2012,
arXiv 1206.6392); docs/tasks.md#music-polyphonic-music."""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..data.music import KEYS, music_splits
from .base import Task, check_int, check_split, endless_batches, once_batches

__all__ = ["MusicTask", "PAD"]

PAD = -1.0


class MusicTask(Task):
    r"""Predict the next 88-key piano-roll frame as 88 independent Bernoullis.

    A sequence of L frames gives L−1 prediction steps: inputs are frames 0..L−2, targets frames 1..L−1.
    A batch pads its sequences to the longest one: inputs (T, B, 88) float32 with zeros after a sequence ends,
    targets (T, B, 88) float32 in {0, 1} with ``PAD`` (−1) on every key of a padded step, which the loss
    and metric skip. The loss and the metric ``nll`` are the negative log-likelihood per time step: the sum
    over the 88 keys of the Bernoulli NLL (sigmoid of the outputs), averaged over the real (unpadded) steps,
    in nats (as Boulanger-Lewandowski et al. and Chung et al. 2014 report it). :meth:`weight` is the number of
    real steps of a batch, so weighted batch averages give the split's per-step NLL.

    Data and splits (:func:`urnn_zoo.data.music.music_splits`): the four-part Bach chorales of music21 at
    quarter-note steps (stand-in; 351 chorales split 211 / 70 / 70 with ``RandomState(1750)``; parsed once,
    ~40 s, and cached in the user cache) or a Boulanger-Lewandowski pickle (``data_path``) with its own
    splits. ``"train"`` is an endless stream of epochs, each a fresh random order of the sequences;
    ``"valid"`` and ``"test"`` are iterated once, in order.

    Memoryless baseline: each key an independent Bernoulli with its frequency over all training frames; its
    ``nll`` is the sum over keys of the binary entropies of those frequencies (on the training split).

    Args:
        data_path: a Boulanger-Lewandowski pickle (e.g. ``"JSB Chorales.pickle"``), or ``None`` for the
            music21 Bach chorales stand-in.
        limit: stand-in only: parse just the first ``limit`` chorale scores (tests, quick runs); ``None``
            for all.

    Example::

        >>> from urnn_zoo.tasks.base import make_task
        >>> task = make_task("music", limit=6)
        >>> x, y = next(task.batches("test", batch_size=2))
        >>> x.shape[1:], y.shape[1:]
        (torch.Size([1, 88]), torch.Size([1, 88]))
    """

    name = "music"
    options = {"data_path": None, "limit": None}
    readout = "all"
    metric_names = ("nll",)
    input_size = KEYS
    output_size = KEYS

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        path = self._options["data_path"]
        self.data_path = None if path is None else str(path)
        self._options["data_path"] = self.data_path
        limit = self._options["limit"]
        self.limit = None if limit is None else check_int("limit", limit, 1)
        if self.limit is not None and self.data_path is not None:
            raise ValueError("limit applies to the music21 chorales stand-in only; got both limit and data_path")
        self._splits: dict[str, list[np.ndarray]] | None = None

    @property
    def data_source(self) -> str:
        if self.data_path is not None:
            return f"Boulanger-Lewandowski piano rolls ({self.data_path})"
        subset = "" if self.limit is None else f", first {self.limit} scores"
        return f"music21 Bach chorales (stand-in for JSB{subset})"

    @property
    def is_stand_in(self) -> bool:
        return self.data_path is None

    def splits(self) -> dict[str, list[np.ndarray]]:
        r"""``{split: [roll, ...]}``, bool piano rolls (L, 88), loaded once."""
        if self._splits is None:
            self._splits = music_splits(self.data_path, self.limit)
        return self._splits

    @staticmethod
    def collate(rolls: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Inputs and padded targets (see the class docstring) for a list of piano rolls (L ≥ 2, 88).

        Example::

            >>> x, y = MusicTask.collate([np.ones((3, 88), bool), np.ones((2, 88), bool)])
            >>> tuple(x.shape), float(y[1, 1, 0])
            ((2, 2, 88), -1.0)
        """
        steps = max(len(r) for r in rolls) - 1
        inputs = np.zeros((steps, len(rolls), KEYS), dtype=np.float32)
        targets = np.full((steps, len(rolls), KEYS), PAD, dtype=np.float32)
        for b, roll in enumerate(rolls):
            inputs[: len(roll) - 1, b] = roll[:-1]
            targets[: len(roll) - 1, b] = roll[1:]
        return torch.from_numpy(inputs), torch.from_numpy(targets)

    def batches(self, split: str, batch_size: int, seed: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        check_split(split)
        rng = self._rng(split, seed)
        rolls = self.splits()[split]
        if split == "train":
            indices = endless_batches(lambda r: r.permutation(len(rolls)), batch_size, rng)
        else:
            indices = once_batches(len(rolls), batch_size)
        for idx in indices:
            yield self.collate([rolls[i] for i in idx])

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        real = targets[..., 0] != PAD  # (T, B)
        per_key = F.binary_cross_entropy_with_logits(outputs, targets.clamp(min=0), reduction="none")
        per_step = per_key.sum(-1)
        return (per_step * real).sum() / real.sum().clamp(min=1)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():
            return {"nll": float(self.loss(outputs, targets))}

    def weight(self, targets: torch.Tensor) -> float:
        return float((targets[..., 0] != PAD).sum())

    def baseline(self) -> dict[str, float]:
        frames = np.concatenate(self.splits()["train"])
        p = frames.mean(axis=0, dtype=np.float64)
        nll = 0.0
        for q in p.tolist():
            if 0.0 < q < 1.0:
                nll -= q * math.log(q) + (1 - q) * math.log(1 - q)
        return {"nll": float(nll)}
