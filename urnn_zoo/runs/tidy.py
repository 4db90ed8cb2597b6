r"""Tidy CSV record files (``metrics.csv``, ``timings.csv``): a header, one row per observation, a ``schema``
column, appended to while a run or a comparison goes on, and safe against a kill at any point.

Note [Appending safely]
    An append is not atomic: a process killed while appending can leave a torn last line (no newline, fewer
    fields), and one killed before its first flush an empty file. :func:`open_for_append` repairs both before
    anything is appended (it cuts the torn line and writes the missing header, rewriting the file atomically,
    Note [Atomic writes]), and migrates a file of an older schema (no ``schema`` column, or, for timings
    written before the schema, rows without a header) to the current one; each batch of rows is then written
    with one ``write`` and flushed. :func:`read_tidy` drops a torn last line (the one thing a kill leaves) and
    refuses anything else that does not match the schema with a :class:`~urnn_zoo.runs.errors.RecordError`
    naming the file, the line and what to do.

The rows are parsed with the :mod:`csv` module rather than :func:`pandas.read_csv` so that a row with the
wrong number of fields or a value of the wrong type is reported with its line number (pandas pads short rows
and coerces silently); the frame and its dtypes are then built with pandas.
"""
from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from .atomic import write_atomic
from .errors import NewerRecordError, RecordError

__all__ = ["SCHEMA_COLUMN", "Appender", "TidySchema", "commit_rows", "empty_frame", "open_for_append", "read_tidy",
           "rewrite"]

SCHEMA_COLUMN = "schema"


@dataclass(frozen=True)
class TidySchema:
    r"""What one tidy CSV file holds.

    Attributes:
        name: the file name (``metrics.csv``).
        columns: column name to pandas dtype (``int64``, ``Int64``, ``float64``, ``string``), in file order; the
            file has a last column ``schema`` beside them.
        version: the schema version written in the ``schema`` column.
        required: columns that may not be empty.
        remedy: what to tell a user whose file is damaged (which command rewrites it).
    """

    name: str
    columns: dict[str, str]
    version: int
    required: tuple[str, ...]
    remedy: str

    @property
    def header(self) -> list[str]:
        return [*self.columns, SCHEMA_COLUMN]

    @property
    def legacy_header(self) -> list[str]:
        r"""The header of schema 0: the same columns, no ``schema`` column."""
        return list(self.columns)


def _text(path: Path, schema: TidySchema) -> str:
    data = path.read_bytes()
    nul = data.find(b"\0")
    if nul >= 0:
        raise RecordError(path, f"holds binary data (a NUL byte at byte {nul}), not a CSV table", schema.remedy)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(path, f"is not UTF-8 text (byte {exc.start}), not a CSV table", schema.remedy) from None


def _lines(path: Path, schema: TidySchema) -> tuple[list[str], bool]:
    r"""The file's complete lines, and whether a torn last line (no newline) was dropped."""
    text = _text(path, schema)
    torn = bool(text) and not text.endswith("\n")
    lines = text.splitlines(keepends=True)
    if torn:
        lines = lines[:-1]
    return lines, torn


def _parse(path: Path, schema: TidySchema, lines: list[str]) -> tuple[int, list[list[str]], int]:
    r"""``(schema version, data rows as text, line number of the first data row)`` of a file's complete lines
    (a header is required, except in schema-0 files whose rows lost it)."""
    rows = list(csv.reader(io.StringIO("".join(lines))))
    if not rows:
        return schema.version, [], 2
    first = rows[0]
    if first == schema.header:
        version, body, start = schema.version, rows[1:], 2
    elif first == schema.legacy_header:
        version, body, start = 0, rows[1:], 2
    elif len(first) == len(schema.legacy_header) and first[0] not in schema.columns:
        version, body, start = 0, rows, 1  # rows appended after an empty file: schema 0 without a header
    else:
        raise RecordError(path, f"has the columns {first}, expected {schema.header}", schema.remedy)
    width = len(schema.header) if version else len(schema.legacy_header)
    for i, row in enumerate(body):
        if len(row) != width:
            raise RecordError(path, f"line {start + i} has {len(row)} fields, expected {width}", schema.remedy)
    return version, body, start


def _convert(path: Path, schema: TidySchema, body: list[list[str]], version: int, start: int) -> dict[str, list]:
    columns: dict[str, list[Any]] = {name: [] for name in schema.columns}
    names = list(schema.columns)
    for i, row in enumerate(body):
        if version and row[-1].strip() and row[-1].strip() != str(schema.version):
            try:
                newer = int(row[-1]) > schema.version
            except ValueError:
                newer = False
            if newer:
                raise NewerRecordError(path, f"line {start + i} has schema {row[-1]}; this urnn_zoo reads schema "
                                        f"{schema.version} and older", "upgrade urnn_zoo, or " + schema.remedy)
            raise RecordError(path, f"line {start + i}: schema {row[-1]!r} is not a schema version",
                              schema.remedy)
        for name, text in zip(names, row):
            dtype = schema.columns[name]
            if not text and name in schema.required:
                raise RecordError(path, f"line {start + i}: column {name!r} is empty", schema.remedy)
            try:
                if dtype in ("int64", "Int64"):
                    value: Any = None if not text else int(text)
                elif dtype == "float64":
                    value = math.nan if not text else float(text)
                else:
                    value = text
            except ValueError:
                kind = "an integer" if dtype in ("int64", "Int64") else "a number"
                raise RecordError(path, f"line {start + i}: column {name!r} holds {text!r}, expected {kind}",
                                  schema.remedy) from None
            columns[name].append(value)
    return columns


def empty_frame(schema: TidySchema):
    r"""A frame with the schema's columns and dtypes and no rows."""
    import pandas as pd

    return pd.DataFrame({name: pd.Series([], dtype=dtype) for name, dtype in schema.columns.items()})


def read_tidy(path: str | os.PathLike[str], schema: TidySchema):
    r"""A tidy CSV file as a :class:`pandas.DataFrame` with the schema's columns and dtypes (no ``schema``).

    A torn last line (a kill while appending) is dropped; an empty file is an empty frame.

    Raises:
        RecordError: binary or non-UTF-8 content, unknown columns, a row with the wrong number of fields, a
            value of the wrong type, or a newer schema (the message names the file and the line).
    """
    import pandas as pd

    path = Path(path)
    lines, _ = _lines(path, schema)
    version, body, start = _parse(path, schema, lines)
    columns = _convert(path, schema, body, version, start)
    return pd.DataFrame({name: pd.Series(values, dtype=schema.columns[name]) for name, values in columns.items()})


def _row_text(rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def rewrite(path: str | os.PathLike[str], schema: TidySchema, rows: Iterable[Sequence[Any]]) -> None:
    r"""Replace the file atomically by the header and ``rows`` (values in column order, no ``schema``)."""
    text = _row_text([schema.header, *([*r, schema.version] for r in rows)])
    write_atomic(path, lambda f: f.write(text))


def open_for_append(path: str | os.PathLike[str], schema: TidySchema) -> None:
    r"""Make ``path`` ready for :func:`append_rows` (Note [Appending safely]): create it with its header, or
    cut a torn last line, write a missing header and migrate an older schema, rewriting it atomically.

    Raises:
        RecordError: content that is not this schema's table (the file is left as it is).
    """
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        rewrite(path, schema, [])
        return
    lines, torn = _lines(path, schema)
    version, body, start = _parse(path, schema, lines)
    if torn or version != schema.version or start != 2:
        rewrite(path, schema, [r[: len(schema.columns)] for r in body])


def commit_rows(path: str | os.PathLike[str], schema: TidySchema, rows: Iterable[Sequence[Any]]) -> None:
    r"""Add rows (values in column order, no ``schema``) all or none: the file is repaired
    (:func:`open_for_append`) and rewritten atomically with them, so that a kill leaves either every row of
    the batch or none (for a file small enough to rewrite: ``timings.csv``, whose case's repeats belong
    together)."""
    path = Path(path)
    open_for_append(path, schema)
    text = path.read_text(encoding="utf-8") + _row_text([*r, schema.version] for r in rows)
    write_atomic(path, lambda f: f.write(text))


class Appender:
    r"""Rows appended to a tidy CSV file made ready by :func:`open_for_append`: each :meth:`write` is one
    ``write`` of whole lines; :meth:`flush` hands them to the system (``sync=True``: to the disk)."""

    def __init__(self, path: str | os.PathLike[str], schema: TidySchema) -> None:
        open_for_append(path, schema)
        self.path, self.schema = Path(path), schema
        self._file = open(self.path, "a", encoding="utf-8", newline="")

    def write(self, rows: Iterable[Sequence[Any]]) -> None:
        text = _row_text([*r, self.schema.version] for r in rows)
        if text:
            self._file.write(text)

    def flush(self, sync: bool = False) -> None:
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> "Appender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
