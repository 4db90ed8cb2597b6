r"""``urnn-zoo compare``: every cell on a preset's tasks (equal hidden size and equal parameter budget, over
seeds), resumable and in parallel, and every cell timed (README, "urnn-zoo compare").

The output folder holds the run folders (as ``urnn-zoo train`` writes them), ``timings.csv`` (tidy, one row
per timed repeat) and ``compare.json``, the manifest: the preset, the grid (each run's cell, task, N, seed,
arms, status, error, where it ran) and the timing workload (:mod:`urnn_zoo.runs` owns every file). ``urnn-zoo
report --runs`` reads all three. Ctrl-C (or SIGTERM) stops it within seconds, with every run's status recorded
(Note [Ctrl-C in a comparison] of :mod:`.execute`); the same command resumes it. The runs train in this
machine's process pool, or as SLURM jobs or Ray tasks (:mod:`.executors`, docs/cluster.md), with the same
record.

Example::

    urnn-zoo compare --preset quick --out runs/quick
    urnn-zoo compare --preset smoke --cells kru lstm --tasks copy --jobs 2 --out /tmp/smoke
    urnn-zoo compare --preset paper --executor slurm --executor-option partition=gpu
"""
from __future__ import annotations

import datetime as _dt
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

from urnn_zoo import arguments as A
from urnn_zoo.runs import (MANIFEST_FILE, TIMINGS_FILE, RunAction, RunStatus, carried_runs, folder_state,
                           own_runs, write_manifest)
from urnn_zoo.runs.atomic import remove_stale_temporaries

from .checks import cells_of, device_for, jobs_count, plugin_modules, timing_device as _timing_device
from .command import add_compare_parser
from .execute import WHERE_KEYS, run_grid, run_one
from .executors import EXECUTORS, MissingExtraError, make_executor
from .grid import RunSpec, build_grid, fit_hidden, parameter_total
from .presets import PRESETS, CellSettings, Preset, TaskPlan, preset
from .progress import GridProgress
from .timing import distinct_cases, pending_cases, time_cell, time_cells

__all__ = ["EXECUTORS", "PRESETS", "CellSettings", "MissingExtraError", "Preset", "RunSpec", "TaskPlan",
           "add_compare_parser", "build_grid", "compare", "fit_hidden", "parameter_total", "preset", "run_grid",
           "run_one", "time_cell", "time_cells"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def compare(preset_name: str | Preset = "quick", out: str | os.PathLike[str] | None = None, *,
            cells: Sequence[str] | None = None, tasks: Sequence[str] | None = None,
            seeds: Sequence[int] | None = None, jobs: int | str | None = 1, device: str | None = None,
            timing: bool = True, force: bool = False, quiet: bool = False, progress: str = "auto",
            executor: str = "local", executor_options: dict[str, Any] | None = None) -> dict[str, Any]:
    r"""Run a preset's grid and time every cell; write the manifest; return it.

    Every argument is validated before any folder or file is made (the executor's engine is imported and its
    options checked too).

    Args:
        preset_name: ``smoke``, ``quick`` or ``paper`` (:mod:`.presets`), or a :class:`Preset` of your own.
        out: output folder (default ``runs/<preset>``).
        cells: registry names (default: every registered cell).
        tasks: task names of the preset to run (default: all of them).
        seeds: seeds (default: the preset's).
        jobs: parallel training processes (> 0), or ``"auto"`` (one per core); with a cluster executor, the
            runs in flight at once (``None``: the executor's default, every run for a cluster).
        device: ``cpu``, ``cuda``, ``cuda:K`` or ``auto``; default the preset's. With a cluster executor it is
            resolved where each run trains, and the timing pass uses this machine's resolution.
        timing: time every cell (at the preset's sizes and at every N the runs use).
        force: retrain every run and re-time every cell.
        quiet: no progress output. progress: ``"auto"`` (a progress bar on a terminal, a line per run and a
            heartbeat otherwise), ``"bar"``, ``"lines"`` or ``"none"``.
        executor: ``"local"`` (this machine's process pool), ``"slurm"`` (SLURM jobs through submitit; its local
            executor where SLURM is absent) or ``"ray"`` (Ray tasks); :mod:`.executors`, docs/cluster.md.
        executor_options: the executor's options (``--executor-option``), e.g. ``{"partition": "gpu"}``.

    Returns:
        The manifest (also written to ``out/compare.json``).

    Raises:
        ValueError: an argument out of range (``"<name>: expected ..., got ..."``).
        MissingExtraError: the executor's engine (submitit, ray) is not installed: ``pip install
            'urnn_zoo[cluster]'``.
        KeyboardInterrupt: on Ctrl-C or SIGTERM, after every run's status is recorded in the manifest (its
            ``interrupted`` is true); the same call resumes.

    Example::

        >>> manifest = compare("smoke", "/tmp/smoke", cells=["kru", "lstm"])     # doctest: +SKIP
        >>> {r["status"] for r in manifest["runs"]}                             # doctest: +SKIP
        {'finished'}
    """
    from urnn_zoo.tasks.base import task_names

    plan = preset_name if isinstance(preset_name, Preset) else preset(preset_name)
    cells = cells_of(cells)
    planned = [tp.task for tp in plan.tasks]
    if tasks is not None:
        if isinstance(tasks, str) or not tasks:
            raise ValueError(f"tasks: expected a non-empty list of task names, got {tasks!r}")
        bad = sorted(set(tasks) - set(planned))
        if bad:
            hint = "" if set(bad) - set(task_names()) else f" (registered, but not in preset {plan.name!r})"
            raise ValueError(f"task(s) {bad}{hint}; preset {plan.name!r} has {', '.join(planned)}")
    if seeds is not None:
        if isinstance(seeds, (str, int)) or not seeds:
            raise ValueError(f"seeds: expected a non-empty list of seeds, got {seeds!r}")
        seeds = [A.check(s, A.seed, "seeds") for s in seeds]
    executor = A.check(executor, A.one_of(EXECUTORS, "an executor"), "executor")
    jobs = A.check(jobs, jobs_count, "jobs") if jobs is not None or executor == "local" else None
    device = device_for(executor, device or plan.device)
    mode = A.check(progress, A.one_of(("auto", "bar", "lines", "none"), "a progress display"), "progress")
    for flag, value in (("timing", timing), ("force", force), ("quiet", quiet)):
        if not isinstance(value, bool):
            raise ValueError(f"{flag}: expected True or False, got {value!r}")
    out = A.check(out if out is not None else Path("runs") / plan.name, A.output_dir, "out")
    plugin_modules(cells, list(tasks) if tasks else planned, executor)
    specs = build_grid(plan, cells, list(tasks) if tasks else None, seeds)
    timing_device = _timing_device(device) if timing and executor != "local" else device
    runner = make_executor(executor, executor_options, device=device)
    jobs = runner.in_flight(jobs or None, len(specs))
    checked = _Checked(plan, cells, list(tasks) if tasks else None, seeds, jobs, device, timing, timing_device, force,
                       quiet, mode, out, specs, executor, runner)
    runner.connect()  # an existing cluster is reached now, before anything is written
    try:
        return _compare(checked)
    finally:
        runner.disconnect()


@dataclass(frozen=True)
class _Checked:
    r"""The arguments of :func:`compare`, checked, and what they gave: the grid and the executor."""

    plan: Preset
    cells: list[str]
    tasks: list[str] | None
    seeds: list[int] | None
    jobs: int
    device: str
    timing: bool
    timing_device: str
    force: bool
    quiet: bool
    mode: str
    out: Path
    specs: list[RunSpec]
    executor: str
    runner: Any


def _compare(c: _Checked) -> dict[str, Any]:
    r"""The body of :func:`compare` once every argument is checked (and the executor connected)."""
    plan, cells, tasks, seeds, jobs, device, timing = c.plan, c.cells, c.tasks, c.seeds, c.jobs, c.device, c.timing
    timing_device, force, quiet, out, specs, executor, runner = (c.timing_device, c.force, c.quiet, c.out, c.specs,
                                                                 c.executor, c.runner)
    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out, (MANIFEST_FILE, TIMINGS_FILE))  # left by a comparison killed mid-write
    show = GridProgress(specs, "none" if quiet else c.mode)
    log = show.line
    start, cpu_start = time.perf_counter(), time.process_time()
    manifest: dict[str, Any] = {
        "preset": plan.name, "description": plan.description, "started": _now(), "finished": None,
        "interrupted": False, "cells": cells,
        "tasks": [tp.task for tp in plan.tasks if not tasks or tp.task in tasks],
        "seeds": list(seeds) if seeds is not None else list(plan.seeds), "device": device, "jobs": jobs,
        "executor": runner.record(),
        "timing": {"batch": plan.timing_batch, "length": plan.timing_length, "input_size": plan.timing_input,
                   "repeats": plan.timing_repeats, "hidden": list(plan.timing_hidden), "threads": plan.timing_threads,
                   "device": timing_device, "file": TIMINGS_FILE},
        "runs": [dict(asdict(s), run=s.name, status=RunStatus.PENDING if force else folder_state(out / s.name).status,
                      error=None, note=None, seconds=None, cpu_seconds=None, action=None, resumed_from=None,
                      **{k: None for k in WHERE_KEYS}) for s in specs]
        + carried_runs(out, plan.name, {s.name for s in specs}),  # earlier invocations' runs keep their arms
    }
    index = {s.name: i for i, s in enumerate(specs)}

    def write() -> None:
        write_manifest(out, manifest)

    def done(spec: RunSpec, outcome: dict[str, Any]) -> None:
        manifest["runs"][index[spec.name]].update(outcome)
        write()
        show.done(spec, outcome)

    previous_sigterm = _sigterm_as_ctrl_c()
    try:
        write()
        if timing:
            if force:
                (out / TIMINGS_FILE).unlink(missing_ok=True)
            # Each run's model (its cell options), and the workload's (None) at the preset's timing sizes.
            cases = distinct_cases([(c, n, None) for c in cells for n in plan.timing_hidden]
                                   + [(s.cell, s.hidden, s.cell_options) for s in specs])
            todo = pending_cases(cases, out / TIMINGS_FILE, batch=plan.timing_batch, length=plan.timing_length,
                                 device=timing_device)
            if todo:
                log(f"timing {len(todo)} of {len(cases)} (cell, N, options) cases on {timing_device} "
                    f"({len(cases) - len(todo)} already in {TIMINGS_FILE}): B={plan.timing_batch}, "
                    f"T={plan.timing_length}, {plan.timing_threads or 'default'} torch thread(s)")
            else:
                log(f"timing: all {len(cases)} (cell, N, options) cases are already in {out / TIMINGS_FILE}")
            tick, cpu = time.perf_counter(), time.process_time()
            time_cells(todo, out / TIMINGS_FILE, batch=plan.timing_batch, length=plan.timing_length,
                       input_size=plan.timing_input, device=timing_device, repeats=plan.timing_repeats,
                       threads=plan.timing_threads, log=log)
            manifest["timing"].update(seconds=round(time.perf_counter() - tick, 1),
                                      cpu_seconds=round(time.process_time() - cpu, 1))
        if executor == "local":
            log(f"{len(specs)} runs ({plan.name} preset) in {out} with {jobs} process(es)")
        else:
            log(f"{plan.name} preset in {out}: {runner.describe(len(specs), jobs)}")
        run_grid(specs, out, jobs=jobs, device=device, force=force, on_done=done, executor=runner)
    except KeyboardInterrupt as exc:
        manifest["interrupted"] = True
        for entry in own_runs(manifest):
            if entry["action"] is None:  # interrupted before the grid reached it (e.g. while timing)
                entry.update(status=folder_state(out / entry["run"]).status, action=RunAction.CANCELLED)
        manifest["seconds"] = round(time.perf_counter() - start, 1)
        write()
        show.close()
        counts = _counts(manifest)
        print(f"urnn-zoo compare: interrupted; {counts}; every status is in {out / MANIFEST_FILE}. Run the same "
              f"command again to resume (finished runs are reused).", file=sys.stderr, flush=True)
        exc.reported = True  # the command line says nothing more
        raise
    finally:
        _restore_sigterm(previous_sigterm)
    show.close()
    manifest["finished"] = _now()
    manifest["seconds"] = round(time.perf_counter() - start, 1)
    elsewhere = jobs > 1 or executor != "local"  # the runs' CPU time was spent in other processes
    manifest["cpu_seconds"] = round(time.process_time() - cpu_start + sum(r.get("cpu_seconds") or 0 for r in
                                    own_runs(manifest) if elsewhere), 1)
    write()
    if not quiet:
        print(f"compare {plan.name}: {len(specs)} runs ({_counts(manifest)}) in {manifest['seconds']:.0f} s "
              f"({manifest['cpu_seconds']:.0f} CPU seconds); manifest {out / MANIFEST_FILE}", file=sys.stderr,
              flush=True)
    return manifest


def _sigterm_as_ctrl_c() -> Any:
    r"""Let SIGTERM (what a batch scheduler or ``kill`` sends) stop a comparison as Ctrl-C does, every status
    recorded, instead of killing this process and leaving its worker processes training; returns the handler
    it replaces (``None`` outside the main thread, where no handler can be set)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return None

    def as_ctrl_c(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    return signal.signal(signal.SIGTERM, as_ctrl_c)


def _restore_sigterm(previous: Any) -> None:
    import signal

    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def _counts(manifest: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for entry in own_runs(manifest):
        counts[str(entry["status"])] = counts.get(str(entry["status"]), 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
