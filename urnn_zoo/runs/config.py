r"""``config.json``: everything that shapes a run (:class:`RunConfig`), validated before any folder or file is
made, and the environment it ran in.

``{"schema": 1, "train": {keyword arguments of urnn_zoo.train}, "environment": {...}}``:
``train(**load_config(folder)["train"])`` reruns the run. Schema 0 (before versions) is the same without
``schema`` and with the flat environment of that version (migrated on read,
:func:`urnn_zoo.runs.environment.from_legacy`).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from urnn_zoo import arguments as A

from .atomic import write_json
from .environment import from_legacy
from .errors import RecordError
from .jsonfile import read_json_record

__all__ = ["CONFIG_FILE", "CONFIG_SCHEMA", "DTYPES", "OPTIMIZERS", "RESUMABLE", "RunConfig", "read_config",
           "write_config"]

CONFIG_FILE = "config.json"
CONFIG_SCHEMA = 1
OPTIMIZERS = ("rmsprop", "adam", "cayley")
DTYPES = ("float32", "float64")
RESUMABLE = ("steps", "device")  # what a resume may change: train further, move to another device
_REMEDY = ("start the run over with --force (a checkpoint of this version restores the file on --resume, "
           "when there is one)")


def _cells() -> tuple[str, ...]:
    from urnn_zoo.cells.base import cell_names

    return cell_names()


def _tasks() -> tuple[str, ...]:
    from urnn_zoo.tasks.base import task_names

    return task_names()


def _optional(validator: Callable[[Any], Any], meaning: str) -> Callable[[Any], Any]:
    def validate(value: Any) -> Any:
        if value is None:
            return None
        try:
            return validator(value)
        except Exception as exc:  # argparse.ArgumentTypeError: add what None would mean
            raise type(exc)(f"{exc} (or None: {meaning})") from None

    return validate


def _options(value: Any) -> dict[str, Any]:
    import argparse

    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise argparse.ArgumentTypeError(f"expected a dict of option name to value, got {value!r}")
    return dict(value)


# Each field's validator (urnn_zoo.arguments): the value is checked, and converted, before any work is done.
_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "cell": A.one_of(_cells, "a registered cell"),
    "task": A.one_of(_tasks, "a registered task"),
    "hidden": A.positive_int,
    "steps": A.nonnegative_int,
    "seed": A.seed,
    "cell_options": _options,
    "task_options": _options,
    "batch_size": A.positive_int,
    "optimizer": A.one_of(OPTIMIZERS, "an optimizer"),
    "lr": A.nonnegative_float,
    "constrained_lr": A.nonnegative_float,
    "recurrent_lr": _optional(A.nonnegative_float, "lr"),
    "alpha": A.float_in(0.0, 1.0, high_open=True),  # RMSprop with alpha = 1 never updates its average
    "penalty_weight": A.nonnegative_float,
    "clip": _optional(A.positive_float, "no clipping"),
    "eval_every": A.positive_int,
    "eval_batches": _optional(A.positive_int, "the whole validation split"),
    "test_batches": _optional(A.positive_int, "the whole test split"),
    "log_every": A.positive_int,
    "checkpoint_every": _optional(A.positive_int, "every eval_every steps"),
    "early_stop": _optional(A.positive_int, "no early stopping"),
    "device": A.device,
    "dtype": A.one_of(DTYPES, "a dtype"),
}


@dataclass(frozen=True)
class RunConfig:
    r"""The configuration of one training run: the keyword arguments of :func:`urnn_zoo.train` that shape
    it. Every field is validated (and converted: ``"auto"`` device resolved, text to numbers) on creation.

    Raises:
        ValueError: ``"<field>: expected ..., got ..."`` for the first field out of range (e.g.
            ``eval_batches: expected an integer > 0, got -1 (or None: the whole validation split)``).

    Example::

        >>> RunConfig("kru", "copy", steps=10).hidden
        128
    """

    cell: str
    task: str
    hidden: int = 128
    steps: int = 2000
    seed: int = 0
    cell_options: dict[str, Any] = field(default_factory=dict)
    task_options: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 50
    optimizer: str = "rmsprop"
    lr: float = 1e-3
    constrained_lr: float = 1e-4
    recurrent_lr: float | None = None
    alpha: float = 0.9
    penalty_weight: float = 1e-3
    clip: float | None = None
    eval_every: int = 100
    eval_batches: int | None = 20
    test_batches: int | None = None
    log_every: int = 10
    checkpoint_every: int | None = None
    early_stop: int | None = None
    device: str = "cpu"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        for name, validate in _VALIDATORS.items():
            object.__setattr__(self, name, A.check(getattr(self, name), validate, name))

    def to_dict(self) -> dict[str, Any]:
        r"""The fields as ``config.json``'s ``train`` holds them."""
        return dataclasses.asdict(self)

    def differences(self, other: dict[str, Any]) -> list[str]:
        r"""The fields (other than :data:`RESUMABLE`) whose values differ from ``other`` (a ``train`` dict)."""
        mine = self.to_dict()
        return sorted(k for k in set(mine) | set(other) if k not in RESUMABLE and mine.get(k) != other.get(k))


def write_config(folder: str | os.PathLike[str], config: RunConfig, environment: dict[str, Any]) -> None:
    r"""Write ``folder/config.json`` atomically."""
    write_json(Path(folder) / CONFIG_FILE, {"schema": CONFIG_SCHEMA, "train": config.to_dict(),
                                            "environment": environment})


def read_config(folder: str | os.PathLike[str]) -> dict[str, Any]:
    r"""``folder/config.json`` (or the file itself): ``{"schema", "train", "environment"}``, migrated to
    schema :data:`CONFIG_SCHEMA`.

    Raises:
        FileNotFoundError: no such file. RecordError: a damaged file (names it and says what to do).
    """
    path = Path(folder)
    path = path if path.name == CONFIG_FILE and path.is_file() else path / CONFIG_FILE
    content, version = read_json_record(path, CONFIG_SCHEMA, _REMEDY)
    train = content.get("train")
    if not isinstance(train, dict) or not isinstance(train.get("cell"), str) or not isinstance(train.get("task"), str):
        raise RecordError(path, f"has no run configuration (its 'train' is {train!r})", _REMEDY)
    environment = content.get("environment") or {}
    if not isinstance(environment, dict):
        raise RecordError(path, f"has environment {environment!r}, expected an object", _REMEDY)
    if version == 0:
        environment = from_legacy(environment)
    return {"schema": CONFIG_SCHEMA, "train": train, "environment": environment}
