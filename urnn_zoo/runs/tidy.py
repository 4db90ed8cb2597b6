r"""Tidy CSV record files (``metrics.csv``, ``timings.csv``): a header, one row per observation, a ``schema``
column, appended to while a run or a comparison goes on, and safe against a kill at any point.

Note [Appending safely]
    An append is not atomic: a process killed while appending can leave a torn last line (no newline, fewer
    fields), and one killed before its first flush an empty file. :func:`open_for_append` repairs both before
    anything is appended (it cuts the torn line and writes the missing header, rewriting the file atomically,
    Note [Atomic writes]), and migrates a file of an older schema (Note [Older schemas]) to the current one;
    each batch of rows is then written with one ``write`` and flushed. :func:`read_tidy` drops a torn last
    line (the one thing a kill leaves) and refuses anything else that does not match the schema with a
    :class:`~urnn_zoo.runs.errors.RecordError` naming the file, the line and what to do.

Note [Older schemas]
    A file's header says its version: the current columns and ``schema``, or an older version's
    (:class:`Legacy`; version 0 has no ``schema`` column, and its rows may have lost their header). The
    columns an older version lacks are filled from each row (:attr:`Legacy.fill`; else empty, NA), the same
    when it is read and when :func:`open_for_append` rewrites it in the current schema, every value's text
    kept. A schema adds columns; it never drops or renames one.

Note [Line breaks in a field]
    A quoted text field may hold a line break (an error message), so a torn record is cut at the last newline
    outside quotes: one with an even number of quote characters before it (CSV doubles a quote inside a
    field). :mod:`csv` quotes a field holding ``\n`` but not a lone ``\r``, which readers take for a line end:
    rows holding one are written fully quoted. A torn UTF-8 character at the end goes with its record.

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
from typing import Any, Callable, Iterable, Sequence

from .atomic import write_atomic
from .errors import NewerRecordError, RecordError

__all__ = ["SCHEMA_COLUMN", "Appender", "Legacy", "TidySchema", "commit_rows", "empty_frame", "open_for_append",
           "read_tidy", "rewrite"]

SCHEMA_COLUMN = "schema"


@dataclass(frozen=True)
class Legacy:
    r"""An older version of a tidy file's schema and how its rows read in the current one (Note [Older schemas]).

    Attributes:
        version: the version (0: no ``schema`` column). columns: its columns in file order, without ``schema``.
        fill: the text of the current columns it lacks, from one row's text by column name; a column it
            leaves out is empty (NA). It must not raise on a damaged row (reading reports that row).
    """

    version: int
    columns: tuple[str, ...]
    fill: Callable[[dict[str, str]], dict[str, str]] | None = None

    @property
    def header(self) -> list[str]:
        return [*self.columns, SCHEMA_COLUMN] if self.version else list(self.columns)

    def current(self, row: list[str], schema: "TidySchema") -> list[str]:
        r"""A data row of this version (its ``schema`` field left out) as text in ``schema``'s columns."""
        values = dict(zip(self.columns, row))
        filled = self.fill(values) if self.fill and len(values) < len(schema.columns) else {}
        return [values[name] if name in values else filled.get(name, "") for name in schema.columns]


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
        legacy: the older versions read (Note [Older schemas]); version 0 is by default the current columns.

    Raises:
        ValueError: an older version is not older, or names a column the current schema does not have.
    """

    name: str
    columns: dict[str, str]
    version: int
    required: tuple[str, ...]
    remedy: str
    legacy: tuple[Legacy, ...] = ()

    def __post_init__(self) -> None:
        for old in self.legacy:
            if not 0 <= old.version < self.version or not set(old.columns) <= set(self.columns):
                raise ValueError(f"{self.name}: expected older versions (0 to {self.version - 1}) of current "
                                 f"columns, got version {old.version} with {list(old.columns)}")

    @property
    def header(self) -> list[str]:
        return [*self.columns, SCHEMA_COLUMN]

    @property
    def versions(self) -> tuple[Legacy, ...]:
        r"""Every version read, the current one first (as a :class:`Legacy` that fills nothing)."""
        zero = () if any(old.version == 0 for old in self.legacy) else (Legacy(0, tuple(self.columns)),)
        return (Legacy(self.version, tuple(self.columns)), *self.legacy, *zero)


def _text(path: Path, schema: TidySchema) -> tuple[str, bool]:
    r"""The file as text, and whether a torn last character (a kill between its UTF-8 bytes) was dropped."""
    data = path.read_bytes()
    nul = data.find(b"\0")
    if nul >= 0:
        raise RecordError(path, f"holds binary data (a NUL byte at byte {nul}), not a CSV table", schema.remedy)
    try:
        return data.decode("utf-8"), False
    except UnicodeDecodeError as exc:
        if exc.end == len(data) and exc.reason == "unexpected end of data":  # the first error is the torn tail
            return data[: exc.start].decode("utf-8"), True
        raise RecordError(path, f"is not UTF-8 text (byte {exc.start}), not a CSV table", schema.remedy) from None


def _complete(path: Path, schema: TidySchema) -> tuple[str, bool]:
    r"""The file's complete records, and whether a torn last one was dropped (Note [Line breaks in a field])."""
    text, cut_tail = _text(path, schema)
    end = len(text)
    while True:
        cut = text.rfind("\n", 0, end)
        if cut < 0 or text.count('"', 0, cut) % 2 == 0:  # no newline left, or one outside quotes
            complete = text[: cut + 1]
            return complete, cut_tail or complete != text
        end = cut


def _check_schema(path: Path, schema: TidySchema, text: str, line: int, expected: int | None = None) -> None:
    r"""A row's ``schema`` field: one newer than this code reads is refused as newer; otherwise it must be empty
    or ``expected``, its header's version (``None``: not checked)."""
    text = text.strip()
    if text.isdigit() and int(text) > schema.version:
        raise NewerRecordError(path, f"line {line} has schema {text}; this urnn_zoo reads schema {schema.version} "
                                     f"and older", "upgrade urnn_zoo, or " + schema.remedy)
    if expected is not None and text and text != str(expected):
        raise RecordError(path, f"line {line}: schema {text!r} is not its header's ({expected})", schema.remedy)


def _parse(path: Path, schema: TidySchema, text: str) -> tuple[int, list[list[str]], int]:
    r"""``(schema version, data rows as text in the current columns, line number of the first data row)`` of a
    file's complete records (Note [Older schemas]; only schema-0 rows may have lost their header)."""
    try:
        rows = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise RecordError(path, f"is not a CSV table ({exc})", schema.remedy) from None
    if not rows:
        return schema.version, [], 2
    first = rows[0]
    found = next((v for v in schema.versions if v.header == first), None)
    body, start = rows[1:], 2
    if found is None:
        zero = next(v for v in schema.versions if v.version == 0)
        if len(first) == len(zero.columns) and first[0] not in schema.columns:
            found, body, start = zero, rows, 1  # rows appended after an empty file: schema 0 without a header
        elif first[-1:] == [SCHEMA_COLUMN] and len(rows) > 1 and rows[1]:
            _check_schema(path, schema, rows[1][-1], 2)  # a newer schema's columns: say so, not "damaged"
    if found is None:
        raise RecordError(path, f"has the columns {first}, expected {schema.header}", schema.remedy)
    width = len(found.header)
    for i, row in enumerate(body):
        if len(row) != width:
            raise RecordError(path, f"line {start + i} has {len(row)} fields, expected {width}", schema.remedy)
        if found.version:
            _check_schema(path, schema, row[-1], start + i, found.version)
    return found.version, [found.current(row[: len(found.columns)], schema) for row in body], start


def _convert(path: Path, schema: TidySchema, body: list[list[str]], start: int) -> dict[str, list]:
    columns: dict[str, list[Any]] = {name: [] for name in schema.columns}
    for i, row in enumerate(body):
        for name, text in zip(schema.columns, row):
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
    text, _ = _complete(path, schema)
    _, body, start = _parse(path, schema, text)
    columns = _convert(path, schema, body, start)
    return pd.DataFrame({name: pd.Series(values, dtype=schema.columns[name]) for name, values in columns.items()})


def _row_text(rows: Iterable[Sequence[Any]]) -> str:
    buf = io.StringIO(newline="")
    plain = csv.writer(buf, lineterminator="\n")
    quoted = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for row in rows:  # Note [Line breaks in a field]: a lone \r is quoted too
        (quoted if any("\r" in v for v in row if isinstance(v, str)) else plain).writerow(row)
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
    text, torn = _complete(path, schema)
    version, body, start = _parse(path, schema, text)
    if torn or version != schema.version or start != 2:
        _convert(path, schema, body, start)  # a damaged value is refused before the file is rewritten
        rewrite(path, schema, body)


def commit_rows(path: str | os.PathLike[str], schema: TidySchema, rows: Iterable[Sequence[Any]]) -> None:
    r"""Add rows (values in column order, no ``schema``) all or none: the file is repaired
    (:func:`open_for_append`) and rewritten atomically with them, so that a kill leaves either every row of
    the batch or none (for a file small enough to rewrite: ``timings.csv``, whose case's repeats belong
    together)."""
    path = Path(path)
    open_for_append(path, schema)
    # Bytes, not read_text: its universal newlines turn a quoted \r into \n (Note [Line breaks in a field]).
    text = path.read_bytes().decode("utf-8") + _row_text([*r, schema.version] for r in rows)
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
