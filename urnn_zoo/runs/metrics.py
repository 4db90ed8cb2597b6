r"""``metrics.csv``: a run's tidy log, one row per observation, written by the training loop.

Columns ``step, split, metric, value, seconds, schema``. ``split`` is ``train`` (``loss``: the mean task loss
over the last ``log_every`` steps, without the penalty), ``valid`` (the task's metrics at each evaluation),
``test`` (the final evaluation, at the step of the model tested) or ``model`` (properties of the cell at each
evaluation: ``unitarity_error``, and ``penalty`` for soft cells). ``seconds``: wall time of the run so far
(resumes included). Appends are crash-safe (Note [Appending safely] of :mod:`urnn_zoo.runs.tidy`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .tidy import Appender, TidySchema, empty_frame, read_tidy, rewrite

__all__ = ["METRICS_FILE", "METRICS_SCHEMA", "MetricsLog", "SPLITS", "read_metrics"]

METRICS_FILE = "metrics.csv"
SPLITS = ("train", "valid", "test", "model")
METRICS_SCHEMA = TidySchema(
    METRICS_FILE, {"step": "int64", "split": "string", "metric": "string", "value": "float64", "seconds": "float64"},
    version=1, required=("step", "split", "metric"),
    remedy="delete it to resume the run without the rows it held (--resume), or start the run over (--force)")


def read_metrics(folder: str | os.PathLike[str]):
    r"""The ``metrics.csv`` of a run folder as a typed frame (``step`` int64, ``split``/``metric`` string,
    ``value``/``seconds`` float64); an empty frame when the file is absent.

    Raises:
        RecordError: the file is damaged (it names the file, the line and what to do).
    """
    file = Path(folder) / METRICS_FILE
    return read_tidy(file, METRICS_SCHEMA) if file.is_file() else empty_frame(METRICS_SCHEMA)


class MetricsLog:
    r"""The metrics file of a run being trained.

    Args:
        folder: the run folder.
        keep_through: ``None`` starts an empty log; a step keeps the rows up to it, except ``test`` rows (a
            resume from the checkpoint of that step: later rows are the interrupted run's and are written
            again), rewriting the file atomically.
    """

    def __init__(self, folder: str | os.PathLike[str], keep_through: int | None) -> None:
        self.path = Path(folder) / METRICS_FILE
        rows: list[list[Any]] = []
        if keep_through is not None and self.path.is_file():
            frame = read_tidy(self.path, METRICS_SCHEMA)
            kept = frame[(frame.step <= keep_through) & (frame.split != "test")]
            rows = [[int(r.step), r.split, r.metric, r.value, r.seconds] for r in kept.itertuples(index=False)]
        rewrite(self.path, METRICS_SCHEMA, [[s, sp, m, repr(float(v)), f"{t:.3f}"] for s, sp, m, v, t in rows])
        self._out = Appender(self.path, METRICS_SCHEMA)

    def row(self, step: int, split: str, metric: str, value: float, seconds: float) -> None:
        r"""Append one observation (the value with every digit: ``repr``)."""
        self._out.write([[step, split, metric, repr(float(value)), f"{seconds:.3f}"]])

    def flush(self, sync: bool = False) -> None:
        r"""Hand the rows written so far to the system (``sync``: to the disk, before a checkpoint)."""
        self._out.flush(sync)

    def close(self) -> None:
        self._out.close()
