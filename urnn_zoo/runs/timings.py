r"""``timings.csv``: the forward+backward timings of a comparison, one row per timed repeat, written by
:mod:`urnn_zoo.compare.timing` and read by the report.

Columns ``cell, hidden, cell_options, batch, length, input_size, device, device_name, dtype, threads, repeat,
seconds, seconds_per_sequence, source, error, schema``; ``cell_options`` is the options the cell was built with,
as canonical JSON (:func:`options_text`). A case that failed (a size a family rejects) has one row with ``nan``
seconds and the error. A case's rows are added all or none (:func:`urnn_zoo.runs.tidy.commit_rows`), and a file
a kill left torn or headerless (or written before the schema) is repaired before anything is added (Note
[Appending safely] of :mod:`urnn_zoo.runs.tidy`).

Note [A timing is of a cell's options]
    A run's speed is the speed of the model it trained: a timing is of a (cell, cell options, N), and every
    look-up matches all three. Two option sets name the same model when their entries that differ from the
    cell's defaults are equal (:func:`options_key`: ``{}`` and ``{"forget_bias": 1.0}`` are both the default
    LSTM). Options are compared as given, not as a family resolves them: KRU's default factors at N = 128 are
    [8, 16] by its factor rule, yet ``{}`` and ``{"factors": [8, 16]}`` are two cases, each timed and
    matched on its own.

Schema 2 added ``cell_options``. The rows of schema 1 (and 0) were timed with the workload's options
(:func:`urnn_zoo.workload.workload_options`: defaults, except KRU's factor table), so they read with those
options written in (:func:`workload_text`), and a file of schema 1 is rewritten in schema 2 with them before
rows are appended (Note [Older schemas] of :mod:`urnn_zoo.runs.tidy`). A timing frame's row without options
(the asv suite's rows in the report, which recorded none) is of the workload's options too
(:func:`timing_options`).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from urnn_zoo.workload import workload_options

from .errors import RecordError
from .tidy import Legacy, TidySchema, empty_frame, read_tidy

__all__ = ["TIMINGS_FILE", "TIMINGS_SCHEMA", "TIMING_COLUMNS", "non_default_options", "options_key",
           "options_text", "read_timings", "timed_cases", "timing_options", "timing_variant", "workload_text"]

TIMINGS_FILE = "timings.csv"
TIMING_COLUMNS = {"cell": "string", "hidden": "int64", "cell_options": "string", "batch": "int64",
                  "length": "int64", "input_size": "int64", "device": "string", "device_name": "string",
                  "dtype": "string", "threads": "Int64", "repeat": "int64", "seconds": "float64",
                  "seconds_per_sequence": "float64", "source": "string", "error": "string"}
# Schemas 0 and 1: the same columns without cell_options (schema 0 also without the schema column).
_COLUMNS_1 = tuple(c for c in TIMING_COLUMNS if c != "cell_options")


def options_text(options: Mapping[str, Any] | None) -> str:
    r"""Cell options as canonical JSON text: keys sorted, ``json.dumps`` spacing (``{"factors": [2, 2]}``);
    ``None`` is ``{}``. The form of ``timings.csv``'s ``cell_options`` and of the report's ``configs`` frame.

    Raises:
        ValueError: ``options`` is not a mapping of option names, or holds a value JSON cannot write.

    Example:
        >>> options_text({"num_factors": 3, "factors": (2, 2, 2)})
        '{"factors": [2, 2, 2], "num_factors": 3}'
    """
    if options is None:
        return "{}"
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise ValueError(f"expected a dict of cell options or None, got {options!r}")
    try:
        return json.dumps(dict(options), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"expected cell options JSON can write, got {options!r} ({exc})") from None


def _defaults(cell: str) -> dict[str, Any]:
    from urnn_zoo.cells.base import cell_options

    try:
        return cell_options(cell)
    except ValueError:  # a cell no longer registered (a plug-in not loaded): every option counts
        return {}


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=repr)  # a default JSON cannot write compares by its repr


def non_default_options(cell: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    r"""The entries of ``options`` that differ from ``cell``'s defaults (compared as JSON: a tuple equals its
    list), in sorted key order.

    Example:
        >>> non_default_options("lstm", {"forget_bias": 1.0}), non_default_options("kru", {"factors": [2, 4]})
        ({}, {'factors': [2, 4]})
    """
    defaults = _defaults(cell)
    missing = object()
    return {k: v for k, v in sorted((options or {}).items())
            if defaults.get(k, missing) is missing or _json(defaults[k]) != _json(v)}


def options_key(cell: str, options: Mapping[str, Any] | None) -> str:
    r"""What identifies a model of ``cell`` among option sets (Note [A timing is of a cell's options]): the
    canonical JSON of its non-default options.

    Example:
        >>> options_key("lstm", {"forget_bias": 1.0}) == options_key("lstm", {}) == "{}"
        True
    """
    return options_text(non_default_options(cell, options))


def workload_text(cell: str, hidden: int) -> str:
    r"""The workload's options of ``cell`` at ``hidden`` as canonical JSON: what a row of schema 0 or 1 was
    timed with."""
    return options_text(workload_options(cell, hidden))


def _parse_options(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise ValueError(f"expected cell options as a JSON object, got {text!r}")
    return value


def timing_options(cell: str, hidden: int, text: Any) -> dict[str, Any]:
    r"""The options a timing row was timed with: its ``cell_options`` JSON, or the workload's options when it
    has none (NA, ``None``, empty: asv's rows).

    Raises:
        ValueError: ``text`` is not a JSON object.
    """
    if not isinstance(text, str) or not text:
        return workload_options(cell, int(hidden))
    return _parse_options(text)


def timing_variant(cell: str, hidden: int, options: Mapping[str, Any] | None) -> str:
    r"""How a timed case differs from the workload: empty for the workload's options (up to defaults), else
    its non-default options as ``key=value`` text (``factors=[2, 2, 2]``).

    Example:
        >>> timing_variant("kru", 128, {"factors": [8, 16]}), timing_variant("kru", 8, {"factors": [2, 2, 2]})
        ('', 'factors=[2, 2, 2]')
    """
    if options_key(cell, options) == options_key(cell, workload_options(cell, hidden)):
        return ""
    return ", ".join(f"{k}={v}" for k, v in non_default_options(cell, options).items())


def _workload_fill(row: dict[str, str]) -> dict[str, str]:
    r"""The ``cell_options`` of a row of schema 0 or 1: the workload's (empty when its ``hidden`` is not an
    integer, which reading then reports)."""
    try:
        return {"cell_options": workload_text(row["cell"], int(row["hidden"]))}
    except ValueError:
        return {}


TIMINGS_SCHEMA = TidySchema(
    TIMINGS_FILE, TIMING_COLUMNS, version=2,
    required=("cell", "hidden", "cell_options", "batch", "length", "input_size", "device", "repeat"),
    remedy="delete it and run the same `urnn-zoo compare` again to time the cells again",
    legacy=(Legacy(0, _COLUMNS_1, _workload_fill), Legacy(1, _COLUMNS_1, _workload_fill)))


def read_timings(path: str | os.PathLike[str]):
    r"""A ``timings.csv`` file as a typed frame (:data:`TIMING_COLUMNS`); an empty frame when it is absent. A file
    of schema 0 or 1 reads with the workload's options (module docstring).

    Raises:
        RecordError: the file is damaged, or a ``cell_options`` value is not a JSON object (it names the file,
            the line and what to do).
    """
    path = Path(path)
    if not path.is_file():
        return empty_frame(TIMINGS_SCHEMA)
    frame = read_tidy(path, TIMINGS_SCHEMA)
    for i, text in enumerate(frame.cell_options):
        try:
            _parse_options(text)
        except ValueError:
            raise RecordError(path, f"line {i + 2}: column 'cell_options' holds {text!r}, expected a JSON object "
                                    f"of cell options", TIMINGS_SCHEMA.remedy) from None
    return frame


def timed_cases(path: str | os.PathLike[str]) -> set[tuple[str, int, str, int, int, str]]:
    r"""The ``(cell, hidden, options key, batch, length, device)`` cases the file already holds, the options as
    :func:`options_key` gives them.

    Raises:
        RecordError: the file is damaged.
    """
    frame = read_timings(path)
    keys = {(c, int(h), o): options_key(c, timing_options(c, h, o))
            for c, h, o in set(zip(frame.cell, frame.hidden, frame.cell_options))}
    return {(r.cell, int(r.hidden), keys[r.cell, int(r.hidden), r.cell_options], int(r.batch), int(r.length),
             r.device) for r in frame.itertuples(index=False)}
