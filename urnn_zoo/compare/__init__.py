r"""``urnn-zoo compare``: every cell on a preset's tasks (equal hidden size and equal parameter budget, over
seeds), resumable and in parallel, and every cell timed (README, "urnn-zoo compare").

The output folder holds the run folders (as ``urnn-zoo train`` writes them), ``timings.csv`` (tidy, one row
per timed repeat) and ``compare.json``, the manifest: the preset, the grid (each run's cell, task, N, seed,
arms, status, error) and the timing workload (:mod:`urnn_zoo.runs` owns every file). ``urnn-zoo report
--runs`` reads all three. Ctrl-C (or SIGTERM) stops it within seconds, with every run's status recorded
(Note [Ctrl-C in a comparison] of :mod:`.execute`); the same command resumes it.

Example::

    urnn-zoo compare --preset quick --out runs/quick
    urnn-zoo compare --preset smoke --cells kru lstm --tasks copy --jobs 2 --out /tmp/smoke
"""
from __future__ import annotations

import argparse
import datetime as _dt
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from urnn_zoo import arguments as A
from urnn_zoo.runs import MANIFEST_FILE, TIMINGS_FILE, RunAction, RunStatus, folder_state, write_manifest
from urnn_zoo.runs.atomic import remove_stale_temporaries

from .execute import run_grid, run_one
from .grid import RunSpec, build_grid, fit_hidden, parameter_total
from .presets import PRESETS, CellSettings, Preset, TaskPlan, preset
from .progress import GridProgress
from .timing import pending_cases, time_cell, time_cells

__all__ = ["PRESETS", "CellSettings", "Preset", "RunSpec", "TaskPlan", "add_compare_parser", "build_grid", "compare", "fit_hidden",
           "parameter_total", "preset", "run_grid", "run_one", "time_cell", "time_cells"]


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def jobs_count(value: Any) -> int:
    r"""``--jobs``: a positive integer, or ``auto`` (or 0) for one process per core.

    Raises:
        argparse.ArgumentTypeError: anything else (``expected ..., got ...``).
    """
    if value in ("auto", 0, "0"):
        return max(1, os.cpu_count() or 1)
    try:
        return A.positive_int(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected an integer > 0 or 'auto', got {value!r}") from None


def _cells_of(cells: Sequence[str] | None) -> list[str]:
    import urnn_zoo as uz

    registered = uz.cell_names()
    if cells is None:
        return list(registered)
    if isinstance(cells, str) or not cells:
        raise ValueError(f"cells: expected a non-empty list of cell names, got {cells!r}")
    check = A.one_of(registered, "a registered cell")
    return [A.check(c, check, "cells") for c in cells]


def compare(preset_name: str | Preset = "quick", out: str | os.PathLike[str] | None = None, *,
            cells: Sequence[str] | None = None, tasks: Sequence[str] | None = None,
            seeds: Sequence[int] | None = None, jobs: int | str = 1, device: str | None = None,
            timing: bool = True, force: bool = False, quiet: bool = False, progress: str = "auto") -> dict[str, Any]:
    r"""Run a preset's grid and time every cell; write the manifest; return it.

    Every argument is validated before any folder or file is made.

    Args:
        preset_name: ``smoke``, ``quick`` or ``paper`` (:mod:`.presets`), or a :class:`Preset` of your own.
        out: output folder (default ``runs/<preset>``).
        cells: registry names (default: every registered cell).
        tasks: task names of the preset to run (default: all of them).
        seeds: seeds (default: the preset's).
        jobs: parallel training processes (> 0), or ``"auto"`` (one per core).
        device: ``cpu``, ``cuda``, ``cuda:K`` or ``auto``; default the preset's.
        timing: time every cell (at the preset's sizes and at every N the runs use).
        force: retrain every run and re-time every cell.
        quiet: no progress output. progress: ``"auto"`` (a progress bar on a terminal, a line per run and a
            heartbeat otherwise), ``"bar"``, ``"lines"`` or ``"none"``.

    Returns:
        The manifest (also written to ``out/compare.json``).

    Raises:
        ValueError: an argument out of range (``"<name>: expected ..., got ..."``).
        KeyboardInterrupt: on Ctrl-C or SIGTERM, after every run's status is recorded in the manifest (its
            ``interrupted`` is true); the same call resumes.

    Example::

        >>> manifest = compare("smoke", "/tmp/smoke", cells=["kru", "lstm"])     # doctest: +SKIP
        >>> {r["status"] for r in manifest["runs"]}                             # doctest: +SKIP
        {'finished'}
    """
    from urnn_zoo.tasks.base import task_names

    plan = preset_name if isinstance(preset_name, Preset) else preset(preset_name)
    cells = _cells_of(cells)
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
    jobs = A.check(jobs, jobs_count, "jobs")
    device = A.check(device or plan.device, A.device, "device")
    mode = A.check(progress, A.one_of(("auto", "bar", "lines", "none"), "a progress display"), "progress")
    for flag, value in (("timing", timing), ("force", force), ("quiet", quiet)):
        if not isinstance(value, bool):
            raise ValueError(f"{flag}: expected True or False, got {value!r}")
    out = A.check(out if out is not None else Path("runs") / plan.name, A.output_dir, "out")
    specs = build_grid(plan, cells, list(tasks) if tasks else None, seeds)

    out.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(out, (MANIFEST_FILE, TIMINGS_FILE))  # left by a comparison killed mid-write
    show = GridProgress(specs, "none" if quiet else mode)
    log = show.line
    start, cpu_start = time.perf_counter(), time.process_time()
    manifest: dict[str, Any] = {
        "preset": plan.name, "description": plan.description, "started": _now(), "finished": None,
        "interrupted": False, "cells": cells,
        "tasks": [tp.task for tp in plan.tasks if not tasks or tp.task in tasks],
        "seeds": list(seeds) if seeds is not None else list(plan.seeds), "device": device, "jobs": jobs,
        "timing": {"batch": plan.timing_batch, "length": plan.timing_length, "input_size": plan.timing_input,
                   "repeats": plan.timing_repeats, "hidden": list(plan.timing_hidden), "threads": plan.timing_threads,
                   "file": TIMINGS_FILE},
        "runs": [dict(asdict(s), run=s.name, status=RunStatus.PENDING if force else folder_state(out / s.name).status,
                      error=None, note=None, seconds=None, cpu_seconds=None, action=None) for s in specs],
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
            cases = {(c, n) for c in cells for n in plan.timing_hidden} | {(s.cell, s.hidden) for s in specs}
            todo = pending_cases(cases, out / TIMINGS_FILE, batch=plan.timing_batch, length=plan.timing_length,
                                 device=device)
            if todo:
                log(f"timing {len(todo)} of {len(cases)} (cell, N) cases on {device} "
                    f"({len(cases) - len(todo)} already in {TIMINGS_FILE}): B={plan.timing_batch}, "
                    f"T={plan.timing_length}, {plan.timing_threads or 'default'} torch thread(s)")
            else:
                log(f"timing: all {len(cases)} (cell, N) cases are already in {out / TIMINGS_FILE}")
            tick, cpu = time.perf_counter(), time.process_time()
            time_cells(todo, out / TIMINGS_FILE, batch=plan.timing_batch, length=plan.timing_length,
                       input_size=plan.timing_input, device=device, repeats=plan.timing_repeats,
                       threads=plan.timing_threads, log=log)
            manifest["timing"].update(seconds=round(time.perf_counter() - tick, 1),
                                      cpu_seconds=round(time.process_time() - cpu, 1))
        log(f"{len(specs)} runs ({plan.name} preset) in {out} with {jobs} process(es)")
        run_grid(specs, out, jobs=jobs, device=device, force=force, on_done=done)
    except KeyboardInterrupt as exc:
        manifest["interrupted"] = True
        for entry in manifest["runs"]:
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
    manifest["cpu_seconds"] = round(time.process_time() - cpu_start + sum(r.get("cpu_seconds") or 0 for r in
                                    manifest["runs"] if jobs > 1), 1)
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
    for entry in manifest["runs"]:
        counts[str(entry["status"])] = counts.get(str(entry["status"]), 0) + 1
    return ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))


def _main(args: argparse.Namespace) -> int:
    r"""Run ``urnn-zoo compare``; the exit status is 1 when a run failed, else 0 (Ctrl-C: 130, from the
    ``KeyboardInterrupt`` the command line turns into it)."""
    manifest = compare(args.preset, args.out, cells=args.cells, tasks=args.tasks, seeds=args.seeds, jobs=args.jobs,
                       device=args.device, timing=not args.no_timing, force=args.force, quiet=args.quiet,
                       progress=args.progress)
    failed = [r for r in manifest["runs"] if r["status"] == RunStatus.FAILED]
    for r in failed:
        print(f"urnn-zoo compare: {r['name']} failed: {r['error']}", file=sys.stderr)
    print(Path(args.out or Path("runs") / args.preset))
    return 1 if failed else 0


def add_compare_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    r"""Add the ``compare`` subcommand to the ``urnn-zoo`` parser (its ``func`` runs it, returns the status).

    Example::

        sub = parser.add_subparsers(dest="command")
        add_compare_parser(sub)
    """
    import urnn_zoo as uz
    from urnn_zoo.tasks.base import task_names

    lines = "; ".join(f"{name}: {p.description}" for name, p in PRESETS.items())
    p = subparsers.add_parser(
        "compare", help="train every cell on a preset's tasks (resumable) and time every cell",
        description=f"Run a comparison grid (equal hidden size and equal parameter budget, over seeds), "
                    f"resumably: finished runs are reused, interrupted ones resumed. Ctrl-C (or SIGTERM) stops "
                    f"it within seconds and records every run's status. Exit status 1 when a run failed. "
                    f"Presets: {lines}.")
    p.add_argument("--preset", choices=tuple(PRESETS), default="quick", help="the grid (default quick)")
    p.add_argument("--out", type=A.output_dir, default=None, help="output folder (default runs/PRESET)")
    p.add_argument("--cells", nargs="+", type=A.one_of(uz.cell_names, "a registered cell"), default=None,
                   metavar="CELL", help="cells (default: every registered cell)")
    p.add_argument("--tasks", nargs="+", type=A.one_of(task_names, "a registered task"), default=None,
                   metavar="TASK", help="tasks of the preset (default: all)")
    p.add_argument("--seeds", nargs="+", type=A.seed, default=None, metavar="SEED", help="seeds (default: the "
                                                                                          "preset's)")
    p.add_argument("--jobs", type=jobs_count, default="auto", help="parallel training processes, or 'auto' (one "
                                                                    "per core)")
    p.add_argument("--device", type=A.device, default=None, help="cpu, cuda, cuda:K or auto (default: the "
                                                                  "preset's)")
    p.add_argument("--no-timing", action="store_true", help="skip timing the cells")
    p.add_argument("--force", action="store_true", help="retrain every run and re-time every cell")
    p.add_argument("--progress", choices=("auto", "bar", "lines", "none"), default="auto",
                   help="auto: a progress bar with ETA on a terminal, a line per run and a heartbeat otherwise")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=_main)
    return p
