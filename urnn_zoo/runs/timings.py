r"""``timings.csv``: the forward+backward timings of a comparison, one row per timed repeat, written by
:mod:`urnn_zoo.compare.timing` and read by the report.

Columns ``cell, hidden, batch, length, input_size, device, device_name, dtype, threads, repeat, seconds,
seconds_per_sequence, source, error, schema``; a case that failed (a size a family rejects) has one row with
``nan`` seconds and the error. A case's rows are added all or none (:func:`urnn_zoo.runs.tidy.commit_rows`), and
a file a kill left torn or headerless (or written before the schema) is repaired before anything is added
(Note [Appending safely] of :mod:`urnn_zoo.runs.tidy`).
"""
from __future__ import annotations

import os
from pathlib import Path

from .tidy import TidySchema, empty_frame, read_tidy

__all__ = ["TIMINGS_FILE", "TIMINGS_SCHEMA", "TIMING_COLUMNS", "timed_cases", "read_timings"]

TIMINGS_FILE = "timings.csv"
TIMING_COLUMNS = {"cell": "string", "hidden": "int64", "batch": "int64", "length": "int64", "input_size": "int64",
                  "device": "string", "device_name": "string", "dtype": "string", "threads": "Int64",
                  "repeat": "int64", "seconds": "float64", "seconds_per_sequence": "float64", "source": "string",
                  "error": "string"}
TIMINGS_SCHEMA = TidySchema(
    TIMINGS_FILE, TIMING_COLUMNS, version=1,
    required=("cell", "hidden", "batch", "length", "input_size", "device", "repeat"),
    remedy="delete it and run the same `urnn-zoo compare` again to time the cells again")


def read_timings(path: str | os.PathLike[str]):
    r"""A ``timings.csv`` file as a typed frame (:data:`TIMING_COLUMNS`); an empty frame when it is absent.

    Raises:
        RecordError: the file is damaged (it names the file, the line and what to do).
    """
    path = Path(path)
    return read_tidy(path, TIMINGS_SCHEMA) if path.is_file() else empty_frame(TIMINGS_SCHEMA)


def timed_cases(path: str | os.PathLike[str]) -> set[tuple[str, int, int, int, str]]:
    r"""The ``(cell, hidden, batch, length, device)`` cases the file already holds."""
    frame = read_timings(path)
    return {(r.cell, int(r.hidden), int(r.batch), int(r.length), r.device) for r in frame.itertuples(index=False)}
