r"""The report's Settings table: every training setting the runs used, one row per task, cell and variant, with
the command line that made them, so that a reader can train any run of a report again from the report alone.

The values are those of each run's ``config.json`` (the ``configs`` frame of :mod:`.load`), the numbers written
exactly (Python's ``repr`` of a float reads back as the same float). A group whose runs differ in a setting
lists every value used, e.g. ``N`` ``8, 16`` for two comparison arms.

Example::

    >>> res = load_results("runs/quick")                                       # doctest: +SKIP
    >>> settings_table(res)[["task", "cell", "lr", "command"]]                 # doctest: +SKIP
"""
from __future__ import annotations

import numbers
from typing import Any, Iterable

import pandas as pd

from .load import Results

__all__ = ["SETTINGS", "SETTINGS_CAPTION", "settings_table"]

# The training settings shown, in config.json's names (the flags of `urnn-zoo train`, `_` for `-`).
SETTINGS = ("steps", "batch_size", "optimizer", "lr", "constrained_lr", "recurrent_lr", "alpha", "penalty_weight",
            "clip", "eval_every", "eval_batches", "test_batches", "early_stop", "dtype", "device")
MISSING = "–"
SETTINGS_CAPTION = (
    "Training settings of the runs, per task, cell and variant (the cell options that differ from the defaults), "
    "as each run's config.json holds them; several values: the runs differ in it. N: hidden sizes; seeds: the "
    "seeds trained. lr: learning rate of every parameter not behind an exact constraint; constrained_lr: of "
    "those behind one (and of the Cayley step); recurrent_lr: of a soft cell's recurrent factors; alpha: "
    "RMSprop's smoothing constant; penalty_weight: λ of a soft cell's penalty. – : recurrent_lr = lr, clip: "
    "none, eval_batches and test_batches: the whole split (100 test batches of a generated task), early_stop: "
    "none, command: not recorded (a run made from Python, or recorded before commands were). Every value is "
    "also in data/configs.csv.")


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, numbers.Real) and value != value)


def _text(value: Any) -> str:
    r"""One value as the table shows it: floats exactly (``repr``), integers without a decimal point."""
    if _missing(value):
        return MISSING
    if isinstance(value, (bool, str)):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    return str(value)


def _values(column: pd.Series) -> str:
    r"""The distinct values of a group's column, in ascending order (numbers as numbers), joined by ``, ``."""
    present = [v for v in column.tolist() if not _missing(v)]
    missing = len(present) < len(column)
    try:
        distinct = sorted(set(present))
    except TypeError:  # mixed types: their text order
        distinct = sorted(set(present), key=str)
    shown = [_text(v) for v in distinct] + ([MISSING] if missing else [])
    return ", ".join(dict.fromkeys(shown)) if shown else MISSING


def _commands(column: Iterable[Any]) -> str:
    r"""The distinct commands of a group in the order of its runs, joined by ``; ``."""
    shown = [MISSING if _missing(c) else str(c) for c in column]
    return "; ".join(dict.fromkeys(shown)) if shown else MISSING


def settings_table(res: Results) -> pd.DataFrame:
    r"""Every training setting of the runs of ``res``: one row per (task, cell, variant).

    Args:
        res: loaded results (:func:`urnn_zoo.report.load.load_results`); reads its ``configs`` frame.

    Returns:
        A frame of strings with columns ``task`` (the task label), ``cell``, ``variant``, ``runs`` (run folders),
        ``N`` (hidden sizes), ``seeds``, then :data:`SETTINGS` in config.json's names, then ``command`` (the
        distinct command lines that made the runs, ``; ``-separated). Tasks in the order of the report's tables
        (the runs frame's first-seen order), then cells and variants in name order; no rows without runs (the
        columns stay).
    """
    columns = ["task", "cell", "variant", "runs", "N", "seeds", *SETTINGS, "command"]
    configs = res.configs
    if configs is None or not len(configs):
        return pd.DataFrame(columns=columns, dtype="string")
    frame = configs.assign(task_label=configs.task_label.fillna(configs.task).fillna(MISSING),
                           cell=configs.cell.fillna(MISSING), variant=configs.variant.fillna(""))
    # The report's task order (its tables'), then any task only the configs have.
    labels = [*res.runs.task_label.dropna(), *frame.task_label] if len(res.runs) else list(frame.task_label)
    order = {label: i for i, label in enumerate(dict.fromkeys(labels))}
    rows = []
    for (label, cell, variant), group in frame.groupby(["task_label", "cell", "variant"], sort=False):
        row = {"task": label, "cell": cell, "variant": variant, "runs": str(len(group)),
               "N": _values(group.hidden.astype(object)), "seeds": _values(group.seed.astype(object))}
        row.update({key: _values(group[key].astype(object)) for key in SETTINGS})
        row["command"] = _commands(group.command.astype(object))
        rows.append(((order[label], cell, variant), row))
    rows.sort(key=lambda item: item[0])
    return pd.DataFrame([row for _, row in rows], columns=columns, dtype="string")
