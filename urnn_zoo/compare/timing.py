r"""Timing every cell: forward+backward seconds of a whole sequence batch, the asv suite's workload.

The workload is :mod:`urnn_zoo.workload`'s (that of ``benchmarks/bench_cells.py``, ``CellForwardBackward``):
B sequences of T steps with ``n_in`` real inputs, float32, default options except KRU's factor table
(:func:`urnn_zoo.workload.workload_options`), loss ``out.pow(2).mean()``, backward. Two warm-up calls
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
import os
import time
from pathlib import Path
from typing import Any, Iterable

from urnn_zoo import workload
from urnn_zoo.runs.environment import cpu_model
from urnn_zoo.runs.tidy import commit_rows, open_for_append
from urnn_zoo.runs.timings import TIMING_COLUMNS, TIMINGS_SCHEMA, timed_cases

__all__ = ["device_name", "pending_cases", "time_cell", "time_cells"]


def device_name(device: str) -> str:
    r"""A readable name of the device: the GPU's name, or the CPU model with its core count."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"{cpu_model()} ({os.cpu_count()} cores)"


def time_cell(cell: str, hidden: int, *, batch: int = workload.BATCH, length: int = workload.LENGTH,
              input_size: int = workload.INPUT_SIZE, device: str = "cpu", repeats: int = 3,
              seed: int = workload.SEED) -> list[float]:
    r"""Seconds of ``repeats`` forward+backward passes of ``cell`` over a (T, B, n_in) batch, after two warm-up
    calls (:mod:`urnn_zoo.workload`: its input, loss and timed call; KRU at the factors of its table).

    Raises:
        InadmissibleSizeError: the cell rejects ``hidden`` (its own message), before anything is built.

    Example::

        >>> len(time_cell("kru", 16, batch=2, length=5, repeats=2))
        2
    """
    model = workload.build_cell(cell, hidden, input_size=input_size, seed=seed, device=device)
    run = workload.forward_backward(model, workload.sequence(length, batch, input_size, seed=seed, device=device))

    def once() -> float:
        workload.synchronize(device)
        tick = time.perf_counter()
        run()
        workload.synchronize(device)
        return time.perf_counter() - tick

    once(), once()  # warm-up: first matmuls, matrix exponentials, allocator, oneDNN kernels
    return [once() for _ in range(repeats)]


def pending_cases(cases: Iterable[tuple[str, int]], file: str | os.PathLike[str], *, batch: int, length: int,
                  device: str) -> list[tuple[str, int]]:
    r"""The (cell, N) cases of ``cases`` that ``file`` does not hold yet for this workload, in timing order.

    Raises:
        urnn_zoo.runs.RecordError: ``file`` is damaged (it names the file and what to do).
    """
    done = timed_cases(file)
    return [(cell, hidden) for cell, hidden in sorted(set(cases), key=lambda c: (c[1], c[0]))
            if (cell, hidden, batch, length, device) not in done]


def time_cells(cases: Iterable[tuple[str, int]], file: str | os.PathLike[str], *, batch: int, length: int,
               input_size: int = workload.INPUT_SIZE, device: str = "cpu", repeats: int = 3, threads: int | None = None,
               log=None) -> list[dict[str, Any]]:
    r"""Time every (cell, N) of ``cases`` not yet in ``file`` (:func:`pending_cases`) and append their rows to
    it (resumable).

    Args:
        cases: (cell, hidden) pairs.
        file: the tidy timings CSV (created with a header when missing).
        batch, length, input_size: the workload. device: where to run. repeats: timed calls per case.
        threads: torch threads while timing (``None``: leave torch's setting); restored afterwards.
        log: a ``print``-like callable for progress lines (optional).

    Returns:
        The rows written by this call.
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


def _time_cases(todo: list[tuple[str, int]], file: Path, batch: int, length: int, input_size: int, device: str,
                repeats: int, log) -> list[dict[str, Any]]:
    import torch

    from urnn_zoo.cells.base import cell_class

    name, threads = device_name(device), torch.get_num_threads()
    written: list[dict[str, Any]] = []
    file.parent.mkdir(parents=True, exist_ok=True)
    open_for_append(file, TIMINGS_SCHEMA)  # repairs a file a kill left torn or headerless, migrates schema 0
    for cell, hidden in todo:
        base = dict(cell=cell, hidden=hidden, batch=batch, length=length, input_size=input_size, device=device,
                    device_name=name, dtype="float32", threads=threads, source="compare")
        try:
            cell_class(cell).check_size(hidden, **workload.workload_options(cell, hidden))  # before building
            seconds, error = time_cell(cell, hidden, batch=batch, length=length, input_size=input_size,
                                       device=device, repeats=repeats), ""
        except Exception as exc:  # InadmissibleSizeError, or a failing cell: a row that says so
            seconds, error = [math.nan], f"{type(exc).__name__}: {exc}"
        rows = [dict(base, repeat=i, seconds=s, seconds_per_sequence=s / batch, error=error)
                for i, s in enumerate(seconds)]
        commit_rows(file, TIMINGS_SCHEMA, [[row[c] for c in TIMING_COLUMNS] for row in rows])
        written.extend(rows)
        if log:
            shown = f"{min(seconds) / batch * 1e3:.3f} ms/sequence" if not error else error
            log(f"timing {cell} N={hidden}: {shown}")
    return written
