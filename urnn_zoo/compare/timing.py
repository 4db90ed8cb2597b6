r"""Timing every cell: forward+backward seconds of a whole sequence batch, the asv suite's workload.

The workload is :mod:`urnn_zoo.workload`'s (that of ``benchmarks/bench_cells.py``, ``CellForwardBackward``):
B sequences of T steps with ``n_in`` real inputs, float32, loss ``out.pow(2).mean()``, backward, of a cell
built with a case's options: each case is a (cell, N, options), the options of a run trained, or ``None`` for
the workload's (defaults except KRU's factor table, :func:`urnn_zoo.workload.workload_options`), and a case
is already timed when the file holds the same cell, N and options (Note [A timing is of a cell's options] of
:mod:`urnn_zoo.runs.timings`). Two warm-up calls
(first matmul, matrix exponential, CUDA kernels), then ``repeats`` timed calls with
:func:`time.perf_counter`, each ending with a device synchronise. Each repeat is one row of ``timings.csv``
(:mod:`urnn_zoo.runs.timings`, which owns its columns and schema); a cell that rejects the size
(:meth:`~urnn_zoo.cells.base.RecurrentCell.check_size`, asked before anything is built) or fails gets one row
with NaN seconds and the error. A case's rows are added all or none (the file is rewritten
atomically, :func:`urnn_zoo.runs.tidy.commit_rows`), so a kill loses at most the case being timed, which the
next run times again.

Timings run in the comparison's main process, alone (no training runs beside them), with torch's default
thread count, which the rows record.
"""
from __future__ import annotations

import math
import numbers
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Iterable

from urnn_zoo import workload
from urnn_zoo.runs.environment import cpu_model
from urnn_zoo.runs.tidy import commit_rows, open_for_append
from urnn_zoo.runs.timings import (TIMING_COLUMNS, TIMINGS_SCHEMA, options_key, options_text, timed_cases,
                                   timing_variant)

__all__ = ["device_name", "distinct_cases", "pending_cases", "time_cell", "time_cells"]

Case = tuple[str, int, dict[str, Any]]


def device_name(device: str) -> str:
    r"""A readable name of the device: the GPU's name, or the CPU model with its core count."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"{cpu_model()} ({os.cpu_count()} cores)"


def time_cell(cell: str, hidden: int, *, batch: int = workload.BATCH, length: int = workload.LENGTH,
              input_size: int = workload.INPUT_SIZE, device: str = "cpu", repeats: int = 3,
              seed: int = workload.SEED, options: Mapping[str, Any] | None = None) -> list[float]:
    r"""Seconds of ``repeats`` forward+backward passes of ``cell`` over a (T, B, n_in) batch, after two warm-up
    calls (:mod:`urnn_zoo.workload`: its input, loss and timed call).

    Args:
        options: the cell's options; ``None``: the workload's (KRU at the factors of its table).

    Raises:
        InadmissibleSizeError: the cell rejects ``hidden`` with these options (its own message), before
            anything is built. ValueError: an unknown option.

    Example::

        >>> len(time_cell("kru", 16, batch=2, length=5, repeats=2, options={"factors": [4, 4]}))
        2
    """
    model = workload.build_cell(cell, hidden, input_size=input_size, options=options, seed=seed, device=device)
    run = workload.forward_backward(model, workload.sequence(length, batch, input_size, seed=seed, device=device))

    def once() -> float:
        workload.synchronize(device)
        tick = time.perf_counter()
        run()
        workload.synchronize(device)
        return time.perf_counter() - tick

    once(), once()  # warm-up: first matmuls, matrix exponentials, allocator, oneDNN kernels
    return [once() for _ in range(repeats)]


def _case(case: Any) -> Case:
    r"""A (cell, N) or (cell, N, options) case as (cell, N, options), ``None`` options as the workload's.

    Raises:
        ValueError: not such a case, an unknown cell, N < 1, options that are not a dict of the cell's options.
    """
    from urnn_zoo.cells.base import cell_options

    if not isinstance(case, (tuple, list)) or len(case) not in (2, 3):
        raise ValueError(f"expected a (cell, N) or (cell, N, options) case, got {case!r}")
    cell, hidden, options = (*case, None) if len(case) == 2 else case
    accepted = cell_options(cell)  # ValueError naming the registered cells for an unknown one
    if isinstance(hidden, bool) or not isinstance(hidden, numbers.Integral) or hidden < 1:
        raise ValueError(f"{cell}: expected a hidden size N > 0, got {hidden!r}")
    options = workload.workload_options(cell, int(hidden)) if options is None else options
    options_text(options)  # ValueError: not a dict, or not JSON
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f"{cell}: expected options of {cell} ({', '.join(accepted)}), got "
                         f"{', '.join(map(repr, unknown))}")
    return cell, int(hidden), dict(options)


def distinct_cases(cases: Iterable[Any]) -> list[Case]:
    r"""The distinct (cell, N, options) cases of ``cases`` (each a (cell, N) or (cell, N, options); ``None``
    options are the workload's), in timing order: by N, cell, then the workload's options first. Cases whose
    options differ only by defaults are one (:func:`urnn_zoo.runs.timings.options_key`); the first is kept.

    Raises:
        ValueError: a malformed case (:func:`_case`), before anything is timed.
    """
    found: dict[tuple[str, int, str], Case] = {}
    for case in cases:
        cell, hidden, options = _case(case)
        found.setdefault((cell, hidden, options_key(cell, options)), (cell, hidden, options))
    workload_key = {k: options_key(k[0], workload.workload_options(k[0], k[1])) for k in found}
    return [found[k] for k in sorted(found, key=lambda k: (k[1], k[0], k[2] != workload_key[k], k[2]))]


def pending_cases(cases: Iterable[Any], file: str | os.PathLike[str], *, batch: int, length: int,
                  device: str) -> list[Case]:
    r"""The (cell, N, options) cases of ``cases`` (:func:`distinct_cases`) that ``file`` does not hold yet for
    this workload, in timing order.

    Raises:
        ValueError: a malformed case. urnn_zoo.runs.RecordError: ``file`` is damaged (it names the file and
            what to do).
    """
    todo = distinct_cases(cases)
    done = timed_cases(file)
    return [(cell, hidden, options) for cell, hidden, options in todo
            if (cell, hidden, options_key(cell, options), batch, length, device) not in done]


def time_cells(cases: Iterable[Any], file: str | os.PathLike[str], *, batch: int, length: int,
               input_size: int = workload.INPUT_SIZE, device: str = "cpu", repeats: int = 3, threads: int | None = None,
               log=None) -> list[dict[str, Any]]:
    r"""Time every (cell, N, options) of ``cases`` not yet in ``file`` (:func:`pending_cases`) and append their
    rows to it (resumable).

    Args:
        cases: (cell, hidden, options) triples (options ``None``: the workload's), or (cell, hidden) pairs for
            the workload's options.
        file: the tidy timings CSV (created with a header when missing; a file of an older schema is migrated).
        batch, length, input_size: the workload. device: where to run. repeats: timed calls per case.
        threads: torch threads while timing (``None``: leave torch's setting); restored afterwards.
        log: a ``print``-like callable for progress lines (optional); a case whose options are not the
            workload's shows them (``timing kru N=8 [factors=[2, 2, 2]]: ...``).

    Returns:
        The rows written by this call (``cell_options``: canonical JSON).

    Raises:
        ValueError: a malformed case, before any file is written.
    """
    import torch

    file = Path(file)
    todo = pending_cases(cases, file, batch=batch, length=length, device=device)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _time_cases(todo, file, batch, length, input_size, device, repeats, log)
    finally:
        torch.set_num_threads(before)


def _time_cases(todo: list[Case], file: Path, batch: int, length: int, input_size: int, device: str,
                repeats: int, log) -> list[dict[str, Any]]:
    import torch

    from urnn_zoo.cells.base import cell_class

    name, threads = device_name(device), torch.get_num_threads()
    written: list[dict[str, Any]] = []
    file.parent.mkdir(parents=True, exist_ok=True)
    open_for_append(file, TIMINGS_SCHEMA)  # repairs a file a kill left torn or headerless, migrates schemas 0, 1
    for cell, hidden, options in todo:
        base = dict(cell=cell, hidden=hidden, cell_options=options_text(options), batch=batch, length=length,
                    input_size=input_size, device=device, device_name=name, dtype="float32", threads=threads,
                    source="compare")
        try:
            cell_class(cell).check_size(hidden, **options)  # before building
            seconds, error = time_cell(cell, hidden, batch=batch, length=length, input_size=input_size,
                                       device=device, repeats=repeats, options=options), ""
        except Exception as exc:  # InadmissibleSizeError, or a failing cell: a row that says so
            seconds, error = [math.nan], f"{type(exc).__name__}: {exc}"
        rows = [dict(base, repeat=i, seconds=s, seconds_per_sequence=s / batch, error=error)
                for i, s in enumerate(seconds)]
        commit_rows(file, TIMINGS_SCHEMA, [[row[c] for c in TIMING_COLUMNS] for row in rows])
        written.extend(rows)
        if log:
            variant = timing_variant(cell, hidden, options)
            shown = f"{min(seconds) / batch * 1e3:.3f} ms/sequence" if not error else error
            log(f"timing {cell} N={hidden}{f' [{variant}]' if variant else ''}: {shown}")
    return written
