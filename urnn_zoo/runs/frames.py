r"""The tidy frames a report reads (one row per observation), their columns and dtypes.

- ``runs`` (:data:`RUN_COLUMNS`): one row per run and comparison arm: identity (``run``, ``path``, ``cell``,
  ``variant``, ``task``, ``task_label``, ``task_options``, ``hidden``, ``seed``, ``arm``, ``budget``), outcome
  (``status``, ``ok``, ``message``), cost (``steps``, ``steps_done``, ``seconds``, ``seconds_per_step``),
  size (``params_stored``, ``params_dof``, ``recurrent_stored``, ``recurrent_dof``), the cell
  (``constraint``, ``complex``, ``metric``, ``unitarity_error``) and provenance (``data_source``,
  ``stand_in``, ``device``, ``dtype``, ``commit``, ``torch``, ``platform``, ``threads``).
- ``finals`` (:data:`FINAL_COLUMNS`): one row per run, split (``valid``: the last evaluation; ``test``: the
  final one) and metric, with the task's memoryless ``baseline``.
- ``curves`` (:data:`CURVE_COLUMNS`): the runs' ``metrics.csv`` rows with the run's identity.
- ``timings``: :data:`urnn_zoo.runs.timings.TIMING_COLUMNS`, one row per timed repeat (``source``:
  ``compare`` or ``asv``).
- ``asv`` (:data:`ASV_COLUMNS`): one row per asv benchmark, parameter combination and results file, then one
  column per parameter (the hidden size as ``hidden``).
- ``skipped`` (:data:`SKIPPED_COLUMNS`): the run folders and files a report could not read, and why.
"""
from __future__ import annotations

import math
from typing import Any

from .metrics import METRICS_SCHEMA
from .timings import TIMING_COLUMNS

__all__ = ["ASV_COLUMNS", "CURVE_COLUMNS", "FINAL_COLUMNS", "RUN_COLUMNS", "SKIPPED_COLUMNS", "TIMING_COLUMNS",
           "as_float", "typed_frame"]

RUN_COLUMNS = {
    "run": "string", "path": "string", "cell": "string", "variant": "string", "task": "string",
    "task_label": "string", "task_options": "string", "hidden": "Int64", "seed": "Int64", "arm": "string",
    "budget": "Int64", "status": "string", "ok": "bool", "message": "string", "steps": "Int64",
    "steps_done": "Int64", "seconds": "float64", "seconds_per_step": "float64", "params_stored": "Int64",
    "params_dof": "Int64", "recurrent_stored": "Int64", "recurrent_dof": "Int64", "constraint": "string",
    "complex": "boolean", "metric": "string", "unitarity_error": "float64", "data_source": "string",
    "stand_in": "boolean", "device": "string", "dtype": "string", "commit": "string", "torch": "string",
    "platform": "string", "threads": "Int64",
}
FINAL_COLUMNS = {"run": "string", "split": "string", "metric": "string", "value": "float64", "baseline": "float64"}
CURVE_COLUMNS = {"run": "string", "cell": "string", "variant": "string", "task": "string", "task_label": "string",
                 "hidden": "Int64", "seed": "Int64", **METRICS_SCHEMA.columns}
ASV_COLUMNS = {"benchmark": "string", "kind": "string", "unit": "string", "params": "object", "value": "float64",
               "q25": "float64", "q75": "float64", "commit": "string", "machine": "string", "cpu": "string",
               "num_cpu": "Int64", "env": "string", "date": "datetime64[ns, UTC]"}
SKIPPED_COLUMNS = {"path": "string", "problem": "string"}


def as_float(value: Any) -> float:
    r"""``value`` as a float; NaN for ``None`` and anything that is not a number."""
    if isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def typed_frame(rows: list[dict[str, Any]], columns: dict[str, str]):
    r"""A :class:`pandas.DataFrame` of ``rows`` with exactly ``columns`` (name to dtype; missing values NA,
    ``bool`` columns False; ``datetime64`` from milliseconds since the epoch)."""
    import pandas as pd

    df = pd.DataFrame(rows, columns=list(columns))
    for col, dtype in columns.items():
        if dtype == "object":
            continue
        if dtype.startswith("datetime"):
            df[col] = pd.to_datetime(df[col], utc=True, unit="ms") if len(df) else df[col].astype(dtype)
        elif dtype == "bool":
            df[col] = df[col].fillna(False).astype(bool)
        else:
            df[col] = df[col].astype(dtype)
    return df
